using System;
using System.Collections.Generic;
using System.Threading;
using Ggaoed.Network;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Network;

public class LinkMonitorTests
{
    private static void ReceiveUntil(LinkMonitor monitor, ref RecordingLinkHandler handler, Func<RecordingLinkHandler, bool> done, string what)
    {
        // 30 s: each event waits for rtnl_lock, which parallel tests creating namespaces hold often.
        long deadline = Environment.TickCount64 + 30_000;
        while (true)
        {
            monitor.Receive(ref handler);
            if (done(handler))
                return;
            Assert.True(Environment.TickCount64 < deadline, "timed out waiting for " + what);
            Thread.Sleep(5);
        }
    }

    [RootFact]
    public void SeesTheNamespacesLinks_ThenCreationMtuChangeUpAndDeletion()
    {
        using var pair = new VethPair("nwl");
        using LinkMonitor monitor = InNetNs.Run(pair.TargetNs, LinkMonitor.Open);
        var h = RecordingLinkHandler.Create();

        // The start-up dump: exactly this namespace's links.
        ReceiveUntil(monitor, ref h, x => x.DumpsDone == 1, "the initial dump");
        Assert.False(monitor.DumpPending);
        // (A notification, e.g. linkwatch's operstate change, may interleave with the dump.)
        var names = new SortedSet<string>(h.Links.ConvertAll(l => l.Name));
        Assert.Equal(new SortedSet<string> { "lo", pair.TargetIf }, names);
        var veth = h.Links.FindLast(l => l.Name == pair.TargetIf);
        Assert.Equal(1500, veth.Mtu);
        Assert.Equal(0x1u, veth.Flags & 0x1);        // IFF_UP
        Assert.Equal(0x10000u, veth.Flags & 0x10000); // IFF_LOWER_UP: the peer is up
        Assert.Contains(h.Links, l => l.Name == "lo");

        h.Links.Clear();
        Sh.Run($"ip -n {pair.TargetNs} link add nwlA type veth peer name nwlB");
        ReceiveUntil(monitor, ref h, x => x.Links.Exists(l => l.Name == "nwlA") && x.Links.Exists(l => l.Name == "nwlB"), "the new veth");
        var a = h.Links.Find(l => l.Name == "nwlA");
        Assert.False(a.Deleted);
        Assert.Equal(0u, a.Flags & 0x1);

        h.Links.Clear();
        Sh.Run($"ip -n {pair.TargetNs} link set nwlA mtu 9000");
        ReceiveUntil(monitor, ref h, x => x.Links.Exists(l => l.Name == "nwlA" && l.Mtu == 9000), "the MTU change");
        Assert.Equal(a.Index, h.Links.Find(l => l.Mtu == 9000).Index);

        h.Links.Clear();
        Sh.Run($"ip -n {pair.TargetNs} link set nwlB up");
        Sh.Run($"ip -n {pair.TargetNs} link set nwlA up");
        ReceiveUntil(monitor, ref h, x => x.Links.Exists(l => l.Name == "nwlA" && (l.Flags & 0x10041) == 0x10041), "nwlA up, running, carrier");

        h.Links.Clear();
        Sh.Run($"ip -n {pair.TargetNs} link del nwlA");
        ReceiveUntil(monitor, ref h, x => x.Links.Exists(l => l.Name == "nwlA" && l.Deleted) && x.Links.Exists(l => l.Name == "nwlB" && l.Deleted), "both ends deleted");
        Assert.Equal(0UL, monitor.Overruns);
    }

    [RootFact]
    public void RequestDump_AgainListsEveryLink()
    {
        using var pair = new VethPair("nwl");
        using LinkMonitor monitor = InNetNs.Run(pair.TargetNs, LinkMonitor.Open);
        var h = RecordingLinkHandler.Create();
        monitor.RequestDump(); // while the first is running: queued behind it, not EBUSY
        ReceiveUntil(monitor, ref h, x => x.DumpsDone == 2, "two dumps");
        Assert.Equal(2, h.Links.FindAll(l => l.Name == "lo").Count);
        Assert.True(h.Links.FindAll(l => l.Name == pair.TargetIf).Count >= 2);
        Assert.False(monitor.DumpPending);
    }
}
