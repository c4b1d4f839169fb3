using System;
using System.Collections.Generic;
using System.Linq;
using Ggaoed.Native;
using Ggaoed.Network;
using Xunit;

namespace Ggaoed.Tests.Network;

/// <summary>
/// Both transports of <see cref="PacketPort"/> against <see cref="FakePacketKernel"/>: the edge cases a
/// veth pair can't produce on demand (a full qdisc, a NIC that holds frames, a frame the kernel
/// refuses, an interface that vanishes between two sends), without root. Theories run in ring mode
/// (a 128 KiB ring: one 64 KiB block, 41 frames of 1584 bytes each way) and in socket mode.
/// </summary>
public sealed class PacketTransportTests : IDisposable
{
    private static readonly MacBytes Peer = new(0x02_00_00_00_00_02);

    private readonly FakePacket _fake = new();

    public void Dispose() => _fake.Dispose();

    private static PacketPortOptions Options(bool fallback) =>
        fallback ? new PacketPortOptions { ForceFallback = true } : new PacketPortOptions { RingBufferSizeKiB = 128 };

    private PacketPort Open(bool fallback) => PacketPort.Open(new FakePacketKernel(_fake), _fake.Name, Options(fallback));

    /// <summary>Reserves a frame, writes a 60-byte response carrying <paramref name="seq"/>, commits it.</summary>
    private static void Commit(PacketPort port, int seq)
    {
        Assert.True(port.TryGetTxBuffer(out int index, out Span<byte> buffer), $"no TX frame for {seq}");
        TestFrames.Fill(buffer.Slice(0, 60), Peer, port.Mac, seq, verFlags: 0x18);
        port.CommitTx(index, 60);
    }

    /// <summary>A port with frames 0 .. <paramref name="frames"/> - 1 committed, not kicked yet.</summary>
    private PacketPort OpenWithCommitted(bool fallback, int frames)
    {
        PacketPort port = Open(fallback);
        for (int i = 0; i < frames; i++)
            Commit(port, i);
        return port;
    }

    private static List<int> Range(int start, int count) => Enumerable.Range(start, count).ToList();

    // ---------------------------------------------------------------- opening

    [Fact]
    public unsafe void Open_Ring_SetsEverythingUpBeforeBinding_AndMapsBothRings()
    {
        using PacketPort port = Open(fallback: false);
        Assert.Equal(PacketPortMode.Ring, port.Mode);
        Assert.Null(port.FallbackReason);
        Assert.Equal(new RingGeometry(65536, 1, 1584, 41), port.Geometry);
        Assert.Equal(41, port.TxFrameCount);
        Assert.Equal(1514, port.MaxFrameLength);
        Assert.True(_fake.FilterAttached);
        Assert.Equal(1, _fake.IntOptions[(Packet.SOL_PACKET, Packet.PACKET_LOSS)]);
        Assert.Equal(Packet.TPACKET_V2, _fake.IntOptions[(Packet.SOL_PACKET, Packet.PACKET_VERSION)]);
        Assert.Equal(65536u, _fake.TxRing!.Value.tp_block_size);
        // Nothing may arrive before the filter and the rings exist: bind comes last.
        Assert.Equal("bind", _fake.Calls[^1]);
        Assert.Equal(_fake.Index, _fake.BoundTo!.Value.sll_ifindex);
        Assert.Equal(0xA288, _fake.BoundTo!.Value.sll_protocol); // 0x88A2 in network byte order
        port.Dispose();
        Assert.Contains("munmap", _fake.Calls);
        Assert.True(_fake.Closed);
    }

    [Fact]
    public void Open_WhenTheKernelHasNo64KiBBlocks_TriesSmallerOnes()
    {
        _fake.RefuseBlocksFrom = 64 * 1024;
        using PacketPort port = Open(fallback: false);
        Assert.Equal(PacketPortMode.Ring, port.Mode);
        Assert.Equal(32 * 1024, port.Geometry.BlockSize);
        Assert.Equal(2, port.Geometry.BlockCount);
    }

