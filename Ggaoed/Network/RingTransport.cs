using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// The TPACKET_V2 transport: an RX ring and a TX ring of the same <see cref="RingGeometry"/>, mapped
/// once (RX first, TX right after it) and shared with the kernel, which hands frames over through each
/// frame's tp_status. The borrow contract is <see cref="PacketPort"/>'s.
/// <para><b>RX.</b> The kernel fills frames in ring order and sets TP_STATUS_USER; we lend them out and
/// give each back by writing TP_STATUS_KERNEL (release). The kernel never looks at a frame we hold, but
/// it stops filling at it when it comes round again (and counts drops).</para>
/// <para><b>TX.</b> Frames are reserved in ring order. Committing writes tp_len and then
/// TP_STATUS_SEND_REQUEST (release); the kernel's send() walks the ring from its own head, taking
/// SEND_REQUEST frames until it meets one that is not (a reserved, uncommitted frame stops it there:
/// frames leave in reservation order). A cancelled frame is committed with tp_len 0, which the kernel
/// skips because PACKET_LOSS is set (a ring is only built when it is). We track the oldest frame the
/// kernel has not taken yet, so after every send we know which frames are still queued and which the
/// kernel refused (TP_STATUS_WRONG_FORMAT).</para>
/// </summary>
internal sealed unsafe class RingTransport<TKernel> : PacketTransport<TKernel> where TKernel : struct, IPacketKernel
{
    private byte* _map;
    private readonly nuint _mapLength;
    private byte* _rxBase;
    private byte* _txBase;
    private readonly int _frames;
    private readonly int _frameSize;
    private readonly int _framesPerBlock;
    private readonly int _blockSize;
    private readonly byte[] _rxState;
    private readonly byte[] _txState;
    private int _rxHead;
    private int _txHead;        // next frame to reserve
    private int _txOldest;      // oldest reserved frame the kernel has not taken (== _txHead when none)
    private int _txOutstanding; // frames from _txOldest on that are lent or queued

    private RingTransport(TKernel kernel, int fd, RingGeometry geometry, byte* map, nuint mapLength)
        // The kernel caps a TX frame at MTU + 14 + 4 and an RX frame at what the frame holds.
        : base(kernel, fd, Math.Min(geometry.MaxRxFrameLength, geometry.MaxTxFrameLength))
    {
        Geometry = geometry;
        _map = map;
        _mapLength = mapLength;
        _rxBase = map;
        _txBase = map + geometry.RingBytes;
        _frames = geometry.FrameCount;
        _frameSize = geometry.FrameSize;
        _framesPerBlock = geometry.FramesPerBlock;
        _blockSize = geometry.BlockSize;
        _rxState = new byte[_frames];
        _txState = new byte[_frames];
    }

    public RingGeometry Geometry { get; }

    public override PacketPortMode Mode => PacketPortMode.Ring;

    public override int RxFrameCount => _frames;

    public override int TxFrameCount => _frames;

