using System;
using System.IO;
using System.Threading;
using Ggaoed.Daemon;
using Ggaoed.Initiator;
using Ggaoed.Tests.DataPath;
using Ggaoed.Tests.Support;
using Xunit;
using Peer = Ggaoed.Tests.DataPath.Initiator;

namespace Ggaoed.Tests.Network;

/// <summary>
/// The daemon (in this process, on its reactor thread in the target namespace) follows what netlink
/// says about its interfaces without reopening them: a new MAC, a smaller MTU; and it serves loopback.
/// Our initiator checks the answers on the wire.
/// </summary>
[Collection(DataPathCollection.Name)]
public sealed class PortFollowsLinkTests
{
    private const int DiskSectors = 2048;
    private const string NewMac = "02:00:00:aa:bb:cc";

    [RootFact]
    public void MacChange_RepliesComeFromTheNewMac_AndFramesToItAreAnswered_WithoutReopeningThePort()
    {
        using var veth = new VethPair("mac");
        using var scratch = new Scratch("mac");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 3);
        byte[] model = File.ReadAllBytes(disk);
        using InProcessTarget target = DataPathTests.Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 3, 4));
        using AoeClient client = Peer.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget before = Peer.Find(Peer.Discover(client, 1), 3, 4);
        Assert.NotEqual(NewMac, DiscoveredTarget.FormatMac(before.Mac));
        NetworkPort port = target.Daemon.FindPort(veth.TargetIf)!;

        // While the link stays up: no down/up event, only RTM_NEWLINK with the new IFLA_ADDRESS.
        Sh.Run($"ip -n {veth.TargetNs} link set {veth.TargetIf} address {NewMac}");

        // The config reply (and the IDENTIFY that Discover sends to the replying MAC) come from the new MAC.
        DiscoveredTarget? after = null;
        long deadline = Environment.TickCount64 + 10_000;
        while (after == null && Environment.TickCount64 < deadline)
        {
            foreach (DiscoveredTarget t in client.Discover(TimeSpan.FromMilliseconds(300)))
                if (t.Shelf == 3 && t.Slot == 4 && DiscoveredTarget.FormatMac(t.Mac) == NewMac && t.Identify != null)
                    after = t;
        }
        Assert.True(after != null, "no reply from the new MAC " + NewMac);
        Assert.Equal((ulong)DiskSectors, after!.Sectors);

        // Unicast ATA requests to the new MAC are answered.
        byte[] data = Scratch.Pattern(1024, seed: 4);
        client.Write(after, 10, data);
        byte[] back = new byte[1024];
        client.Read(after, 10, back);
        Assert.Equal(data, back);
        client.Read(after, 100, back);
        Assert.Equal(model.AsSpan(100 * 512, 1024).ToArray(), back);

        Assert.Same(port, target.Daemon.FindPort(veth.TargetIf));
        Assert.Equal(NewMac, port.Aoe.Mac.ToString());
    }

    [RootFact]
    public void SmallerMtu_IsAppliedInPlace_AndAdvertised()
    {
        using var veth = new VethPair("mts", mtu: 9000);
        using var scratch = new Scratch("mts");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 5);
        using InProcessTarget target = DataPathTests.Start(veth, scratch, veth.TargetIf, new TestDevice("d", disk, 3, 5));
        using AoeClient client = Peer.Client(veth.InitiatorNs, veth.InitiatorIf);
        Assert.Equal(17, Peer.Find(Peer.Discover(client, 1), 3, 5).Config.SectorCount);
        NetworkPort port = target.Daemon.FindPort(veth.TargetIf)!;

        Sh.Run($"ip -n {veth.TargetNs} link set {veth.TargetIf} mtu 1500");
        int sectors = 0;
        long deadline = Environment.TickCount64 + 10_000;
        while (sectors != 2 && Environment.TickCount64 < deadline)
        {
            foreach (DiscoveredTarget t in client.Discover(TimeSpan.FromMilliseconds(300), identify: false))
                sectors = t.Config.SectorCount;
        }
        Assert.Equal(2, sectors);
        Assert.Same(port, target.Daemon.FindPort(veth.TargetIf)); // the 9000-byte frames hold 1500 too
        Assert.Equal(1514, port.Port.MaxFrameLength);
    }

    [RootTheory]
    [InlineData(65536)] // lo's own MTU: no ring block holds such a frame, the socket transport serves it
    [InlineData(1500)]  // rings
    public void Loopback_IsServed_AndOurOwnRepliesLoopedBackAreNotTakenForRequests(int mtu)
    {
        using var veth = new VethPair("lo");
        Sh.Run($"ip -n {veth.TargetNs} link set lo mtu {mtu}");
        using var scratch = new Scratch("lo");
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 6);
        byte[] model = File.ReadAllBytes(disk);
        using InProcessTarget target = DataPathTests.Start(veth, scratch, "lo", new TestDevice("d", disk, 6, 1));
        NetworkPort port = target.Daemon.FindPort("lo")!;
        Assert.NotNull(port);
        Assert.Equal(mtu == 1500 ? Ggaoed.Network.PacketPortMode.Ring : Ggaoed.Network.PacketPortMode.Fallback, port.Port.Mode);

        // The initiator on the same lo, in the same namespace.
        using AoeClient client = Peer.Client(veth.TargetNs, "lo");
        DiscoveredTarget t = Peer.Find(Peer.Discover(client, 1), 6, 1);
        Assert.Equal("00:00:00:00:00:00", DiscoveredTarget.FormatMac(t.Mac));
        Assert.Equal((ulong)DiskSectors, t.Sectors);
        byte[] back = new byte[1024];
        client.Read(t, 7, back);
        Assert.Equal(model.AsSpan(7 * 512, 1024).ToArray(), back);

        // Every reply came back in on lo (that is how the initiator, bound to lo like us, got it), so it
        // reached the target's socket too: the socket filter dropped it as a response. Had one got
        // through, the port would have counted it as ignored.
        Thread.Sleep(200);
        target.Stop();
        Assert.Equal(0, port.Counters.Ignored);
        Assert.True(port.Port.Counters.FramesIn >= 3, "the config query, IDENTIFY and read should have come in");
    }
}