    [Fact]
    public void Open_WithoutPacketLoss_UsesTheSocketTransport()
    {
        // CancelTx relies on the kernel skipping malformed frames; without PACKET_LOSS it stops at them.
        _fake.RefuseOption[Packet.PACKET_LOSS] = (int)Errno.ENOPROTOOPT;
        using PacketPort port = Open(fallback: false);
        Assert.Equal(PacketPortMode.Fallback, port.Mode);
        Assert.StartsWith("PACKET_LOSS: ", port.FallbackReason);
        Assert.Null(_fake.RxRing);
    }

    [Fact]
    public void Open_Loopback_IsServed_WithItsAllZeroMac()
    {
        _fake.HardwareType = IfArp.ARPHRD_LOOPBACK;
        _fake.Mac = new MacBytes(0);
        _fake.Mtu = 65536;
        using PacketPort port = Open(fallback: false);
        Assert.True(port.Interface.IsLoopback);
        Assert.Equal(0UL, port.Mac.Value);
        // No ring block holds a 64 KiB frame: the socket transport serves it, and says why.
        Assert.Equal(PacketPortMode.Fallback, port.Mode);
        Assert.Equal("no ring block size the kernel could allocate holds a frame for MTU 65536", port.FallbackReason);
        Assert.Equal(65550, port.MaxFrameLength);
    }

    [Theory]
    [InlineData(65534)] // ARPHRD_NONE: a tun device
    [InlineData(768)]   // ARPHRD_TUNNEL: ipip
    [InlineData(32)]    // ARPHRD_INFINIBAND
    public void Open_OtherHardwareTypes_AreRefused_AndTheSocketIsClosed(int type)
    {
        _fake.HardwareType = type;
        var e = Assert.Throws<NetworkException>(() => Open(fallback: false));
        Assert.Equal($"fake0: not an Ethernet interface (hardware type {type})", e.Message);
        Assert.True(_fake.Closed);
        Assert.Null(_fake.BoundTo);
    }

    // ---------------------------------------------------------------- TX full

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TxFull_IsCountedOncePerEpisode_WantsEpollOut_AndFramesComeBackLater(bool fallback)
    {
        using PacketPort port = Open(fallback);
        _fake.HoldInDriver = true; // a NIC: taken frames stay SENDING until it completes them
        int n = 0;
        while (port.TryGetTxBuffer(out int index, out Span<byte> buffer))
        {
            TestFrames.Fill(buffer.Slice(0, 60), Peer, port.Mac, n++, 0x18);
            port.CommitTx(index, 60);
        }
        Assert.Equal(port.TxFrameCount, n);
        for (int i = 0; i < 3; i++)
            Assert.False(port.TryGetTxBuffer(out _, out _));
        Assert.Equal(1UL, port.Counters.TxFullEvents);
        Assert.True(port.WantsWritable);
        Assert.Equal(0, port.TxRetryAtNanos);

        port.Kick();
        Assert.Equal(Range(0, n), _fake.SentSeqs());
        Assert.False(port.HasUnkickedTx);
        if (!fallback)
        {
            // Sent but still the driver's: not free yet, and still the same episode.
            Assert.False(port.TryGetTxBuffer(out _, out _));
            Assert.True(port.WantsWritable);
            Assert.Equal(1UL, port.Counters.TxFullEvents);
            _fake.CompleteDriver();
        }
        Assert.True(port.TryGetTxBuffer(out int again, out _));
        Assert.False(port.WantsWritable);
        port.CancelTx(again);
        port.Kick();

        // A second episode is a second event.
        while (port.TryGetTxBuffer(out int index, out _))
            port.CommitTx(index, 60);
        Assert.Equal(2UL, port.Counters.TxFullEvents);
    }