    /// <summary>
    /// Sets up both rings on a socket that is not bound yet (so nothing arrives before they exist):
    /// the largest block size the kernel can allocate, one mapping. Returns null with the reason when
    /// the kernel refuses; the socket is then left without rings, fit for the socket transport.
    /// </summary>
    public static RingTransport<TKernel>? TryCreate(ref TKernel kernel, int fd, int mtu, PacketPortOptions options, out string? why)
    {
        why = null;
        int err = SetInt(ref kernel, fd, Packet.SOL_PACKET, Packet.PACKET_VERSION, Packet.TPACKET_V2);
        if (err != 0)
        {
            why = "PACKET_VERSION TPACKET_V2: " + ErrnoText.Describe(err);
            return null;
        }
        // PACKET_LOSS: a TX frame the kernel can't send (bad length) is marked available and skipped
        // instead of stopping the ring at TP_STATUS_WRONG_FORMAT, which would hold back every later
        // frame. CancelTx relies on it, so no ring without it. Must be set before the rings exist (EBUSY after).
        err = SetInt(ref kernel, fd, Packet.SOL_PACKET, Packet.PACKET_LOSS, 1);
        if (err != 0)
        {
            why = "PACKET_LOSS: " + ErrnoText.Describe(err);
            return null;
        }

        long perRing = (long)options.RingBufferSizeKiB * 1024 / 2;
        int pageSize = Environment.SystemPageSize;
        Span<RingGeometry> candidates = stackalloc RingGeometry[RingGeometry.BlockSizes.Length];
        int count = RingGeometry.Candidates(perRing, mtu, pageSize, RingGeometry.MaxBlocksForThisMachine, candidates);
        for (int c = 0; c < count; c++)
        {
            RingGeometry g = candidates[c];
            var req = new tpacket_req
            {
                tp_block_size = (uint)g.BlockSize,
                tp_block_nr = (uint)g.BlockCount,
                tp_frame_size = (uint)g.FrameSize,
                tp_frame_nr = (uint)g.FrameCount,
            };
            err = -kernel.SetSockOpt(fd, Packet.SOL_PACKET, Packet.PACKET_RX_RING, &req, sizeof(tpacket_req));
            if (err != 0)
            {
                if (err == (int)Errno.ENOMEM)
                    continue; // the kernel could not find blocks this large: try smaller ones
                why = "PACKET_RX_RING: " + ErrnoText.Describe(err);
                return null;
            }
            err = -kernel.SetSockOpt(fd, Packet.SOL_PACKET, Packet.PACKET_TX_RING, &req, sizeof(tpacket_req));
            if (err != 0)
            {
                DropRing(ref kernel, fd, Packet.PACKET_RX_RING);
                if (err == (int)Errno.ENOMEM)
                    continue;
                why = "PACKET_TX_RING: " + ErrnoText.Describe(err);
                return null;
            }

            // One mapping: the RX ring first, the TX ring right after it (packet_mmap requires exactly
            // the sum of both rings).
            nuint length = (nuint)(2 * g.RingBytes);
            err = -kernel.Map(fd, length, out byte* map);
            if (err != 0)
            {
                DropRing(ref kernel, fd, Packet.PACKET_TX_RING);
                DropRing(ref kernel, fd, Packet.PACKET_RX_RING);
                why = "mmap of the rings: " + ErrnoText.Describe(err);
                return null;
            }
            // The TX ring is the real send queue; the socket's send buffer must not be what stops a
            // full ring from going out in one Kick (tpacket_snd charges every in-flight frame to it).
            SetBuffer(ref kernel, fd, Libc.SO_SNDBUFFORCE, Libc.SO_SNDBUF, g.RingBytes);
            if (options.QdiscBypass)
                SetInt(ref kernel, fd, Packet.SOL_PACKET, Packet.PACKET_QDISC_BYPASS, 1);
            return new RingTransport<TKernel>(kernel, fd, g, map, length);
        }
        why = "no ring block size the kernel could allocate holds a frame for MTU " + mtu.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return null;
    }

    private static void DropRing(ref TKernel kernel, int fd, int option)
    {
        tpacket_req none = default;
        kernel.SetSockOpt(fd, Packet.SOL_PACKET, option, &none, sizeof(tpacket_req));
    }

    // ---------------------------------------------------------------- RX

