using System;
using System.Collections.Generic;
using System.IO;
using Ggaoed.Daemon;
using Ggaoed.Daemon.Config;
using Ggaoed.Initiator;
using Ggaoed.Storage;
using Ggaoed.Tests.Storage;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.DataPath;

/// <summary>
/// The whole data path over a veth pair between two namespaces the test creates: the daemon (in this
/// process, on its own reactor thread in the target namespace) on one end, the C# initiator on the other.
/// </summary>
[Collection(DataPathCollection.Name)]
public class DataPathTests(ITestOutputHelper output)
{
    private const int DiskSectors = 8192; // 4 MiB: small enough to model in memory and compare quickly

    [RootTheory]
    [InlineData(1500, 2)]
    [InlineData(9000, 17)]
    [InlineData(16000, 17)] // slot buffers hold 17 sectors (MTU 9000) unless a config mtu asks for more
    public void QueryConfig_AdvertisesTheSectorsThatFitTheMtu_AndFullSizeRequestsRoundTrip(int mtu, int sectors)
    {
        using var veth = new VethPair("dpm", mtu);
        using var scratch = new Scratch("mtu");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 1);
        byte[] model = File.ReadAllBytes(disk);
        var dev = new TestDevice("d", disk, 3, 4);
        using var target = Start(veth, scratch, veth.TargetIf, dev);
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);

        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 3, 4);
        Assert.Equal(sectors, t.Config.SectorCount);
        Assert.Equal((ulong)DiskSectors, t.Sectors);

        // One full-size write and its read-back, at an unaligned LBA.
        byte[] data = Scratch.Pattern(sectors * 512, seed: 99);
        client.Execute(t, 0, write: true, lba: 1001, sectors, data, Span<byte>.Empty);
        data.CopyTo(model, 1001 * 512);
        byte[] back = new byte[sectors * 512];
        client.Execute(t, 0, write: false, lba: 1001, sectors, ReadOnlySpan<byte>.Empty, back);
        Assert.Equal(data, back);

        // Many full-size requests in flight (sizes 1..sectors, most of them the maximum).
        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 16, maxSectors: sectors, seed: mtu);
        ModelResult r = load.Run(3000, TimeSpan.FromSeconds(60));
        Assert.True(r.Failures.Count == 0, r.ToString());
        Assert.Equal(3000, r.Completed);

        target.Stop();
        AssertFileEquals(model, disk);
    }

    [RootFact]
    public void SeveralDevicesOnOneInterface_EachAnswersAsItsOwnShelfSlot_WithItsOwnData()
    {
        using var veth = new VethPair("dps");
        using var scratch = new Scratch("multi");
        var devices = new[]
        {
            new TestDevice("a", scratch.CreateDisk("a.img", 2048, seed: 10), 1, 1),
            new TestDevice("b", scratch.CreateDisk("b.img", 4096, seed: 11), 1, 2),
            new TestDevice("c", scratch.CreateDisk("c.img", 1024, seed: 12), 7, 0),
        };
        var models = new Dictionary<string, byte[]>();
        foreach (TestDevice d in devices)
            models[d.Name] = File.ReadAllBytes(d.Path);
        using var target = Start(veth, scratch, veth.TargetIf, devices);
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);

        List<DiscoveredTarget> found = Initiator.Discover(client, 3);
        Assert.Equal(3, found.Count);
        foreach (TestDevice d in devices)
        {
            DiscoveredTarget t = Initiator.Find(found, d.Shelf, d.Slot);
            Assert.Equal((ulong)(models[d.Name].Length / 512), t.Sectors);
            // The first and last sectors and one in the middle come from this device's own file.
            foreach (ulong lba in new[] { 0UL, t.Sectors / 2, t.Sectors - 2 })
            {
                byte[] got = new byte[1024];
                client.Read(t, lba, got);
                Assert.True(got.AsSpan().SequenceEqual(models[d.Name].AsSpan((int)lba * 512, 1024)), $"{d.Name} LBA {lba}");
            }
        }

        // Writing to one leaves the others alone, even at the same LBA.
        DiscoveredTarget b = Initiator.Find(found, 1, 2);
        byte[] fresh = Scratch.Pattern(1024, seed: 13);
        client.Write(b, 100, fresh);
        fresh.CopyTo(models["b"], 100 * 512);
        foreach (TestDevice d in devices)
        {
            byte[] got = new byte[1024];
            client.Read(Initiator.Find(found, d.Shelf, d.Slot), 100, got);
            Assert.True(got.AsSpan().SequenceEqual(models[d.Name].AsSpan(100 * 512, 1024)), d.Name);
        }

        // Concurrent load on all three at once through the one interface, one initiator socket (and
        // thread) per device, each load checking its own device against its own model.
        var clients = new List<AoeClient>();
        var drivers = new List<System.Threading.Thread>();
        var results = new ModelResult?[devices.Length];
        try
        {
            for (int i = 0; i < devices.Length; i++)
            {
                AoeClient c = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
                clients.Add(c);
                var load = new ModelCheckedLoad([new TargetPath(c.Socket, Initiator.Find(found, devices[i].Shelf, devices[i].Slot))],
                    models[devices[i].Name], depth: 8, maxSectors: 2, seed: 14 + i);
                int index = i;
                drivers.Add(new System.Threading.Thread(() => results[index] = load.Run(1500, TimeSpan.FromSeconds(60))));
            }
            foreach (System.Threading.Thread d in drivers)
                d.Start();
            foreach (System.Threading.Thread d in drivers)
                d.Join();
        }
        finally
        {
            foreach (AoeClient c in clients)
                c.Dispose();
        }
        for (int i = 0; i < devices.Length; i++)
        {
            Assert.True(results[i]!.Failures.Count == 0, devices[i].Name + ": " + results[i]);
            Assert.Equal(1500, results[i]!.Completed);
        }

        target.Stop();
        foreach (TestDevice d in devices)
            AssertFileEquals(models[d.Name], d.Path);
    }

    [RootFact]
    public void OneDeviceOnTwoInterfaces_ServesBoth_AndTheyShowTheSameData()
    {
        using var veth = new VethPair("dp2");
        (string targetIf2, string initiatorIf2) = veth.AddLink("b", mtu: 9000);
        using var scratch = new Scratch("two");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 20);
        byte[] model = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf + "," + targetIf2, new TestDevice("d", disk, 2, 9));
        Assert.Equal(2, target.Daemon.PortCount);
        using AoeClient c1 = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        using AoeClient c2 = Initiator.Client(veth.InitiatorNs, initiatorIf2);

        DiscoveredTarget t1 = Initiator.Find(Initiator.Discover(c1, 1), 2, 9);
        DiscoveredTarget t2 = Initiator.Find(Initiator.Discover(c2, 1), 2, 9);
        // Each answer comes from the MAC of the interface the query arrived on (AOE-NOTES 0.3), and
        // advertises what fits that interface's MTU.
        Assert.False(t1.Mac.AsSpan().SequenceEqual(t2.Mac), "both interfaces answered with the same MAC");
        Assert.Equal(2, t1.Config.SectorCount);
        Assert.Equal(17, t2.Config.SectorCount);

        byte[] one = Scratch.Pattern(1024, seed: 21);
        c1.Write(t1, 500, one);
        byte[] back = new byte[1024];
        c2.Read(t2, 500, back);
        Assert.Equal(one, back);
        one.CopyTo(model, 500 * 512);

        byte[] two = Scratch.Pattern(1024, seed: 22);
        c2.Write(t2, 501, two);
        c1.Read(t1, 500, back);
        Assert.Equal(one.AsSpan(0, 512).ToArray(), back.AsSpan(0, 512).ToArray());
        Assert.Equal(two.AsSpan(0, 512).ToArray(), back.AsSpan(512, 512).ToArray());
        two.CopyTo(model, 501 * 512);

        // Interleaved concurrent traffic: every request takes one of the two paths at random, with up
        // to 2 sectors on the MTU 1500 link and up to 17 on the MTU 9000 one.
        var load = new ModelCheckedLoad([new TargetPath(c1.Socket, t1), new TargetPath(c2.Socket, t2)], model, depth: 24, maxSectors: 17, seed: 23);
        ModelResult r = load.Run(4000, TimeSpan.FromSeconds(60));
        Assert.True(r.Failures.Count == 0, r.ToString());

        target.Stop();
        AssertFileEquals(model, disk);
    }

    [RootFact]
    public void QueueLengthSaturation_DropsAndRetransmitsButAnswersEverythingUncorrupted()
    {
        using var veth = new VethPair("dpq");
        using var scratch = new Scratch("sat");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 30);
        byte[] model = File.ReadAllBytes(disk);
        // The smallest rings (a 64 KiB RX ring) make the safety cap 5 slots (ExportedDevice.SlotCount):
        // requests beyond queue-length are served up to it, and only past it dropped.
        using var target = Start(veth, scratch, veth.TargetIf, "ring-buffer-size = 128", new TestDevice("d", disk, 5, 5) { QueueLength = 4 });
        Assert.Equal(5, target.Device("d").Engine.QueueLength);
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 5, 5);
        Assert.Equal(4, t.Config.BufferCount);

        // Eight times the queue in flight: most bursts overflow the cap. A short retransmit timeout keeps
        // the run brief; dropped requests are simply sent again with a new tag.
        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 32, maxSectors: 2, seed: 31)
        {
            RetransmitTimeout = TimeSpan.FromMilliseconds(50),
            MaxAttempts = 40,
        };
        ModelResult r = load.Run(3000, TimeSpan.FromSeconds(60));
        Assert.True(r.Failures.Count == 0, r.ToString());
        Assert.Equal(3000, r.Completed);
        Assert.True(r.Retransmits > 0, r.ToString());

        target.Stop();
        ExportedDevice d = target.Device("d");
        Assert.True(d.Counters.QueueFullDrops > 0, $"QueueFullDrops = {d.Counters.QueueFullDrops}");
        Assert.Equal(0, d.Counters.ReplyDrops);
        AssertFileEquals(model, disk);
    }

    [RootFact]
    public void RequestsBeyondTheAdvertisedBufferCount_AreServed_NotDropped()
    {
        using var veth = new VethPair("dpv");
        using var scratch = new Scratch("over");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 32);
        byte[] model = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 5, 6) { QueueLength = 2 });
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 5, 6);
        Assert.Equal(2, t.Config.BufferCount);

        // One initiator keeping 16 requests in flight against an advertised 2 (as ggaoed 1.1 allowed):
        // every one is served at once. A generous retransmit timeout: only a dropped request (before:
        // the 15th of every burst of 16) makes one.
        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 16, maxSectors: 2, seed: 33)
        {
            RetransmitTimeout = TimeSpan.FromSeconds(2),
            MaxAttempts = 3,
        };
        ModelResult r = load.Run(3000, TimeSpan.FromSeconds(60));
        Assert.True(r.Failures.Count == 0, r.ToString());
        Assert.Equal(3000, r.Completed);

        target.Stop();
        ExportedDevice d = target.Device("d");
        output.WriteLine($"{r}; queue_over {d.Counters.QueueOver}, queue_full_drops {d.Counters.QueueFullDrops}, slots {d.Engine.QueueLength}");
        Assert.Equal(0, d.Counters.QueueFullDrops);
        Assert.Equal(0, r.Retransmits);
        Assert.True(d.Counters.QueueOver > 0, "no request was ever held beyond queue-length: the test did not exceed it");
        AssertFileEquals(model, disk);
    }

    [RootTheory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void ConcurrentRandomReadsAndWrites_ReturnExactlyTheModelsBytes_AndTheFileMatchesAfterStop(string engine)
    {
        using var veth = new VethPair("dpr", 9000);
        using var scratch = new Scratch("rand");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 40);
        byte[] model = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 6, 1) { IoEngine = engine });
        AssertEngine(target, "d", engine);
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 6, 1);

        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 48, maxSectors: 17, seed: 41);
        ModelResult r = load.Run(12000, TimeSpan.FromSeconds(90));
        Assert.True(r.Failures.Count == 0, r.ToString());
        Assert.Equal(12000, r.Completed);
        Assert.True(r.Reads > 3000 && r.Writes > 3000, r.ToString());

        target.Stop();
        ExportedDevice d = target.Device("d");
        Assert.True(d.Store.DirectIo, "the backing file was expected to be opened with O_DIRECT");
        Assert.Equal(0, d.Engine.Counters.Errors);
        AssertFileEquals(model, disk);
    }

    [RootTheory]
    [InlineData("ring-buffer-size = 0", 1500)]   // no rings: plain send/recv
    [InlineData("ring-buffer-size = 128", 9000)] // 64 KiB per ring: 7 jumbo frames, far fewer than requests in flight
    public void WithoutRingsOrWithTinyRings_CheckedRandomIoStillCompletes(string ringSetting, int mtu)
    {
        using var veth = new VethPair("dpf", mtu);
        using var scratch = new Scratch("ring");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 45);
        byte[] model = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf, ringSetting, new TestDevice("d", disk, 6, 2));
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 6, 2);

        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 48, maxSectors: 17, seed: 46)
        {
            RetransmitTimeout = TimeSpan.FromMilliseconds(100),
            MaxAttempts = 30,
        };
        ModelResult r = load.Run(4000, TimeSpan.FromSeconds(60));
        Assert.True(r.Failures.Count == 0, r.ToString());
        Assert.Equal(4000, r.Completed);

        target.Stop();
        ExportedDevice d = target.Device("d");
        NetworkPort port = target.Daemon.FindPort(veth.TargetIf)!;
        output.WriteLine($"{r}; device: {d.Counters.ReplyDrops} reply drops, {d.Counters.QueueFullDrops} queue-full drops; port: {port.Counters.TxFullDrops} TX-full drops, {port.Counters.DeferredReplies} deferred replies");
        // A full TX ring delays a finished request's reply; it never throws the finished work away.
        Assert.Equal(0, d.Counters.ReplyDrops);
        Assert.Equal(0, d.RepliesWaiting);
        AssertFileEquals(model, disk);
    }

    [RootTheory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void BufferedIo_ServesCheckedRandomIo_AndTheFileMatchesAfterStop(string engine)
    {
        using var veth = new VethPair("dpu", 9000);
        using var scratch = new Scratch("buffered");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 43);
        byte[] model = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 6, 4) { DirectIo = false, IoEngine = engine });
        Assert.False(target.Device("d").Store.DirectIo);
        AssertEngine(target, "d", engine);
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 6, 4);

        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 32, maxSectors: 17, seed: 44);
        ModelResult r = load.Run(4000, TimeSpan.FromSeconds(60));
        Assert.True(r.Failures.Count == 0, r.ToString());
        Assert.Equal(4000, r.Completed);

        target.Stop();
        AssertFileEquals(model, disk);
        // Both read paths were checked against the model: immediate reads into TX frames while no
        // write was outstanding, queued reads while one was.
        StorageCounters c = target.Device("d").Engine.Counters;
        output.WriteLine($"{r}; reads {c.ReadRequests}, immediate {c.ImmediateReads}, fallbacks {c.ImmediateReadFallbacks}");
        Assert.True(c.ImmediateReads > 0, "no read was served immediately");
        Assert.True(c.ReadRequests > c.ImmediateReads, "no read went through the queue");
        Assert.Equal(0, c.ImmediateReadFallbacks);
    }

    [RootTheory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void TmpfsFile_WithDirectIo_ServesReadsImmediately_AndWritesThroughTheEngine(string engine)
    {
        using var veth = new VethPair("dpm", 9000);
        using var scratch = new Scratch("tmpfs");
        string disk = "/dev/shm/ggaoed-dp-" + Environment.ProcessId + ".img";
        File.Copy(scratch.CreateDisk("d.img", DiskSectors, seed: 45), disk, overwrite: true);
        try
        {
            byte[] model = File.ReadAllBytes(disk);
            using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 6, 5) { IoEngine = engine });
            Assert.True(target.Device("d").Store.InMemory);
            AssertEngine(target, "d", engine);
            using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
            DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 6, 5);

            var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 32, maxSectors: 17, seed: 46);
            ModelResult r = load.Run(3000, TimeSpan.FromSeconds(60));
            Assert.True(r.Failures.Count == 0, r.ToString());

            target.Stop();
            AssertFileEquals(model, disk);
            StorageCounters c = target.Device("d").Engine.Counters;
            output.WriteLine($"{r}; direct {target.Device("d").Store.DirectIo}, reads {c.ReadRequests}, immediate {c.ImmediateReads}, writes {c.WriteRequests}");
            Assert.True(c.ImmediateReads > 0, "no read was served immediately");
            Assert.True(c.WriteRequests > 0 && c.IocbsSubmitted > 0);
        }
        finally
        {
            File.Delete(disk);
        }
    }

    [RootFact]
    public void BusyPoll_CatchesDiskCompletionsWithoutSleeping_AndServesCheckedIo()
    {
        using var veth = new VethPair("dpp");
        using var scratch = new Scratch("busypoll");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 47);
        byte[] model = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf, "busy-poll = 1000", new TestDevice("d", disk, 6, 6));
        Assert.True(target.Device("d").Store.DirectIo, "the test needs O_DIRECT (I/O in flight at the disk)");
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 6, 6);

        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 8, maxSectors: 2, seed: 48);
        ModelResult r = load.Run(1000, TimeSpan.FromSeconds(60));
        Assert.True(r.Failures.Count == 0, r.ToString());

        target.Stop();
        AssertFileEquals(model, disk);
        Reactor reactor = target.Daemon.Reactor;
        output.WriteLine($"{r}; busy-poll hits {reactor.BusyPollHits}, misses {reactor.BusyPollMisses}, turns {reactor.Turns}");
        Assert.True(reactor.BusyPollHits > 0, "no completion was found by polling");
    }

    [RootFact]
    public void TxRefusedByTheQdisc_IsSentOnTheNextKick_NotLost()
    {
        using var veth = new VethPair("dpt");
        using var scratch = new Scratch("qdisc");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 49);
        byte[] model = File.ReadAllBytes(disk);
        // A token bucket with room for only a few frames: bursts of replies overflow it, the qdisc
        // refuses the excess (NET_XMIT_DROP) and send() on the TX ring fails with ENOBUFS, leaving the
        // refused frame and the ones after it in the ring for the next kick.
        Sh.Run($"tc -n {veth.TargetNs} qdisc add dev {veth.TargetIf} root tbf rate 200mbit burst 4kb limit 4kb");
        using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 6, 5));
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 6, 5);

        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 32, maxSectors: 2, seed: 50)
        {
            WriteFraction = 0.2,
        };
        ModelResult r = load.Run(3000, TimeSpan.FromSeconds(60));
        string qdisc = Sh.Run($"tc -n {veth.TargetNs} -s qdisc show dev {veth.TargetIf}");
        target.Stop();
        NetworkPort port = target.Daemon.FindPort(veth.TargetIf)!;
        output.WriteLine($"{r}\nport: kicks {port.Port.Counters.Kicks}, tx errors {port.Port.Counters.TxErrors}, TX-full drops {port.Counters.TxFullDrops}\n{qdisc}");
        Assert.True(r.Failures.Count == 0, r.ToString());
        Assert.Equal(3000, r.Completed);
        var dropped = System.Text.RegularExpressions.Regex.Match(qdisc, @"dropped (\d+)");
        Assert.True(dropped.Success && long.Parse(dropped.Groups[1].Value) > 0, "the qdisc never refused a frame:\n" + qdisc);
        // Refused frames stay in the TX ring and EPOLLOUT brings the next kick at once: nothing waits
        // for the initiator to retransmit (a few retransmits may come from a stall of this busy machine;
        // replies stuck until a retransmit would show as one per request refused).
        Assert.True(r.Retransmits <= 64, "replies waited for a retransmit to be kicked out: " + r);
        AssertFileEquals(model, disk);
    }

    [RootTheory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void StopUnderLoad_DrainsWhatWasTaken_AndEveryAnsweredWriteIsInTheFile(string engine)
    {
        using var veth = new VethPair("dpx");
        using var scratch = new Scratch("stop");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 47);
        byte[] model = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 6, 3) { IoEngine = engine });
        AssertEngine(target, "d", engine);
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 6, 3);

        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 32, maxSectors: 2, seed: 48) { WriteFraction = 0.8 };
        ModelResult? r = null;
        var driver = new System.Threading.Thread(() => r = load.Run(int.MaxValue, TimeSpan.FromSeconds(60)));
        driver.Start();
        System.Threading.Thread.Sleep(700);
        target.Stop(); // graceful: stops taking requests, answers the ones in flight, fdatasync
        load.RequestStop();
        driver.Join();

        Assert.True(r!.Failures.Count == 0, r.ToString());
        Assert.True(r.Writes > 100, r.ToString());
        ExportedDevice d = target.Device("d");
        output.WriteLine($"{r}; device: {d.Counters.ReplyDrops} reply drops, queue depth after stop {d.Engine.QueueDepth}");
        Assert.Equal(0, d.Engine.QueueDepth);
        Assert.Equal(0, d.Counters.ReplyDrops);

        // Answered writes must all be there; an unanswered one may or may not have happened (per sector).
        byte[] actual = File.ReadAllBytes(disk);
        foreach ((long lba, byte[] before, byte[] after) in load.AbandonedWrites)
        {
            for (int i = 0; i < after.Length; i += 512)
            {
                Span<byte> sector = actual.AsSpan((int)(lba * 512) + i, 512);
                Assert.True(sector.SequenceEqual(before.AsSpan(i, 512)) || sector.SequenceEqual(after.AsSpan(i, 512)),
                    $"LBA {lba + i / 512}: neither the data before nor after an unanswered write");
                sector.CopyTo(model.AsSpan((int)(lba * 512) + i, 512));
            }
        }
        AssertFileEquals(model, disk);
    }

    [RootTheory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void KernelIoErrors_AreAnsweredWithAtaErrors_AndEverythingElseKeepsWorking(string engine)
    {
        using var veth = new VethPair("dpi");
        using var scratch = new Scratch("eio");
        // A 4 MiB sparse file on a 256 KiB tmpfs: writes fail with ENOSPC once 64 pages are used.
        string mount = scratch.PathOf("small");
        Directory.CreateDirectory(mount);
        Sh.Run($"mount -t tmpfs -o size=256k ggaoed-dp-test {mount}");
        try
        {
            string full = Path.Combine(mount, "sparse.img");
            using (FileStream f = File.Create(full))
                f.SetLength(DiskSectors * 512);
            string okDisk = scratch.CreateDisk("ok.img", 2048, seed: 55);
            byte[] okModel = File.ReadAllBytes(okDisk);
            using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("full", full, 12, 1) { IoEngine = engine }, new TestDevice("ok", okDisk, 12, 2) { IoEngine = engine });
            AssertEngine(target, "full", engine);
            using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
            List<DiscoveredTarget> found = Initiator.Discover(client, 2);
            DiscoveredTarget tf = Initiator.Find(found, 12, 1);
            DiscoveredTarget tok = Initiator.Find(found, 12, 2);

            byte[] data = Scratch.Pattern(1024, seed: 56);
            AtaErrorException? error = null;
            ulong lba = 0;
            for (; lba + 2 <= DiskSectors && error == null; lba += 8) // one new 4 KiB page per request
            {
                try
                {
                    client.Write(tf, lba, data);
                }
                catch (AtaErrorException e)
                {
                    error = e;
                }
            }
            Assert.NotNull(error);
            Assert.NotEqual(0, error!.Status & AoeWire.AtaStatusError);
            Assert.True(lba < DiskSectors / 2, $"the first error came only at LBA {lba}");

            // The same device still answers reads, including of what it did write...
            byte[] back = new byte[1024];
            client.Read(tf, 0, back);
            Assert.Equal(data, back);
            // ...and the other device is untouched by it.
            byte[] fresh = Scratch.Pattern(1024, seed: 57);
            client.Write(tok, 7, fresh);
            fresh.CopyTo(okModel, 7 * 512);
            client.Read(tok, 0, back);
            Assert.True(back.AsSpan().SequenceEqual(okModel.AsSpan(0, 1024)));

            target.Stop();
            Assert.True(target.Device("full").Counters.IoErrors > 0);
            Assert.Equal(0, target.Device("ok").Counters.IoErrors);
            AssertFileEquals(okModel, okDisk);
        }
        finally
        {
            Sh.Run($"umount {mount}", check: false);
        }
    }

    [RootFact]
    public void LoopBlockDevice_IsSizedFromTheDevice_AndServesCheckedRandomIo()
    {
        using var veth = new VethPair("dpl");
        using var scratch = new Scratch("loop");
        string backing = scratch.CreateDisk("loop.img", DiskSectors, seed: 58);
        byte[] model = File.ReadAllBytes(backing);
        string loop = Sh.Run($"losetup --find --show {backing}").Trim();
        try
        {
            using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("blk", loop, 13, 1));
            Assert.True(target.Device("blk").Store.IsBlockDevice);
            using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
            DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 13, 1);
            Assert.Equal((ulong)DiskSectors, t.Sectors);

            var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 32, maxSectors: 2, seed: 59);
            ModelResult r = load.Run(3000, TimeSpan.FromSeconds(60));
            Assert.True(r.Failures.Count == 0, r.ToString());
            Assert.Equal(3000, r.Completed);
            target.Stop();
        }
        finally
        {
            Sh.Run($"losetup -d {loop}", check: false);
        }
        AssertFileEquals(model, backing);
    }

    [RootFact]
    public void ReloadUnderLoad_ReopensAChangedDevice_AddsANewOne_AndLosesNoData()
    {
        using var veth = new VethPair("dpy");
        using var scratch = new Scratch("reload");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 65);
        string other = scratch.CreateDisk("e.img", 1024, seed: 66);
        byte[] model = File.ReadAllBytes(disk);
        var d = new TestDevice("d", disk, 14, 1);
        using var target = Start(veth, scratch, veth.TargetIf, d);
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 14, 1);
        Assert.Equal(64, t.Config.BufferCount);

        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 16, maxSectors: 2, seed: 67);
        ModelResult? r = null;
        var driver = new System.Threading.Thread(() => r = load.Run(int.MaxValue, TimeSpan.FromSeconds(60)));
        using var reloaded = new System.Threading.ManualResetEventSlim();
        Log.Observer = (_, message) =>
        {
            if (message.StartsWith("configuration reloaded", StringComparison.Ordinal))
                reloaded.Set();
        };
        try
        {
            driver.Start();
            System.Threading.Thread.Sleep(200);
            // A new queue length needs the device reopened: the old one finishes its in-flight I/O while
            // the new one takes the requests that follow.
            File.WriteAllText(scratch.PathOf("ggaoed.conf"),
                TestConfig.Text(scratch, veth.TargetIf, [d with { QueueLength = 32 }, new TestDevice("e", other, 14, 2)]));
            target.Daemon.RequestReload();
            Assert.True(reloaded.Wait(TimeSpan.FromSeconds(10)), "no reload within 10 s");
            System.Threading.Thread.Sleep(200);
        }
        finally
        {
            Log.Observer = null;
            load.RequestStop();
            driver.Join();
        }
        // Everything sent was answered, before and after the reload.
        Assert.True(r!.Failures.Count == 0 && r.Abandoned == 0, r.ToString());
        Assert.True(r.Completed > 1000, r.ToString());

        List<DiscoveredTarget> found = Initiator.Discover(client, 2);
        Assert.Equal(32, Initiator.Find(found, 14, 1).Config.BufferCount);
        byte[] back = new byte[1024];
        client.Read(Initiator.Find(found, 14, 2), 0, back);
        Assert.True(back.AsSpan().SequenceEqual(File.ReadAllBytes(other).AsSpan(0, 1024)));

        target.Stop();
        AssertFileEquals(model, disk);
    }

    [RootFact]
    public void AccessPastTheLastLba_IsAnAtaError_AndTouchesNothing()
    {
        using var veth = new VethPair("dpe");
        using var scratch = new Scratch("end");
        const int sectors = 1000;
        string disk = scratch.CreateDisk("d.img", sectors, seed: 50);
        byte[] before = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 8, 8));
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 8, 8);

        byte[] two = Scratch.Pattern(1024, seed: 51);
        // Straddling the end, wholly past it, and far past it: all refused, nothing written.
        foreach (ulong lba in new ulong[] { sectors - 1, sectors, sectors + 12345 })
        {
            var w = Assert.Throws<AtaErrorException>(() => client.Execute(t, 0, write: true, lba, 2, two, Span<byte>.Empty));
            Assert.NotEqual(0, w.Status & AoeWire.AtaStatusError);
            var rd = Assert.Throws<AtaErrorException>(() => client.Execute(t, 0, write: false, lba, 2, ReadOnlySpan<byte>.Empty, new byte[1024]));
            Assert.NotEqual(0, rd.Status & AoeWire.AtaStatusError);
        }
        // The last two sectors themselves are fine.
        byte[] last = new byte[1024];
        client.Execute(t, 0, write: false, sectors - 2, 2, ReadOnlySpan<byte>.Empty, last);
        Assert.True(last.AsSpan().SequenceEqual(before.AsSpan((sectors - 2) * 512, 1024)));

        target.Stop();
        AssertFileEquals(before, disk);
        Assert.Equal((long)sectors * 512, new FileInfo(disk).Length);
    }

    [RootFact]
    public void ReadOnlyDevice_RefusesWrites_AndKeepsServingReads()
    {
        using var veth = new VethPair("dpo");
        using var scratch = new Scratch("ro");
        string disk = scratch.CreateDisk("d.img", 2048, seed: 60);
        byte[] before = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 9, 1) { ReadOnly = true });
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 9, 1);

        var e = Assert.Throws<AtaErrorException>(() => client.Write(t, 10, Scratch.Pattern(1024, seed: 61)));
        Assert.NotEqual(0, e.Status & AoeWire.AtaStatusError);
        byte[] got = new byte[1024];
        client.Read(t, 10, got);
        Assert.True(got.AsSpan().SequenceEqual(before.AsSpan(10 * 512, 1024)));

        target.Stop();
        AssertFileEquals(before, disk);
    }

    [RootTheory]
    [EngineData(RealEngines.Aio, 0.0)]      // submit at the end of the loop turn
    [EngineData(RealEngines.Aio, 0.002)]    // hold for 2 ms on the timerfd to gather more
    [EngineData(RealEngines.Uring, 0.0)]
    [EngineData(RealEngines.Uring, 0.002)]
    public void MergedSequentialReadsAndWrites_EachRequestGetsItsOwnBytes(string engine, double mergeDelay)
    {
        using var veth = new VethPair("dpk", 9000);
        using var scratch = new Scratch("mergecheck");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 75);
        byte[] model = File.ReadAllBytes(disk);
        using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 4, 3) { MergeDelay = mergeDelay, IoEngine = engine });
        AssertEngine(target, "d", engine);
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 4, 3);

        // Runs of 24 sequential requests of one direction, 1..17 sectors each, 32 in flight: merged
        // PREADV/PWRITEV with iovecs of different lengths. Reads check every byte, so a read scattered
        // into the wrong slot or a write gathered from the wrong one shows.
        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 32, maxSectors: 17, seed: 76) { SequentialRunLength = 24 };
        ModelResult r = load.Run(6000, TimeSpan.FromSeconds(60));
        Assert.True(r.Failures.Count == 0, r.ToString());
        Assert.Equal(6000, r.Completed);

        target.Stop();
        ExportedDevice d = target.Device("d");
        output.WriteLine($"{r}; {d.Engine.Counters.MergedRequests} merged requests, {d.Engine.Counters.IocbsSubmitted} kernel ops, {d.Engine.Counters.SubmitCalls} submit calls");
        Assert.True(d.Engine.Counters.MergedRequests > 0, "nothing was merged");
        AssertFileEquals(model, disk);
    }

    [RootFact]
    public void SequentialWritesAtDepth16_AreMergedIntoFewerIocbs()
    {
        using var veth = new VethPair("dpg");
        using var scratch = new Scratch("merge");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 70);
        using var target = Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 4, 2));
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 4, 2);

        var pipeline = new AoePipeline(client.Socket, t, depth: 16, sectors: 2, BenchPattern.SeqWrite, 0, DiskSectors);
        PipelineResult r = pipeline.Run(TimeSpan.FromSeconds(20), maxRequests: 8000);
        Assert.Equal(0, r.Errors);
        Assert.Equal(8000, r.Completed);

        target.Stop();
        ExportedDevice d = target.Device("d");
        Assert.True(d.Engine.Counters.MergedRequests > 0,
            $"no merges: {d.Engine.Counters.IocbsSubmitted} iocbs in {d.Engine.Counters.SubmitCalls} io_submit calls for {d.Engine.Counters.WriteRequests} writes");
        Assert.True(d.Engine.Counters.IocbsSubmitted < d.Engine.Counters.WriteRequests);
    }

    [RootFact]
    public void PublishedBinary_InTheTargetNamespace_ServesCheckedRandomIo_AndStopsCleanlyOnSigterm()
    {
        using var veth = new VethPair("dpb");
        using var scratch = new Scratch("bin");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 80);
        byte[] model = File.ReadAllBytes(disk);
        string conf = scratch.PathOf("ggaoed.conf");
        File.WriteAllText(conf, TestConfig.Text(scratch, veth.TargetIf, [new TestDevice("d", disk, 10, 3)]));
        using var target = new BinaryTarget(veth.TargetNs, conf, scratch.PathOf("ggaoed.sock"));
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 10, 3);

        var load = new ModelCheckedLoad([new TargetPath(client.Socket, t)], model, depth: 32, maxSectors: 2, seed: 81);
        ModelResult r = load.Run(5000, TimeSpan.FromSeconds(60));
        Assert.True(r.Failures.Count == 0, r.ToString() + "\n" + target.Output);

        Assert.Equal(0, target.Stop());
        AssertFileEquals(model, disk);
        Assert.False(File.Exists(scratch.PathOf("ggaoed.pid")), "pid file left behind:\n" + target.Output);
    }

    internal static InProcessTarget Start(VethPair veth, Scratch scratch, string interfaces, params TestDevice[] devices)
        => Start(veth, scratch, interfaces, "", devices);

    internal static InProcessTarget Start(VethPair veth, Scratch scratch, string interfaces, string extraDefaults, params TestDevice[] devices)
    {
        string file = scratch.PathOf("ggaoed.conf");
        string text = TestConfig.Text(scratch, interfaces, devices, extraDefaults: extraDefaults);
        File.WriteAllText(file, text);
        GgaoedConfig config = TestConfig.Load(text, file);
        return new InProcessTarget(veth.TargetNs, config);
    }

    internal static void AssertEngine(InProcessTarget target, string device, string engine)
        => Assert.Equal(engine, EngineChoice.Name(target.Device(device).Engine.Kind));

    internal static void AssertFileEquals(byte[] model, string path)
    {
        byte[] actual = File.ReadAllBytes(path);
        Assert.Equal(model.Length, actual.Length);
        int same = actual.AsSpan().CommonPrefixLength(model);
        Assert.True(same == model.Length, $"{path} differs from the model at byte {same} (LBA {same / 512})");
    }
}

/// <summary>
/// The data-path tests run one at a time and apart from every other collection (xunit runs a collection
/// with DisableParallelization alone, after the parallel ones): each keeps a CPU busy, retransmit
/// timeouts should not depend on what else runs, and the zero-allocation test asserts that no gen-0 GC
/// happens, which counts the whole process.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DataPathCollection
{
    public const string Name = "DataPath";
}