    // ---------------------------------------------------------------- EAGAIN

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Eagain_WaitsForEpollOut_KeepsTheFramesQueued_AndSendsThemInOrderLater(bool fallback)
    {
        using PacketPort port = OpenWithCommitted(fallback, 5);
        _fake.SendScript.Enqueue((int)Errno.EAGAIN);
        port.Kick();
        Assert.Empty(_fake.Sent);
        Assert.True(port.WantsWritable);
        Assert.True(port.HasUnkickedTx);
        Assert.Equal(0, port.TxRetryAtNanos);
        Assert.Equal(1UL, port.Counters.TxAgain);

        port.Kick(); // EPOLLOUT came
        Assert.Equal(Range(0, 5), _fake.SentSeqs());
        Assert.False(port.WantsWritable);
        Assert.False(port.HasUnkickedTx);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SendBufferFillingUpMidBatch_IsSeen_TheRestWaitsForEpollOut(bool fallback)
    {
        using PacketPort port = OpenWithCommitted(fallback, 10);
        // The ring's send() then returns the bytes of the frames it took, no error; sendmmsg the count.
        _fake.SendBufferRoom = 4;
        port.Kick();
        Assert.Equal(Range(0, 4), _fake.SentSeqs());
        Assert.True(port.HasUnkickedTx);
        Assert.True(port.WantsWritable);

        _fake.SendBufferRoom = -1;
        port.Kick();
        Assert.Equal(Range(0, 10), _fake.SentSeqs());
        Assert.False(port.WantsWritable);
    }

    // ---------------------------------------------------------------- ENOBUFS

    /// <summary>
    /// The qdisc refuses frames for 20 ms. After ENOBUFS the socket is writable (its own buffer is
    /// empty), so epoll reports EPOLLOUT at once: a port that asked for EPOLLOUT would wake the loop
    /// every turn for those 20 ms (here: one simulated microsecond per turn, 20,000 wake-ups). The port
    /// must instead give a retry deadline and be woken a handful of times.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Enobufs_BacksOffOnATimer_InsteadOfSpinningOnEpollOut(bool fallback)
    {
        using PacketPort port = OpenWithCommitted(fallback, 10);
        _fake.QdiscRoom = 3;
        _fake.Now = 1_000_000_000;
        long drainedAt = _fake.Now + 20_000_000;
        port.Kick();
        Assert.Equal(Range(0, 3), _fake.SentSeqs());
        Assert.False(port.WantsWritable);
        Assert.Equal(_fake.Now + 500_000, port.TxRetryAtNanos);
        Assert.Equal(1UL, port.Counters.TxNoBuffers);

        // The daemon's loop: EPOLLOUT when the port wants it (ready at once, as the real socket is),
        // otherwise sleep on the timer until the retry deadline; then Kick.
        int wakeups = 0, epollOut = 0;
        var delays = new List<long>();
        while (port.HasUnkickedTx)
        {
            Assert.True(wakeups < 1000, $"still not sent after {wakeups} wake-ups ({epollOut} on EPOLLOUT)");
            if (port.WantsWritable)
            {
                epollOut++;
                _fake.Now += 1_000;
            }
            else
            {
                Assert.NotEqual(0, port.TxRetryAtNanos);
                delays.Add(port.TxRetryAtNanos - _fake.Now);
                _fake.Now = port.TxRetryAtNanos;
            }
            wakeups++;
            if (_fake.Now >= drainedAt)
                _fake.QdiscRoom = -1;
            port.Kick();
        }
        Assert.Equal(Range(0, 10), _fake.SentSeqs());
        Assert.Equal(0, epollOut);
        // 0.5 + 1 + 2 + 4 + 8 ms refused (15.5 ms), then 8 ms more: drained at 23.5 ms.
        Assert.Equal([500_000L, 1_000_000, 2_000_000, 4_000_000, 8_000_000, 8_000_000], delays);
        Assert.Equal(6, wakeups);
        // One send per wake-up and the first Kick; sendmmsg reports a refusal after some frames on the next call.
        Assert.Equal(fallback ? 8 : 7, _fake.SendCalls);
        Assert.Equal(6UL, port.Counters.TxNoBuffers);
        Assert.Equal(0, port.TxRetryAtNanos);
        Assert.Equal(0UL, port.Counters.TxDropped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WhileBackingOff_AKickTriesAgainOnlyWithNewFrames_OrOnceTheDeadlinePassed(bool fallback)
    {
        using PacketPort port = Open(fallback);
        Commit(port, 0);
        _fake.QdiscRoom = 0;
        port.Kick();
        Assert.Equal(1, _fake.SendCalls);
        long retryAt = port.TxRetryAtNanos;

        // Kicked every turn with nothing new (the daemon's end of turn): no syscall.
        for (int i = 0; i < 100; i++)
            port.Kick();
        Assert.Equal(1, _fake.SendCalls);

        // New work is worth a try at once: that is one send per turn that has work, not a spin.
        _fake.QdiscRoom = -1;
        Commit(port, 1);
        port.Kick();
        Assert.Equal(2, _fake.SendCalls);
        Assert.Equal([0, 1], _fake.SentSeqs());
        Assert.Equal(0, port.TxRetryAtNanos);

        // A refusal again with nothing new: only the deadline brings the next send.
        Commit(port, 2);
        _fake.QdiscRoom = 0;
        port.Kick();
        retryAt = port.TxRetryAtNanos;
        Assert.Equal(_fake.Now + PacketTransport<FakePacketKernel>.FirstRetryNanos, retryAt); // a fresh episode starts over
        _fake.Now = retryAt - 1;
        port.Kick();
        Assert.Equal(3, _fake.SendCalls);
        _fake.Now = retryAt;
        _fake.QdiscRoom = -1;
        port.Kick();
        Assert.Equal(4, _fake.SendCalls);
        Assert.Equal([0, 1, 2], _fake.SentSeqs());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BackingOff_WithEveryFrameStuck_DoesNotAskForEpollOut_EvenWhenTxIsFull(bool fallback)
    {
        using PacketPort port = Open(fallback);
        _fake.QdiscRoom = 0;
        while (port.TryGetTxBuffer(out int index, out Span<byte> buffer))
        {
            TestFrames.Fill(buffer.Slice(0, 60), Peer, port.Mac, 0, 0x18);
            port.CommitTx(index, 60);
        }
        port.Kick();
        Assert.False(port.TryGetTxBuffer(out _, out _));
        Assert.False(port.WantsWritable); // EPOLLOUT would fire at once: the timer wakes us
        Assert.NotEqual(0, port.TxRetryAtNanos);
    }

    // ---------------------------------------------------------------- TP_STATUS_WRONG_FORMAT

    [Fact]
    public void WrongFormat_IsCounted_TheFrameReclaimed_AndTheFramesBehindItLeaveInTheSameKick()
    {
        using PacketPort port = OpenWithCommitted(fallback: false, 5);
        // As a kernel without PACKET_LOSS would: frame 2 is refused, marked, and the kernel stops there.
        _fake.WrongFormatFrame = 2;
        port.Kick();
        Assert.Equal([0, 1, 3, 4], _fake.SentSeqs());
        Assert.Equal(1UL, port.Counters.TxWrongFormat);
        Assert.Equal(2, _fake.SendCalls); // one retry past it, no loop
        Assert.Equal(Packet.TP_STATUS_AVAILABLE, _fake.TxStatus(2));
        Assert.False(port.HasUnkickedTx);
        Assert.False(port.WantsWritable);
        Assert.Equal(0UL, port.Counters.TxDropped);

        // Every frame is usable again, the refused one included.
        int reserved = 0;
        while (port.TryGetTxBuffer(out int index, out _))
        {
            port.CancelTx(index);
            reserved++;
        }
        Assert.Equal(port.TxFrameCount, reserved);
    }

    // ---------------------------------------------------------------- the link goes away

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LinkVanishingMidBatch_DropsAndCountsTheRest_ThrowsNothing_AndSaysSo(bool fallback)
    {
        using PacketPort port = OpenWithCommitted(fallback, 10);
        _fake.SendBufferRoom = 4;
        port.Kick();
        Assert.Equal(Range(0, 4), _fake.SentSeqs());

        _fake.Gone = true; // unregistered before the next send
        _fake.SendBufferRoom = -1;
        port.Kick();
        Assert.Equal((int)Errno.ENXIO, port.LinkError);
        Assert.Equal(6UL, port.Counters.TxDropped);
        Assert.Equal(1UL, port.Counters.TxErrors);
        Assert.False(port.WantsWritable);
        Assert.Equal(0, port.TxRetryAtNanos);
        Assert.Equal(4, _fake.Sent.Count);

        // The daemon may get here again before it closes the port: still nothing thrown, nothing re-counted.
        port.Kick();
        Assert.Equal(6UL, port.Counters.TxDropped);
        Assert.False(port.WantsWritable);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LinkDown_DropsTheQueuedFrames_AndWhenItComesBack_OnlyNewFramesLeave(bool fallback)
    {
        using PacketPort port = OpenWithCommitted(fallback, 5);
        _fake.Up = false;
        port.Kick();
        Assert.Equal((int)Errno.ENETDOWN, port.LinkError);
        Assert.Equal(5UL, port.Counters.TxDropped);
        Assert.Empty(_fake.Sent);

        _fake.Up = true;
        Commit(port, 100);
        port.Kick();
        Assert.Equal([100], _fake.SentSeqs()); // stale replies never reach the wire
        Assert.Equal(0, port.LinkError);
        Assert.False(port.HasUnkickedTx);
    }

    [Fact]
    public void SocketTransport_AFrameTheKernelRejects_IsDropped_AndTheOthersStillLeave()
    {
        using PacketPort port = Open(fallback: true);
        Commit(port, 0);
        Commit(port, 1);
        Commit(port, 2);
        // packet_snd refuses the first one (EMSGSIZE, as for a frame above the MTU).
        _fake.SendScript.Enqueue((int)Errno.EMSGSIZE);
        port.Kick();
        Assert.Equal([1, 2], _fake.SentSeqs());
        Assert.Equal(1UL, port.Counters.TxDropped);
        Assert.Equal(1UL, port.Counters.TxErrors);
        Assert.Equal(0, port.LinkError);
        Assert.False(port.HasUnkickedTx);
    }

    // ---------------------------------------------------------------- TX order and cancel

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CancelledAndUncommittedFrames_KeepReservationOrder(bool fallback)
    {
        using PacketPort port = Open(fallback);
        Assert.True(port.TryGetTxBuffer(out int a, out _));
        Assert.True(port.TryGetTxBuffer(out int b, out Span<byte> bufB));
        Assert.True(port.TryGetTxBuffer(out int c, out Span<byte> bufC));
        TestFrames.Fill(bufB.Slice(0, 60), Peer, port.Mac, 2, 0x18);
        TestFrames.Fill(bufC.Slice(0, 60), Peer, port.Mac, 3, 0x18);
        port.CommitTx(c, 60);
        port.CommitTx(b, 60);
        Assert.False(port.HasUnkickedTx); // held back by the first, still lent
        port.Kick();
        Assert.Equal(0, _fake.SendCalls);
        port.CancelTx(a);
        port.Kick();
        Assert.Equal([2, 3], _fake.SentSeqs());
        Assert.Throws<InvalidOperationException>(() => port.CommitTx(a, 60));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
        {
            Assert.True(port.TryGetTxBuffer(out int d, out _));
            port.CommitTx(d, port.MaxFrameLength + 1);
        });
    }

    // ---------------------------------------------------------------- RX

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rx_AFrameLongerThanAFrameOrSlot_IsCountedAndSkipped_NeverHandedOutCut(bool fallback)
    {
        using PacketPort port = Open(fallback);
        _fake.Deliver(TestFrames.Make(1600, port.Mac, Peer, 1));
        _fake.Deliver(TestFrames.Make(60, port.Mac, Peer, 2));
        Assert.True(port.TryReceive(out int index, out Span<byte> frame));
        Assert.Equal(60, frame.Length);
        Assert.Equal(2, TestFrames.Seq(frame));
        port.ReleaseRx(index);
        Assert.False(port.TryReceive(out _, out _));
        Assert.Equal(1UL, port.Counters.RxTruncated);
        Assert.Equal(1UL, port.Counters.FramesIn);
        Assert.Equal(60UL, port.Counters.BytesIn);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rx_FramesReleasedOutOfOrder_AndAHeldFrameStopsTheCursorAWholeRingLater(bool fallback)
    {
        using PacketPort port = Open(fallback);
        for (int i = 0; i < 3; i++)
            _fake.Deliver(TestFrames.Make(64, port.Mac, Peer, i));
        var held = new int[3];
        for (int i = 0; i < 3; i++)
        {
            Assert.True(port.TryReceive(out held[i], out Span<byte> f));
            Assert.Equal(i, TestFrames.Seq(f));
        }
        port.ReleaseRx(held[2]);
        port.ReleaseRx(held[1]);
        Assert.Throws<InvalidOperationException>(() => port.ReleaseRx(held[1]));

        // Keep the first one; cycle frames through the rest of the ring, up to the held one.
        int seq = 3;
        for (int i = 0; i < port.RxFrameCount - 3; i++)
        {
            _fake.Deliver(TestFrames.Make(64, port.Mac, Peer, seq));
            Assert.True(port.TryReceive(out int index, out Span<byte> f), $"frame {seq}");
            Assert.Equal(seq++, TestFrames.Seq(f));
            port.ReleaseRx(index);
        }
        // The cursor is back at the held frame: nothing comes out, whether the kernel dropped the next
        // frame (ring: its head is stuck there too) or queued it (socket).
        bool delivered = _fake.Deliver(TestFrames.Make(64, port.Mac, Peer, seq));
        Assert.Equal(fallback, delivered);
        Assert.False(port.TryReceive(out _, out _));

        port.ReleaseRx(held[0]);
        if (!delivered)
            Assert.True(_fake.Deliver(TestFrames.Make(64, port.Mac, Peer, seq)));
        Assert.True(port.TryReceive(out int last, out Span<byte> lastFrame));
        Assert.Equal(seq, TestFrames.Seq(lastFrame));
        port.ReleaseRx(last);
        port.ReadKernelStatistics();
        Assert.Equal(fallback ? 0UL : 1UL, port.Counters.KernelDrops);
    }

    [Fact]
    public void SocketTransport_ReceivesABurstWithOneRecvmmsg()
    {
        using PacketPort port = Open(fallback: true);
        for (int i = 0; i < 10; i++)
            _fake.Deliver(TestFrames.Make(60 + i, port.Mac, Peer, i));
        for (int i = 0; i < 10; i++)
        {
            Assert.True(port.TryReceive(out int index, out Span<byte> frame));
            Assert.Equal(60 + i, frame.Length);
            Assert.Equal(i, TestFrames.Seq(frame));
            port.ReleaseRx(index);
        }
        Assert.Equal(1, _fake.ReceiveCalls);
    }

    // ---------------------------------------------------------------- MAC and MTU changes

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LinkChanges_NewMacAndFittingMtuApplyInPlace_ALargerMtuNeedsAReopen(bool fallback)
    {
        using PacketPort port = Open(fallback);
        Assert.Equal(LinkChange.None, port.ApplyLinkChange(_fake.Mac, 1500));

        var moved = new MacBytes(0x02_00_00_00_00_99);
        Assert.Equal(LinkChange.Applied, port.ApplyLinkChange(moved, 1500));
        Assert.Equal(moved, port.Mac);
        Assert.Equal(moved, port.Interface.Mac);
        Commit(port, 1);
        port.Kick();
        Assert.Equal(moved, MacBytes.Read(_fake.Sent[0].AsSpan(6))); // Commit writes port.Mac as the source

        Assert.Equal(LinkChange.Applied, port.ApplyLinkChange(moved, 1400));
        Assert.Equal(1414, port.MaxFrameLength);
        Assert.True(port.TryGetTxBuffer(out int index, out Span<byte> buffer));
        Assert.Equal(1414, buffer.Length);
        port.CancelTx(index);
        Assert.Equal(LinkChange.None, port.ApplyLinkChange(moved, -1)); // no IFLA_MTU: keep it

        Assert.Equal(LinkChange.NeedsReopen, port.ApplyLinkChange(moved, 9000));
        Assert.False(port.FitsMtu);
        Assert.Equal(9000, port.Interface.Mtu);
        Assert.Equal(LinkChange.NeedsReopen, port.ApplyLinkChange(moved, 9000)); // still true when told again

        Assert.Equal(LinkChange.Applied, port.ApplyLinkChange(moved, 1500));
        Assert.True(port.FitsMtu);
        Assert.Equal(1514, port.MaxFrameLength);
    }

    [Fact]
    public void RefreshInterface_ReadsTheMacAndMtuThroughThePortsOwnSocket()
    {
        using PacketPort port = Open(fallback: false);
        _fake.Mac = new MacBytes(0x02_00_00_00_00_42);
        Assert.Equal(LinkChange.Applied, port.RefreshInterface());
        Assert.Equal(_fake.Mac, port.Mac);
        _fake.Mtu = 9000;
        Assert.False(port.RefreshMtu());
        _fake.Gone = true;
        Assert.Equal((int)Errno.ENODEV, Assert.Throws<NetworkException>(() => port.RefreshInterface()).Errno);
    }
}