    public override bool TryReceive(out int index, out Span<byte> frame)
    {
        while (true)
        {
            int i = _rxHead;
            if (_rxState[i] != SlotFree)
                break; // still lent out: the caller holds a whole ring's worth of frames
            tpacket2_hdr* hdr = Frame(_rxBase, i);
            uint status = Volatile.Read(ref hdr->tp_status);
            if ((status & Packet.TP_STATUS_USER) == 0)
                break;
            _rxHead = Next(i, _frames);
            uint snap = hdr->tp_snaplen;
            if (snap != hdr->tp_len || hdr->tp_mac + snap > (uint)_frameSize)
            {
                // Larger than the frame (only possible above the MTU): never hand out a cut request.
                _counters.RxTruncated++;
                Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_KERNEL);
                continue;
            }
            _rxState[i] = SlotLent;
            _counters.FramesIn++;
            _counters.BytesIn += snap;
            index = i;
            frame = new Span<byte>((byte*)hdr + hdr->tp_mac, (int)snap);
            return true;
        }
        index = -1;
        frame = default;
        return false;
    }

    public override void ReleaseRx(int index)
    {
        CheckLent(_rxState, index);
        _rxState[index] = SlotFree;
        Volatile.Write(ref Frame(_rxBase, index)->tp_status, Packet.TP_STATUS_KERNEL);
    }

    // ---------------------------------------------------------------- TX

    /// <summary>TX statuses that mean "the kernel still owns this frame" (the ring's own TP_STATUS_AVAILABLE is 0).</summary>
    private const uint KernelOwned = Packet.TP_STATUS_SEND_REQUEST | Packet.TP_STATUS_SENDING | Packet.TP_STATUS_WRONG_FORMAT;

    public override bool HasUnkickedTx => _txOutstanding > 0 && _txState[_txOldest] == SlotQueued;

    public override bool TryGetTxBuffer(out int index, out Span<byte> buffer)
    {
        if (_txOutstanding == _frames)
            return TxFull(out index, out buffer);
        int i = _txHead;
        tpacket2_hdr* hdr = Frame(_txBase, i);
        // Taken by the kernel but not sent yet (SENDING: the driver still holds it).
        if ((Volatile.Read(ref hdr->tp_status) & KernelOwned) != 0)
            return TxFull(out index, out buffer);
        _txState[i] = SlotLent;
        _txHead = Next(i, _frames);
        _txOutstanding++;
        TxReserved();
        index = i;
        buffer = new Span<byte>((byte*)hdr + RingGeometry.TxDataOffset, MaxFrameLength);
        return true;
    }

    public override void CommitTx(int index, int length)
    {
        CheckLent(_txState, index);
        CheckLength(length);
        Queue(index, length);
        Committed(length);
    }

    public override void CancelTx(int index)
    {
        CheckLent(_txState, index);
        // Length 0 is malformed; with PACKET_LOSS the kernel marks it available and moves on.
        Queue(index, 0);
        Cancelled();
    }

    private void Queue(int index, int length)
    {
        tpacket2_hdr* hdr = Frame(_txBase, index);
        hdr->tp_len = (uint)length;
        _txState[index] = SlotQueued;
        Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_SEND_REQUEST);
    }

    protected override int Flush()
    {
        _counters.Kicks++;
        nint n = _kernel.Send(Fd, null, 0, Libc.MSG_DONTWAIT);
        if (Reap())
        {
            // The kernel refused a frame and stopped at it; given back as a cancelled frame, it is
            // skipped now, and the frames behind it leave with this Kick. Once per Kick: a second
            // refusal waits for the next one, so a broken ring can't keep us here.
            _counters.Kicks++;
            n = _kernel.Send(Fd, null, 0, Libc.MSG_DONTWAIT);
            Reap();
        }
        if (!HasUnkickedTx)
            return 0;
        // Frames are left: the send failed, or it stopped early without an error, which tpacket_snd
        // does when the socket's send buffer is full after it sent some (it returns their bytes).
        return n < 0 ? (int)-n : (int)Errno.EAGAIN;
    }

    /// <summary>
    /// Moves past the frames the kernel took since the last look (SENDING or already AVAILABLE again).
    /// Returns true when it stopped at a frame the kernel refused (TP_STATUS_WRONG_FORMAT), which it
    /// has re-queued as a cancelled frame.
    /// </summary>
    private bool Reap()
    {
        while (_txOutstanding > 0)
        {
            int i = _txOldest;
            if (_txState[i] != SlotQueued)
                return false; // lent: the kernel stopped here too
            tpacket2_hdr* hdr = Frame(_txBase, i);
            uint status = Volatile.Read(ref hdr->tp_status);
            if ((status & Packet.TP_STATUS_WRONG_FORMAT) != 0)
            {
                _counters.TxWrongFormat++;
                hdr->tp_len = 0;
                Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_SEND_REQUEST);
                return true;
            }
            if ((status & Packet.TP_STATUS_SEND_REQUEST) != 0)
                return false; // not taken yet
            _txState[i] = SlotFree;
            _txOldest = Next(i, _frames);
            _txOutstanding--;
        }
        return false;
    }

    protected override int DropQueued()
    {
        // The kernel only touches SEND_REQUEST frames inside our own send(), so rewriting them between
        // sends is safe. Turned into cancelled frames, they are skipped if the link comes back.
        int dropped = 0;
        for (int k = 0, i = _txOldest; k < _txOutstanding; k++, i = Next(i, _frames))
        {
            if (_txState[i] != SlotQueued)
                continue;
            tpacket2_hdr* hdr = Frame(_txBase, i);
            if ((Volatile.Read(ref hdr->tp_status) & Packet.TP_STATUS_SEND_REQUEST) == 0 || hdr->tp_len == 0)
                continue;
            hdr->tp_len = 0;
            dropped++;
        }
        return dropped;
    }

    protected override void FreeMemory()
    {
        if (_map != null)
        {
            _kernel.Unmap(_map, _mapLength);
            _map = null;
        }
        _rxBase = _txBase = null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private tpacket2_hdr* Frame(byte* ringBase, int index)
    {
        // Frames never straddle blocks: the tail of each block (WastePerBlock) is skipped.
        int block = index / _framesPerBlock;
        int inBlock = index - block * _framesPerBlock;
        return (tpacket2_hdr*)(ringBase + (nint)block * _blockSize + (nint)inBlock * _frameSize);
    }
}
