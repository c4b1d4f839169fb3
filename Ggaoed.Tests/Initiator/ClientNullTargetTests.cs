using System;
using System.Collections.Generic;
using Ggaoed.Ctl;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Initiator;

/// <summary>The client and the null target over a veth pair between two private namespaces.</summary>
[Collection(SerialCollection.Name)]
public sealed class ClientNullTargetTests
{
    private const ulong Sectors = 1 << 21; // 1 GiB

    /// <summary>A null target in the target namespace and a client in the initiator namespace.</summary>
    private sealed class Rig : IDisposable
    {
        public readonly VethPair Pair;
        public readonly NullTarget Target;
        public readonly AoeClient Client;

        public Rig(int mtu = 9000, int dropFirst = 0, ushort shelf = 7, byte slot = 3, bool lba48 = true, ulong sectors = Sectors)
        {
            Pair = new VethPair("in", mtu);
            try
            {
                string tif = Pair.TargetIf;
                Target = InNetNs.Run(Pair.TargetNs, () => new NullTarget(PacketSocket.Open(tif), shelf, slot, sectors) { DropFirst = dropFirst, Lba48 = lba48 });
                Target.ConfigString = "null-cfg";
                Target.Start();
                string iif = Pair.InitiatorIf;
                Client = InNetNs.Run(Pair.InitiatorNs, () => new AoeClient(iif));
            }
            catch
            {
                Target?.Dispose();
                Pair.Dispose();
                throw;
            }
        }

        /// <summary>Retransmits the client counted before the test's own requests (discovery's IDENTIFY may have some).</summary>
        public long RetransmitsBefore;

        /// <summary>
        /// Discovers the one target, asking again if a query went unanswered (the target is a thread
        /// of this process; on a loaded machine it may not run within one window).
        /// </summary>
        public DiscoveredTarget DiscoverOne(ushort shelf = AoeWire.BroadcastShelf)
        {
            List<DiscoveredTarget> found = Client.DiscoverUntil(f => f.Count > 0, TimeSpan.FromMilliseconds(300), shelf);
            RetransmitsBefore = Client.Retransmits;
            return Assert.Single(found);
        }

        /// <summary>Retransmits since <see cref="DiscoverOne"/>.</summary>
        public long NewRetransmits => Client.Retransmits - RetransmitsBefore;

        public void Dispose()
        {
            Client?.Dispose();
            Target?.Dispose();
            Pair.Dispose();
        }
    }

    [RootFact]
    public void Discover_FindsNullTarget_WithItsAddressMacConfigAndSize()
    {
        using var rig = new Rig();
        DiscoveredTarget t = rig.DiscoverOne();
        Assert.Equal(7, t.Shelf);
        Assert.Equal(3, t.Slot);
        Assert.Equal(rig.Target.BufferCount, t.Config.BufferCount);
        Assert.Equal("null-cfg"u8.ToArray(), t.Config.ConfigString);
        Assert.Equal(17, t.Config.SectorCount); // (9000 - 36) / 512
        Assert.Equal(17, t.MaxSectorsPerFrame(rig.Client.Mtu));
        Assert.NotNull(t.Identify);
        Assert.Equal(Sectors, t.Sectors);
        Assert.True(t.Lba48);
        Assert.Equal("ggaoed null target", t.Identify!.Model);
        string mac = Sh.Run($"ip -n {rig.Pair.TargetNs} -br link show {rig.Pair.TargetIf}");
        Assert.Contains(DiscoveredTarget.FormatMac(t.Mac), mac);
    }

    [RootFact]
    public void Discover_AddressedToAnotherShelf_FindsNothing()
    {
        using var rig = new Rig();
        Assert.Equal(7, rig.DiscoverOne(shelf: 7).Shelf); // the target is up and answers its own shelf
        Assert.Empty(rig.Client.Discover(TimeSpan.FromMilliseconds(300), shelf: 8, slot: 0xFF));
    }

    [RootFact]
    public void ReadsReturnZeros_WritesAreAcknowledged_AcrossFrames()
    {
        using var rig = new Rig(mtu: 1500);
        DiscoveredTarget t = rig.DiscoverOne();
        // Long enough that only a lost frame could cause a retransmit, never a slow thread.
        rig.Client.RequestTimeout = TimeSpan.FromSeconds(10);
        Assert.Equal(2, t.MaxSectorsPerFrame(rig.Client.Mtu));
        byte[] data = new byte[7 * 512];
        Random.Shared.NextBytes(data);
        rig.Client.Write(t, 1000, data); // 4 frames: 2+2+2+1
        rig.Client.Read(t, 1000, data);
        Assert.All(data, b => Assert.Equal(0, b));
        Assert.Equal(0, rig.NewRetransmits);
    }

    [RootFact]
    public void Lba48Target_GetsCommands24And34_WithTheFullLba()
    {
        using var rig = new Rig(sectors: 1UL << 40); // 512 TiB: nothing is stored
        DiscoveredTarget t = rig.DiscoverOne();
        Assert.Equal(1UL << 40, t.Sectors);
        rig.Client.Write(t, 0x12_3456_789AUL, new byte[512]);
        Assert.Equal((0x34, 0x12_3456_789AUL, 1), ((int)rig.Target.LastAta.Command, rig.Target.LastAta.Lba, (int)rig.Target.LastAta.Sectors));
        rig.Client.Read(t, 5, new byte[3 * 512]);
        Assert.Equal((0x24, 5UL, 3), ((int)rig.Target.LastAta.Command, rig.Target.LastAta.Lba, (int)rig.Target.LastAta.Sectors));
    }

