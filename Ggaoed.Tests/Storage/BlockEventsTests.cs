using System;
using System.Threading;
using Ggaoed.Native;
using Ggaoed.Storage;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>The uevent listener on a real socket: a loop device's resize seen from a private network namespace.</summary>
public class BlockEventsTests
{
    /// <summary>Counts what concerns one device; stores only numbers, so receiving into it allocates nothing.</summary>
    private struct DeviceWatch : IBlockEventHandler
    {
        public DeviceNumber Device;
        public int Changes;
        public int Resizes;
        public int Others;
        public int Lost;

        public void OnBlockEvent(in Uevent uevent)
        {
            if (uevent.TryGetDeviceNumber(out DeviceNumber d) && d == Device)
            {
                if (uevent.Action == UeventAction.Change)
                    Changes++;
                if (uevent.Resize)
                    Resizes++;
            }
            else
            {
                Others++;
            }
        }

        public void OnEventsLost() => Lost++;
    }

    private static int s_namespaces;

    /// <summary>A network namespace as `ip netns add` makes it (where the daemon's tests run the daemon).</summary>
    private static void InPrivateNetNs(Action<string> test)
    {
        string ns = "gg-ue-" + Environment.ProcessId % 100000 + "x" + Interlocked.Increment(ref s_namespaces);
        Sh.Run("ip netns del " + ns, check: false);
        Sh.Run("ip netns add " + ns);
        try
        {
            test(ns);
        }
        finally
        {
            Sh.Run("ip netns del " + ns, check: false);
        }
    }

    [RootFact]
    public void LoopResize_IsHeardInAPrivateNetworkNamespace_AndRefreshesTheStore_WithoutAllocating()
    {
        InPrivateNetNs(ns =>
        {
            using BlockEvents events = InNetNs.Run(ns, BlockEvents.Open);
            using var loop = new LoopImage(4 << 20);
            using BackingStore store = BackingStore.Open(loop.Device, readOnly: false, directIo: true);
            var watch = new DeviceWatch { Device = store.DeviceNumber };
            events.Receive(ref watch); // whatever attaching the device said
            watch = new DeviceWatch { Device = store.DeviceNumber };

            loop.Resize(6 << 20);
            WaitFor(events, ref watch, 1);
            Assert.True(watch.Changes >= 1);
            Assert.Equal(12288UL, store.RefreshSize().Sectors);

            // Second time round, everything is warm: the wait and receive loop must not allocate.
            loop.Resize(8 << 20);
            long before = GC.GetAllocatedBytesForCurrentThread();
            WaitFor(events, ref watch, 2);
            SizeRefresh r = store.RefreshSize();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal((12288UL, 16384UL), (r.PreviousSectors, r.Sectors));
            Assert.Equal(0, allocated);
            Assert.Equal(0, watch.Lost);
            Assert.Equal(0UL, events.Overruns);
            Assert.Equal(0UL, events.Malformed);
        });
    }

    /// <summary>Polls (like the reactor would on EPOLLIN) until the device had <paramref name="resizes"/> RESIZE=1 events.</summary>
    private static void WaitFor(BlockEvents events, ref DeviceWatch watch, int resizes)
    {
        // Generous: uevents are sent synchronously by losetup's ioctl, but a loaded machine may delay us.
        long deadline = Environment.TickCount64 + 30_000;
        while (watch.Resizes < resizes)
        {
            events.Receive(ref watch);
            if (watch.Resizes >= resizes)
                break;
            Assert.True(Environment.TickCount64 < deadline, "no RESIZE=1 uevent within 30 s");
            Thread.Sleep(5);
        }
    }

    [RootFact]
    public unsafe void LostEvents_AreCounted_AndTheHandlerIsToldToRecheckEverySize()
    {
        using var loop = new LoopImage(1 << 20);
        using BlockEvents events = BlockEvents.Open();
        // The smallest receive buffer the kernel allows (a few KiB), then far more events than fit: the
        // kernel drops the rest and reports ENOBUFS on the next receive.
        int tiny = 1;
        Assert.Equal(0, Libc.setsockopt(events.Fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &tiny, sizeof(int)));
        string uevent = "/sys/class/block/" + System.IO.Path.GetFileName(loop.Device) + "/uevent";
        for (int i = 0; i < 200; i++)
            System.IO.File.WriteAllText(uevent, "change"); // a synthetic "change" uevent for the device
        var watch = new DeviceWatch { Device = BackingStoreLoopTests.DeviceNumberOf(loop.Device) };
        events.Receive(ref watch);
        Assert.True(events.Overruns >= 1, "no overrun after 200 events into a tiny buffer");
        Assert.Equal((int)events.Overruns, watch.Lost);
        Assert.True(watch.Changes >= 1, "the events that fitted were still delivered");
        Assert.True(watch.Changes < 200);
    }

    [RootFact]
    public unsafe void MessagesNotFromTheKernel_AreSkipped()
    {
        using BlockEvents events = BlockEvents.Open();
        sockaddr_nl self;
        uint length = (uint)sizeof(sockaddr_nl);
        Assert.Equal(0, Libc.getsockname(events.Fd, &self, &length));

        // A process (root may send on this protocol) forging a resize in the kernel's format, then udev's
        // format: neither is believed. (A device number no test uses, so no real event can be mistaken for them.)
        byte[] forged = UeventParserTests.Bytes("change@/devices/virtual/block/fake|ACTION=change|SUBSYSTEM=block|RESIZE=1|MAJOR=250|MINOR=77|DEVNAME=fake|");
        int sender = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, Netlink.NETLINK_KOBJECT_UEVENT);
        Assert.True(sender >= 0);
        try
        {
            var to = new sockaddr_nl { nl_family = Libc.AF_NETLINK, nl_pid = self.nl_pid };
            foreach (byte[] message in new[] { forged, UeventParserTests.LibudevMessage() })
                fixed (byte* p = message)
                    Assert.Equal(message.Length, (int)Libc.sendto(sender, p, (nuint)message.Length, 0, &to, (uint)sizeof(sockaddr_nl)));
        }
        finally
        {
            Libc.close(sender);
        }
        var watch = new DeviceWatch { Device = new DeviceNumber(250, 77) };
        long deadline = Environment.TickCount64 + 10_000;
        while (events.Foreign < 2 && Environment.TickCount64 < deadline)
        {
            events.Receive(ref watch);
            Thread.Sleep(1);
        }
        Assert.Equal(2UL, events.Foreign);
        Assert.Equal(0, watch.Resizes);
    }

    [Fact]
    public void Open_IsNonBlockingAndCloseOnExec_AndReceiveReturnsWhenDrained()
    {
        using BlockEvents events = BlockEvents.Open();
        // fdinfo's "flags:" (octal) shows the file's flags with O_CLOEXEC for the descriptor's close-on-exec.
        string flagsLine = Array.Find(System.IO.File.ReadAllLines("/proc/self/fdinfo/" + events.Fd), l => l.StartsWith("flags:", StringComparison.Ordinal))!;
        int flags = Convert.ToInt32(flagsLine.Substring(6).Trim(), 8);
        Assert.Equal(Libc.O_NONBLOCK | Libc.O_CLOEXEC, flags & (Libc.O_NONBLOCK | Libc.O_CLOEXEC));
        var watch = new DeviceWatch();
        Assert.True(events.Receive(ref watch) >= 0); // returns instead of waiting
    }
}
