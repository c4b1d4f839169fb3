using System;
using System.IO;
using Ggaoed.Daemon;
using Ggaoed.Daemon.Config;
using Ggaoed.Initiator;
using Ggaoed.Tests.Storage;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.DataPath;

/// <summary>
/// Each way a size reaches the daemon, on its own: the periodic check is set to an hour (on the reactor
/// thread, after Start), so what changes can only come from the path under test. A loop device grown
/// with truncate + losetup -c is seen with no reload (its "change" uevent); a reload re-reads a file's
/// size; and a file shrunk behind the daemon's back, before anything re-read it, answers a read past
/// its new end with IDNF, from the short read itself (the bounds check still has the old size).
/// </summary>
[Collection(DataPathCollection.Name)]
public sealed class SizeFollowTests
{
    private const int Sector = 512;
    private const long Hour = 3600L * 1_000_000_000;

    private static InProcessTarget Start(VethPair veth, Scratch scratch, params TestDevice[] devices)
    {
        string file = scratch.PathOf("ggaoed.conf");
        string text = TestConfig.Text(scratch, veth.TargetIf, devices);
        File.WriteAllText(file, text);
        GgaoedConfig config = TestConfig.Load(text, file);
        return new InProcessTarget(veth.TargetNs, config, d => d.SizeCheckIntervalNanos = Hour);
    }

    /// <summary>IDENTIFY until it reports <paramref name="sectors"/> (the daemon applies a size on its own thread).</summary>
    private static void WaitForSize(AoeClient client, DiscoveredTarget t, ulong sectors, string what)
    {
        long deadline = Environment.TickCount64 + 10_000;
        ulong seen;
        while ((seen = client.Identify(t).Sectors) != sectors)
        {
            Assert.True(Environment.TickCount64 < deadline, $"{what}: IDENTIFY still says {seen} sectors after 10 s, expected {sectors}");
            System.Threading.Thread.Sleep(20);
        }
    }

    [RootFact]
    public void LoopDeviceGrownWithLosetup_IsSeenWithoutAReload_FromItsUevent()
    {
        using var veth = new VethPair("szl");
        using var scratch = new Scratch("szl");
        using var loop = new LoopImage(4 << 20);
        using InProcessTarget target = Start(veth, scratch, new TestDevice("blk", loop.Device, 13, 2));
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 13, 2);
        Assert.Equal(8192UL, t.Sectors);

        loop.Resize(8 << 20);
        WaitForSize(client, t, 16384, "after losetup -c");
        client.Read(t, 12000, new byte[Sector]); // in the new part
        ExportedDevice d = target.Device("blk");
        Assert.Equal(16384UL, d.Engine.DeviceSectors);

        loop.Resize(6 << 20);
        WaitForSize(client, t, 12288, "after shrinking");
        var e = Assert.Throws<AtaErrorException>(() => client.Read(t, 12288, new byte[Sector]));
        Assert.Equal(0x10, e.Error);
    }

    [RootFact]
    public void Reload_ReReadsTheSizeOfAFileThatGrew()
    {
        using var veth = new VethPair("szr");
        using var scratch = new Scratch("szr");
        string disk = scratch.CreateDisk("d.img", 2048, seed: 71);
        using InProcessTarget target = Start(veth, scratch, new TestDevice("d", disk, 13, 3));
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 13, 3);

        using (var f = new FileStream(disk, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            f.SetLength(4096 * Sector);
        System.Threading.Thread.Sleep(500);
        Assert.Equal(2048UL, client.Identify(t).Sectors); // nothing re-reads it by itself within the hour
        target.Daemon.RequestReload();
        WaitForSize(client, t, 4096, "after the reload");
        client.Read(t, 4095, new byte[Sector]);
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void FileShrunkBehindTheDaemon_ReadPastTheNewEnd_IsIdnfFromTheShortRead(bool directIo)
    {
        using var veth = new VethPair("szs");
        using var scratch = new Scratch("szs");
        string disk = scratch.CreateDisk("d.img", 2048, seed: 72);
        using InProcessTarget target = Start(veth, scratch, new TestDevice("d", disk, 13, 4) { DirectIo = directIo });
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 13, 4);

        using (var f = new FileStream(disk, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            f.SetLength(1024 * Sector);
        // Still 2048 sectors to the bounds check: the read reaches the store and comes back short.
        Assert.Equal(2048UL, client.Identify(t).Sectors);
        client.Read(t, 1023, new byte[Sector]);
        var e = Assert.Throws<AtaErrorException>(() => client.Read(t, 1500, new byte[Sector]));
        Assert.Equal(0x10, e.Error); // IDNF, not UNC (0x40)
        // Two sectors, the second past the end: the request is not all there, IDNF too.
        e = Assert.Throws<AtaErrorException>(() => client.Read(t, 1023, new byte[2 * Sector]));
        Assert.Equal(0x10, e.Error);
        ExportedDevice d = target.Device("d");
        Assert.Equal(2, d.Target.Counters.AtaErrorIdnf);
        Assert.Equal(0, d.Target.Counters.AtaErrorUnc);
    }
}