    [RootFact]
    public void Lba28Target_GetsCommands20And30_AndItsLbaSurvivesTheDeviceNibble()
    {
        using var rig = new Rig(lba48: false, sectors: 0x0FFF_FFFF); // the LBA28 maximum
        DiscoveredTarget t = rig.DiscoverOne();
        Assert.False(t.Lba48);
        Assert.Equal(0x0FFF_FFFFUL, t.Sectors); // words 60-61
        // Bits 24-27 travel in lba3's low nibble under the 0xE0 device bits.
        rig.Client.Write(t, 0x0ABC_DEF0, new byte[1024]);
        Assert.Equal((0x30, 0x0ABC_DEF0UL, 2), ((int)rig.Target.LastAta.Command, rig.Target.LastAta.Lba, (int)rig.Target.LastAta.Sectors));
        rig.Client.Read(t, 0x001F_FFFE, new byte[1024]);
        Assert.Equal((0x20, 0x001F_FFFEUL, 2), ((int)rig.Target.LastAta.Command, rig.Target.LastAta.Lba, (int)rig.Target.LastAta.Sectors));
    }

    [RootFact]
    public void ReadPastTheEnd_IsAnAtaError_WithIdnf()
    {
        using var rig = new Rig();
        DiscoveredTarget t = rig.DiscoverOne();
        byte[] buf = new byte[1024];
        rig.Client.Read(t, Sectors - 2, buf);
        AtaErrorException e = Assert.Throws<AtaErrorException>(() => rig.Client.Read(t, Sectors - 1, buf));
        Assert.Equal(0x41, e.Status);
        Assert.Equal(0x10, e.Error);
    }

    [RootFact]
    public void DroppedFirstResponses_AreRetransmittedWithNewTags_AndTheRequestSucceeds()
    {
        using var rig = new Rig(dropFirst: 0);
        DiscoveredTarget t = rig.DiscoverOne();
        rig.Target.DropFirst = 2;
        // 0.3 s, then 0.6 s for the dropped attempts; the answered third one has 1.2 s.
        rig.Client.RequestTimeout = TimeSpan.FromMilliseconds(300);
        byte[] buf = new byte[512];
        rig.Client.Read(t, 0, buf);
        Assert.Equal(2, rig.NewRetransmits);
        Assert.Equal(2, rig.Target.Dropped);
    }

    [RootFact]
    public void NoAnswerAtAll_TimesOutAfterMaxAttempts()
    {
        using var rig = new Rig();
        DiscoveredTarget t = rig.DiscoverOne();
        rig.Target.DropFirst = 1000;
        rig.Client.RequestTimeout = TimeSpan.FromMilliseconds(20);
        rig.Client.MaxAttempts = 3;
        Assert.Throws<AoeTimeoutException>(() => rig.Client.Read(t, 0, new byte[512]));
        Assert.Equal(2, rig.NewRetransmits);
    }

    [RootFact]
    public void Pipeline_RetransmitsDroppedRequests_AndCompletesAll()
    {
        using var rig = new Rig();
        DiscoveredTarget t = rig.DiscoverOne();
        rig.Target.DropFirst = 3;
        var pipe = new AoePipeline(rig.Client.Socket, t, depth: 8, sectors: 17, BenchPattern.RandRead, 0, t.Sectors)
        {
            // Long enough that only the dropped requests time out, never one the target is slow to answer.
            RetransmitTimeout = TimeSpan.FromSeconds(1),
        };
        PipelineResult r = pipe.Run(TimeSpan.FromSeconds(30), maxRequests: 200);
        Assert.Equal(200, r.Completed);
        Assert.Equal(0, r.Errors);
        Assert.Equal(3, rig.Target.Dropped);
        Assert.Equal(3, r.Retransmits);
        Assert.Equal(200, pipe.Histogram.Count);
    }

    [RootTheory]
    [InlineData(BenchPattern.RandRead, false)]
    [InlineData(BenchPattern.SeqWrite, false)]
    [InlineData(BenchPattern.RandRead, true)]
    public void Pipeline_SteadyState_AllocatesNothing(BenchPattern pattern, bool spin)
    {
        using var rig = new Rig();
        DiscoveredTarget t = rig.DiscoverOne();
        var pipe = new AoePipeline(rig.Client.Socket, t, depth: 16, sectors: 8, pattern, 0, t.Sectors) { Spin = spin };
        pipe.Run(TimeSpan.FromSeconds(30), maxRequests: 5_000); // warm-up: JIT, first-call stubs
        long before = GC.GetAllocatedBytesForCurrentThread();
        PipelineResult r = pipe.Run(TimeSpan.FromSeconds(60), maxRequests: 20_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(20_000, r.Completed);
        Assert.Equal(0, r.Errors);
        Assert.True(allocated < 1024, $"the request loop allocated {allocated} bytes over 20k requests");
    }

    [RootFact]
    public void DiscoverCommand_PrintsTheTargetRow()
    {
        using var rig = new Rig();
        List<DiscoveredTarget> found = [rig.DiscoverOne()];
        string table = DiscoverCommand.FormatTable(found, rig.Client.Mtu);
        Assert.Matches(@"\n7\.3\s+[0-9a-f:]{17}\s+1\.0 GiB\s+17\s+64\s+0x0200\s+null-cfg\n", table);
    }
}
