using System;
using System.Collections.Generic;
using System.Threading;
using Ggaoed.Network;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Network;

/// <summary>
/// PacketPort over a real veth pair between two private network namespaces: the port on the target
/// end, a plain AF_PACKET socket (<see cref="RawPeer"/>) on the initiator end. Every test runs in ring
/// mode and in fallback mode, which must behave the same.
/// </summary>
[Collection(Ggaoed.Tests.Support.SerialCollection.Name)]
public class PacketPortTests
{
    private static readonly MacBytes Broadcast = new(0xFFFF_FFFF_FFFFUL);

    /// <summary>
    /// A veth pair whose both ends can transmit. The end brought up first has no carrier yet, so its
    /// TX queue keeps the noop qdisc until linkwatch activates it (asynchronously, up to a second later
    /// under load); until then the kernel drops its frames and reports success (NET_XMIT_CN).
    /// linkwatch sets the operstate to UP under the same RTNL hold as that activation, so "state UP" in
    /// `ip link` means the end can send.
    /// </summary>
    private static VethPair NewPair(int mtu = 1500)
    {
        var pair = new VethPair("nw", mtu);
        long deadline = Environment.TickCount64 + 10_000;
        while (!Sh.Run($"ip -n {pair.TargetNs} link show {pair.TargetIf}").Contains("state UP")
            || !Sh.Run($"ip -n {pair.InitiatorNs} link show {pair.InitiatorIf}").Contains("state UP"))
        {
            if (Environment.TickCount64 > deadline)
            {
                pair.Dispose();
                throw new TimeoutException("veth never reached operstate UP");
            }
            Thread.Sleep(20);
        }
        return pair;
    }

    private static PacketPortOptions Options(bool fallback, int ringKiB = 4096) =>
        new() { ForceFallback = fallback, RingBufferSizeKiB = ringKiB };

    private static PacketPort OpenPort(VethPair pair, PacketPortOptions options) =>
        InNetNs.Run(pair.TargetNs, () => PacketPort.Open(pair.TargetIf, options));

    private static string Describe(PacketPort port)
    {
        PacketPortCounters c = port.Counters;
        return $"mode {port.Mode}, in {c.FramesIn}, out {c.FramesOut}, kernel packets {c.KernelPackets} drops {c.KernelDrops}, "
            + $"tx errors {c.TxErrors}, tx full {c.TxFullEvents}, rx truncated {c.RxTruncated}, kicks {c.Kicks}, wants writable {port.WantsWritable}";
    }

    private static bool WaitReceive(PacketPort port, out int index, out Span<byte> frame, int timeoutMs = 5000)
    {
        long deadline = Environment.TickCount64 + timeoutMs;
        while (!port.TryReceive(out index, out frame))
        {
            if (Environment.TickCount64 > deadline)
                return false;
            Thread.Yield();
        }
        return true;
    }

    private static int WaitTxBuffer(PacketPort port, out Span<byte> buffer)
    {
        long deadline = Environment.TickCount64 + 5000;
        int index;
        while (!port.TryGetTxBuffer(out index, out buffer))
        {
            Assert.True(Environment.TickCount64 < deadline, "no TX frame came free");
            port.Kick();
            Thread.Yield();
        }
        return index;
    }

    private static void KickUntilSent(PacketPort port)
    {
        long deadline = Environment.TickCount64 + 5000;
        port.Kick();
        while (port.HasUnkickedTx)
        {
            Assert.True(Environment.TickCount64 < deadline, "TX never drained");
            Thread.Yield();
            port.Kick();
        }
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Open_ReportsModeGeometryAndInterfaceFacts(bool fallback)
    {
        using var pair = NewPair(mtu: 9000);
        using var port = OpenPort(pair, Options(fallback));
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        Assert.Equal(fallback ? PacketPortMode.Fallback : PacketPortMode.Ring, port.Mode);
        Assert.Equal(9000, port.Mtu);
        Assert.Equal(9014, port.MaxFrameLength);
        Assert.True(port.Interface.IsUp);
        Assert.True(port.Interface.IsEthernet);
        Assert.True(port.Fd >= 0);
        Assert.NotEqual(peer.Info.Mac, port.Interface.Mac);
        string link = Sh.Run($"ip -n {pair.TargetNs} link show {pair.TargetIf}");
        Assert.Contains(port.Interface.Mac.ToString().Insert(2, ":").Insert(5, ":").Insert(8, ":").Insert(11, ":").Insert(14, ":"), link);
        if (fallback)
        {
            Assert.NotNull(port.FallbackReason);
        }
        else
        {
            Assert.Null(port.FallbackReason);
            Assert.Equal(new RingGeometry(65536, 32, 9088, 7), port.Geometry);
            Assert.Equal(224, port.RxFrameCount);
            Assert.Equal(224, port.TxFrameCount);
        }
    }

    [RootFact]
    public void Open_UnknownInterface_FailsNamingIt()
    {
        using var pair = NewPair();
        var e = Assert.Throws<AggregateException>(() => InNetNs.Run(pair.TargetNs, () => PacketPort.Open("nosuch0", Options(false))));
        var ne = Assert.IsType<NetworkException>(e.InnerException);
        Assert.Equal("nosuch0", ne.InterfaceName);
        Assert.Equal((int)Ggaoed.Native.Errno.ENODEV, ne.Errno);
        Assert.StartsWith("nosuch0: SIOCGIFINDEX", ne.Message);
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rx_DeliversAoeRequestsIntact_AndFiltersEverythingElse(bool fallback)
    {
        using var pair = NewPair();
        using var port = OpenPort(pair, Options(fallback));
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        MacBytes us = port.Interface.Mac, them = peer.Info.Mac;

        // Lengths below 60 on purpose: veth does not pad (Linux config queries are 32 bytes).
        int[] lengths = [24, 32, 36, 59, 60, 61, 1000, 1514];
        var expected = new List<byte[]>();
        int seq = 0;
        foreach (int length in lengths)
        {
            byte[] good = TestFrames.Make(length, length % 2 == 0 ? us : Broadcast, them, seq++);
            expected.Add(good);
            peer.Send(good);
            // Each of these must be filtered out in the kernel:
            peer.Send(TestFrames.Make(length, us, them, seq++, verFlags: 0x18));               // a response
            peer.Send(TestFrames.Make(length, new MacBytes(0x02_00_00_00_00_99), them, seq++)); // for another host
            peer.Send(TestFrames.Make(length, us, them, seq++, etherType: 0x0800));           // not AoE
        }
        byte[] marker = TestFrames.Make(60, us, them, 9999);
        peer.Send(marker);
        expected.Add(marker);

        foreach (byte[] want in expected)
        {
            Assert.True(WaitReceive(port, out int index, out Span<byte> got), "frame " + TestFrames.Seq(want) + " did not arrive");
            Assert.Equal(want, got.ToArray());
            port.ReleaseRx(index);
        }
        Assert.False(port.TryReceive(out _, out _));
        Assert.Equal((ulong)expected.Count, port.Counters.FramesIn);
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rx_FramesMayBeReleasedOutOfOrder(bool fallback)
    {
        using var pair = NewPair();
        using var port = OpenPort(pair, Options(fallback));
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        for (int i = 0; i < 3; i++)
            peer.Send(TestFrames.Make(64, port.Interface.Mac, peer.Info.Mac, i));
        var indexes = new int[3];
        for (int i = 0; i < 3; i++)
        {
            Assert.True(WaitReceive(port, out indexes[i], out Span<byte> f));
            Assert.Equal(i, TestFrames.Seq(f));
        }
        port.ReleaseRx(indexes[1]);
        port.ReleaseRx(indexes[2]);
        Assert.Throws<InvalidOperationException>(() => port.ReleaseRx(indexes[2]));
        port.ReleaseRx(indexes[0]);
        peer.Send(TestFrames.Make(64, port.Interface.Mac, peer.Info.Mac, 3));
        Assert.True(WaitReceive(port, out int last, out Span<byte> f3));
        Assert.Equal(3, TestFrames.Seq(f3));
        port.ReleaseRx(last);
    }

    [RootTheory]
    [InlineData(1500, false)]
    [InlineData(1500, true)]
    [InlineData(9000, false)]
    [InlineData(9000, true)]
    public void Tx_ManyFullSizeFramesInOneKick_ArriveIntact(int mtu, bool fallback)
    {
        using var pair = NewPair(mtu);
        using var port = OpenPort(pair, Options(fallback));
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        int frameLength = mtu + 14;
        Assert.Equal(frameLength, port.MaxFrameLength);

        // Fill every TX frame, then one Kick.
        int count = 0;
        while (port.TryGetTxBuffer(out int index, out Span<byte> buffer))
        {
            Assert.Equal(frameLength, buffer.Length);
            TestFrames.Fill(buffer, peer.Info.Mac, port.Interface.Mac, count, verFlags: 0x18);
            port.CommitTx(index, frameLength);
            count++;
        }
        Assert.Equal(port.TxFrameCount, count);
        Assert.True(port.WantsWritable);
        Assert.Equal(1UL, port.Counters.TxFullEvents);
        KickUntilSent(port);

        var buf = new byte[frameLength + 100];
        var want = new byte[frameLength];
        for (int i = 0; i < count; i++)
        {
            int n = peer.Receive(buf);
            Assert.True(n == frameLength, $"frame {i}: got {n} bytes");
            TestFrames.Fill(want, peer.Info.Mac, port.Interface.Mac, i, verFlags: 0x18);
            Assert.True(want.AsSpan().SequenceEqual(buf.AsSpan(0, n)), $"frame {i} differs");
        }
        Assert.Equal(-1, peer.Receive(buf, timeoutMs: 50));
        Assert.Equal((ulong)count, port.Counters.FramesOut);
        Assert.Equal((ulong)count * (ulong)frameLength, port.Counters.BytesOut);

        // The frames come back once the kernel is done with them.
        WaitTxBuffer(port, out _);
        Assert.False(port.WantsWritable);
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Tx_FramesLeaveInReservationOrder_AndCancelledOnesNever(bool fallback)
    {
        using var pair = NewPair();
        using var port = OpenPort(pair, Options(fallback));
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        MacBytes us = port.Interface.Mac, them = peer.Info.Mac;

        Assert.True(port.TryGetTxBuffer(out int a, out Span<byte> bufA));
        Assert.True(port.TryGetTxBuffer(out int b, out Span<byte> bufB));
        Assert.True(port.TryGetTxBuffer(out int c, out Span<byte> bufC));
        TestFrames.Fill(bufB.Slice(0, 60), them, us, 2, 0x18);
        TestFrames.Fill(bufC.Slice(0, 60), them, us, 3, 0x18);
        port.CommitTx(c, 60);
        port.CommitTx(b, 60);
        port.Kick();
        var buf = new byte[2000];
        Assert.Equal(-1, peer.Receive(buf, timeoutMs: 100)); // held back by the uncommitted first frame

        port.CancelTx(a);
        port.Kick();
        Assert.Equal(60, peer.Receive(buf));
        Assert.Equal(2, TestFrames.Seq(buf));
        Assert.Equal(60, peer.Receive(buf));
        Assert.Equal(3, TestFrames.Seq(buf));
        Assert.Equal(-1, peer.Receive(buf, timeoutMs: 50));
        Assert.Throws<InvalidOperationException>(() => port.CommitTx(a, 60));

        // Short frames go out as short as committed (padding is the protocol layer's choice).
        int d = WaitTxBuffer(port, out Span<byte> bufD);
        TestFrames.Fill(bufD.Slice(0, 24), them, us, 4, 0x18);
        port.CommitTx(d, 24);
        port.Kick();
        Assert.Equal(24, peer.Receive(buf));
        Assert.Equal(4, TestFrames.Seq(buf));
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void BothRings_WrapAroundManyTimes_WithoutLosingOrReorderingFrames(bool fallback)
    {
        using var pair = NewPair();
        // A small ring (128 KiB: one 64 KiB block, 41 frames each way) wraps every 41 frames.
        using var port = OpenPort(pair, Options(fallback, ringKiB: 128));
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        MacBytes us = port.Interface.Mac, them = peer.Info.Mac;
        const int Total = 5000, Batch = 25;
        var frame = new byte[300];
        var want = new byte[300];
        int received = 0, echoed = 0;
        for (int start = 0; start < Total; start += Batch)
        {
            for (int i = start; i < start + Batch; i++)
            {
                int length = 24 + i % 277;
                TestFrames.Fill(frame.AsSpan(0, length), us, them, i);
                peer.Send(frame.AsSpan(0, length));
            }
            for (int i = start; i < start + Batch; i++)
            {
                if (!WaitReceive(port, out int index, out Span<byte> got))
                {
                    port.ReadKernelStatistics();
                    Assert.Fail($"rx frame {i} lost; {Describe(port)}");
                }
                int length = 24 + i % 277;
                TestFrames.Fill(want.AsSpan(0, length), us, them, i);
                Assert.True(got.SequenceEqual(want.AsSpan(0, length)), $"rx frame {i} differs");
                received++;
                // Echo it back as a response through the TX ring.
                int tx = WaitTxBuffer(port, out Span<byte> buffer);
                TestFrames.Fill(buffer.Slice(0, length), them, us, i, 0x18);
                port.CommitTx(tx, length);
                port.ReleaseRx(index);
            }
            KickUntilSent(port);
            for (int i = start; i < start + Batch; i++)
            {
                int length = 24 + i % 277;
                int n = peer.Receive(frame);
                Assert.True(n == length, $"tx frame {i}: got {n} bytes, want {length}; {Describe(port)}");
                TestFrames.Fill(want.AsSpan(0, length), them, us, i, 0x18);
                Assert.True(frame.AsSpan(0, n).SequenceEqual(want.AsSpan(0, length)), $"tx frame {i} differs");
                echoed++;
            }
        }
        Assert.Equal(Total, received);
        Assert.Equal(Total, echoed);
        if (!fallback)
            Assert.Equal(41, port.RxFrameCount);
        port.ReadKernelStatistics();
        Assert.Equal(0UL, port.Counters.KernelDrops);
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Overflow_DropsAreCountedFromPacketStatistics(bool fallback)
    {
        using var pair = NewPair();
        // Ring: 41 RX frames. Fallback: a 64 KiB receive buffer holds a few dozen 1514-byte frames.
        var options = Options(fallback, ringKiB: 128) with { ReceiveBufferSizeKiB = 64 };
        using var port = OpenPort(pair, options);
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        const int Sent = 400;
        var frame = new byte[1514];
        for (int i = 0; i < Sent; i++)
        {
            TestFrames.Fill(frame, port.Interface.Mac, peer.Info.Mac, i);
            peer.Send(frame);
        }
        // Wait until the kernel has accounted for every frame (delivered or dropped).
        long deadline = Environment.TickCount64 + 5000;
        do
        {
            Thread.Sleep(10);
            port.ReadKernelStatistics();
        }
        while (port.Counters.KernelPackets < Sent && Environment.TickCount64 < deadline);
        int got = 0;
        while (port.TryReceive(out int index, out _))
        {
            got++;
            port.ReleaseRx(index);
        }
        port.ReadKernelStatistics();
        Assert.Equal((ulong)Sent, port.Counters.KernelPackets);
        Assert.True(port.Counters.KernelDrops > 0);
        Assert.Equal((ulong)Sent, (ulong)got + port.Counters.KernelDrops);
        if (!fallback)
            Assert.Equal(41, got);
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void RefreshMtu_TellsWhetherTheFramesStillFit(bool fallback)
    {
        using var pair = NewPair();
        using var port = OpenPort(pair, Options(fallback));
        Sh.Run($"ip -n {pair.TargetNs} link set {pair.TargetIf} mtu 1400");
        Assert.True(port.RefreshMtu());
        Assert.Equal(1400, port.Mtu);
        Assert.Equal(1414, port.MaxFrameLength);
        Assert.True(port.TryGetTxBuffer(out int index, out Span<byte> buffer));
        Assert.Equal(1414, buffer.Length);
        port.CancelTx(index);
        Sh.Run($"ip -n {pair.TargetNs} link set {pair.TargetIf} mtu 9000");
        Assert.False(port.RefreshMtu());
        Assert.False(port.FitsMtu);
        Assert.Equal(9000, port.Interface.Mtu);

        // Until the port is re-created, a frame larger than its frames is dropped and counted, never
        // handed out cut short.
        Sh.Run($"ip -n {pair.InitiatorNs} link set {pair.InitiatorIf} mtu 9000");
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        peer.Send(TestFrames.Make(9014, port.Interface.Mac, peer.Info.Mac, 1));
        peer.Send(TestFrames.Make(100, port.Interface.Mac, peer.Info.Mac, 2));
        Assert.True(WaitReceive(port, out int rx, out Span<byte> small));
        Assert.Equal(2, TestFrames.Seq(small));
        port.ReleaseRx(rx);
        Assert.Equal(1UL, port.Counters.RxTruncated);
        Assert.Equal(1UL, port.Counters.FramesIn);
    }

    /// <summary>
    /// A token-bucket qdisc (1 Mbit/s, 4 KiB queue) on the target end refuses most of a burst with
    /// ENOBUFS, as a real NIC's full queue does. The socket still reports EPOLLOUT at once (its own
    /// buffer is empty), so waiting for EPOLLOUT would spin; the port gives a retry deadline instead,
    /// and kicked on that timer, every frame arrives in order.
    /// </summary>
    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public unsafe void Tx_QdiscRefusingFrames_BacksOffOnATimer_AndEverythingArrivesInOrder(bool fallback)
    {
        using var pair = NewPair();
        Sh.Run($"ip netns exec {pair.TargetNs} tc qdisc add dev {pair.TargetIf} root tbf rate 1mbit burst 4k limit 4k");
        using var port = OpenPort(pair, Options(fallback, ringKiB: 128));
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        const int Frames = 30; // 363 kbit: 0.36 s at 1 Mbit/s
        for (int i = 0; i < Frames; i++)
        {
            Assert.True(port.TryGetTxBuffer(out int index, out Span<byte> buffer));
            TestFrames.Fill(buffer.Slice(0, 1514), peer.Info.Mac, port.Interface.Mac, i, 0x18);
            port.CommitTx(index, 1514);
        }
        port.Kick();
        Assert.True(port.Counters.TxNoBuffers > 0, Describe(port));
        Assert.False(port.WantsWritable);
        Assert.NotEqual(0, port.TxRetryAtNanos);

        int epfd = Ggaoed.Native.Libc.epoll_create1(Ggaoed.Native.Libc.EPOLL_CLOEXEC);
        try
        {
            var ev = new Ggaoed.Native.epoll_event { events = Ggaoed.Native.Libc.EPOLLOUT };
            Assert.Equal(0, Ggaoed.Native.Libc.epoll_ctl(epfd, Ggaoed.Native.Libc.EPOLL_CTL_ADD, port.Fd, &ev));
            Assert.Equal(1, Ggaoed.Native.Libc.epoll_wait(epfd, &ev, 1, 0)); // "writable" while the qdisc refuses
        }
        finally
        {
            Ggaoed.Native.Libc.close(epfd);
        }

        var clock = new Ggaoed.Network.LinuxPacketKernel();
        int wakeups = 0;
        long deadline = Environment.TickCount64 + 30_000;
        while (port.HasUnkickedTx)
        {
            Assert.True(Environment.TickCount64 < deadline, "TX never drained; " + Describe(port));
            Assert.False(port.WantsWritable);
            // A timer: Thread.Sleep has millisecond steps, so sleep until the deadline has passed.
            while (clock.NowNanos() < port.TxRetryAtNanos)
                Thread.Sleep(1);
            wakeups++;
            port.Kick();
        }
        var buf = new byte[1600];
        for (int i = 0; i < Frames; i++)
        {
            Assert.Equal(1514, peer.Receive(buf));
            Assert.Equal(i, TestFrames.Seq(buf));
        }
        // About 0.36 s at most 8 ms apart: a few dozen wake-ups, where EPOLLOUT would have been thousands.
        Assert.InRange(wakeups, 1, 200);
        Assert.Equal(0UL, port.Counters.TxDropped);
    }

    [RootFact]
    public void QdiscBypass_StillDeliversTxFrames()
    {
        using var pair = NewPair();
        using var port = OpenPort(pair, Options(false) with { QdiscBypass = true });
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        Assert.Equal(1, SocketOption(port.Fd, Ggaoed.Native.Packet.PACKET_QDISC_BYPASS, Ggaoed.Native.Packet.SOL_PACKET));
        for (int i = 0; i < 100; i++)
        {
            Assert.True(port.TryGetTxBuffer(out int index, out Span<byte> buffer));
            TestFrames.Fill(buffer.Slice(0, 1514), peer.Info.Mac, port.Interface.Mac, i, 0x18);
            port.CommitTx(index, 1514);
        }
        KickUntilSent(port);
        var buf = new byte[1600];
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(1514, peer.Receive(buf));
            Assert.Equal(i, TestFrames.Seq(buf));
        }
    }

    [RootFact]
    public void RingBufferSizeZero_MeansFallback_WithTheSameApi()
    {
        using var pair = NewPair();
        using var port = OpenPort(pair, Options(false, ringKiB: 0) with { ReceiveBufferSizeKiB = 256, SendBufferSizeKiB = 256 });
        Assert.Equal(PacketPortMode.Fallback, port.Mode);
        Assert.Equal("ring-buffer-size is 0", port.FallbackReason);
        Assert.Equal(PacketPort.FallbackRxSlots, port.RxFrameCount);
        Assert.Equal(PacketPort.FallbackTxSlots, port.TxFrameCount);
        Assert.Equal(2 * 256 * 1024, SocketOption(port.Fd, Ggaoed.Native.Libc.SO_RCVBUF)); // the kernel doubles it
        Assert.Equal(2 * 256 * 1024, SocketOption(port.Fd, Ggaoed.Native.Libc.SO_SNDBUF));
    }

    private static unsafe int SocketOption(int fd, int option, int level = Ggaoed.Native.Libc.SOL_SOCKET)
    {
        int value = 0;
        uint len = 4;
        Assert.Equal(0, Ggaoed.Native.Libc.getsockopt(fd, level, option, &value, &len));
        return value;
    }

    [RootTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void SteadyState_RxAndTx_AllocateNothing(bool fallback)
    {
        using var pair = NewPair();
        using var port = OpenPort(pair, Options(fallback));
        using var peer = RawPeer.Open(pair.InitiatorNs, pair.InitiatorIf);
        var request = new byte[60];
        var response = new byte[2000];
        TestFrames.Fill(request, port.Interface.Mac, peer.Info.Mac, 0);

        RoundTrips(port, peer, request, response, 2000); // warm up (JIT, tiering)
        long before = GC.GetAllocatedBytesForCurrentThread();
        int gen0 = GC.CollectionCount(0);
        int done = RoundTrips(port, peer, request, response, 100_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(100_000, done);
        Assert.Equal(0, allocated);
        Assert.Equal(gen0, GC.CollectionCount(0));
    }

    /// <summary>
    /// Frames in batches of 16: the peer sends requests, the port receives, copies and releases each and
    /// answers through TX, one Kick per batch, and the peer reads the answers. No allocation on this path.
    /// </summary>
    private static int RoundTrips(PacketPort port, RawPeer peer, byte[] request, byte[] response, int frames)
    {
        const int Batch = 16;
        Span<byte> copy = stackalloc byte[64];
        int done = 0;
        while (done < frames)
        {
            for (int i = 0; i < Batch; i++)
                peer.Send(request);
            for (int i = 0; i < Batch; i++)
            {
                int spins = 0;
                int index;
                Span<byte> frame;
                while (!port.TryReceive(out index, out frame))
                {
                    if (++spins > 50_000_000)
                        return done;
                }
                frame.CopyTo(copy);
                port.ReleaseRx(index);
                while (!port.TryGetTxBuffer(out index, out frame))
                    port.Kick();
                copy.Slice(0, 60).CopyTo(frame);
                frame[14] |= 0x08;
                port.CommitTx(index, 60);
            }
            port.Kick();
            while (port.HasUnkickedTx)
                port.Kick();
            for (int i = 0; i < Batch; i++)
            {
                if (peer.Receive(response) != 60)
                    return done;
                done++;
            }
        }
        return done;
    }
}
