using System;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>How a <see cref="PacketPort"/> moves frames.</summary>
internal enum PacketPortMode
{
    /// <summary>TPACKET_V2 RX and TX rings shared with the kernel through one mmap.</summary>
    Ring,

    /// <summary>Plain recv/send on the same socket (rings disabled or refused by the kernel).</summary>
    Fallback,
}

/// <summary>Settings of one port, from the config's per-interface values.</summary>
internal sealed record PacketPortOptions
{
    /// <summary>ring-buffer-size: KiB for the RX and TX rings together, split evenly; 0 disables the rings.</summary>
    public int RingBufferSizeKiB { get; init; } = 4096;

    /// <summary>receive-buffer-size: KiB for SO_RCVBUF in fallback mode; 0 keeps the kernel default.</summary>
    public int ReceiveBufferSizeKiB { get; init; }

    /// <summary>send-buffer-size: KiB for SO_SNDBUF in fallback mode; 0 keeps the kernel default.</summary>
    public int SendBufferSizeKiB { get; init; }

    /// <summary>Use fallback mode even when rings would work (tests, or a kernel with broken rings).</summary>
    public bool ForceFallback { get; init; }

    /// <summary>
    /// PACKET_QDISC_BYPASS for TX. Off by default: on a real NIC the qdisc absorbs bursts when the driver
    /// queue is full, while the bypass path drops the frame (packet_direct_xmit), and a lost AoE response
    /// costs the initiator a retransmit timeout, far more than the qdisc's lock. On veth (noqueue) both
    /// paths go straight to the driver.
    /// </summary>
    public bool QdiscBypass { get; init; }
}

/// <summary>Per-port counters for <c>ggaoectl stats</c>. Plain fields: one thread updates them.</summary>
internal struct PacketPortCounters
{
    /// <summary>Frames handed to the caller by TryReceive.</summary>
    public ulong FramesIn;
    public ulong BytesIn;

    /// <summary>Frames committed for sending (ring mode) or sent (fallback).</summary>
    public ulong FramesOut;
    public ulong BytesOut;

    /// <summary>Frames the kernel dropped because the RX ring/socket queue was full (PACKET_STATISTICS).</summary>
    public ulong KernelDrops;

    /// <summary>Frames the kernel counted for this socket, drops included (PACKET_STATISTICS).</summary>
    public ulong KernelPackets;

    /// <summary>Times TryGetTxBuffer found no free frame (counted once per full episode, not per call).</summary>
    public ulong TxFullEvents;

    /// <summary>TX frames the kernel rejected as malformed and handed back (TP_STATUS_WRONG_FORMAT).</summary>
    public ulong TxWrongFormat;

    /// <summary>
    /// Sends that failed with an error other than "try again" (e.g. ENETDOWN). Fallback: the frame is
    /// dropped. Ring: the frames stay queued for the next Kick.
    /// </summary>
    public ulong TxErrors;

    /// <summary>Received frames longer than a ring frame or buffer; dropped, never handed out cut short.</summary>
    public ulong RxTruncated;

    /// <summary>send() calls made to flush the TX ring or staging area.</summary>
    public ulong Kicks;
}

/// <summary>
/// One interface's AoE packet socket: AF_PACKET/SOCK_RAW bound to EtherType 0x88A2 on one ifindex, with
/// <see cref="AoeSocketFilter"/> attached, and (normally) TPACKET_V2 RX and TX rings in one mmap.
/// Single-threaded: the reactor that owns it calls everything from its loop thread.
/// <para><b>RX borrow contract.</b> <see cref="TryReceive"/> lends the caller a frame: the span points
/// into the ring (or the fallback buffer) and is valid until <see cref="ReleaseRx"/> is called with its
/// index; after that the kernel may overwrite it at any moment. Frames may be released in any order. A
/// frame held back stops TryReceive when its cursor comes round to it again (the kernel stops filling
/// at that frame too, and counts drops): hold few frames, briefly. The intended use is to copy the
/// payload out (or act on it) and release immediately, in order.</para>
/// <para><b>TX ownership.</b> <see cref="TryGetTxBuffer"/> reserves the next frame in ring order and
/// lends the caller its data area (up to <see cref="MaxFrameLength"/> bytes). Every reserved frame must be
/// either committed (<see cref="CommitTx"/>) or cancelled (<see cref="CancelTx"/>); reserved frames may
/// be committed out of order, but frames leave in reservation order, so an uncommitted frame holds back
/// the ones reserved after it. After CommitTx the buffer belongs to the kernel. Nothing leaves until
/// <see cref="Kick"/>, which the reactor calls once per loop turn.</para>
/// <para><b>epoll.</b> EPOLLIN on <see cref="Fd"/> is level-triggered on the ring too: the kernel
/// reports readable while the newest filled frame has not been handed back, so drain with TryReceive
/// until it returns false and release what you took, or the loop spins.</para>
/// <para><b>Lifetime.</b> No finalizer: the owner disposes the port (munmap + close). The fd, frame
/// spans and indexes are invalid afterwards.</para>
/// <para><b>MTU changes.</b> Frame sizes follow the MTU at open time. After <see cref="RefreshMtu"/>
/// reports that the new MTU no longer fits, close the port and open a new one (a live ring cannot be
/// resized while mapped).</para>
/// </summary>
internal sealed unsafe class PacketPort : IDisposable
{
    /// <summary>Fallback mode: receive slots, so the RX borrow contract is the same as with a ring.</summary>
    public const int FallbackRxSlots = 16;

    /// <summary>Fallback mode: TX staging slots, enough for a loop turn's burst of responses.</summary>
    public const int FallbackTxSlots = 64;

    // Slot states kept by us (the kernel's tp_status says nothing about "lent to the caller").
    private const byte SlotFree = 0;
    private const byte SlotLent = 1;
    private const byte SlotCommitted = 2;
    private const byte SlotCancelled = 3;

    private int _fd;
    private byte* _map;
    private nuint _mapLength;
    private byte* _fallbackMemory;

    private byte* _rxBase;
    private byte* _txBase;
    private int _rxFrames;
    private int _txFrames;
    private int _frameSize;
    private int _framesPerBlock;
    private int _blockSize;
    private int _rxHead;
    private int _txHead;
    private int _txSendHead; // fallback only: next staged slot to send
    private readonly byte[] _rxState;
    private readonly byte[] _txState;
    private readonly int[] _txLength; // fallback only: a staged frame's length (a ring keeps it in tp_len)
    private bool _txUnkicked;
    private bool _txFull;
    private bool _txBlocked;
    private int _frameCapacity;

    private PacketPortCounters _counters;

    private PacketPort(string name, int fd, int rxSlots, int txSlots)
    {
        Name = name;
        _fd = fd;
        _rxState = new byte[rxSlots];
        _txState = new byte[txSlots];
        _txLength = new int[txSlots];
    }

    public string Name { get; }

    /// <summary>The socket, for epoll: EPOLLIN when a frame is ready, EPOLLOUT when TX has room again.</summary>
    public int Fd => _fd;

    public InterfaceInfo Interface { get; private set; }

    public PacketPortMode Mode { get; private set; }

    /// <summary>Geometry of each ring (RX and TX are the same) in ring mode; default in fallback mode.</summary>
    public RingGeometry Geometry { get; private set; }

    /// <summary>Why the port is in fallback mode (null in ring mode): for the log.</summary>
    public string? FallbackReason { get; private set; }

    public int Mtu { get; private set; }

    /// <summary>Largest frame (14-byte Ethernet header + payload) the port sends: MTU + 14, within a frame.</summary>
    public int MaxFrameLength => Math.Min(Mtu + Packet.ETH_HLEN, _frameCapacity);

    /// <summary>True when the current MTU's full-size frames fit the frames set up at open time.</summary>
    public bool FitsMtu => Mtu + Packet.ETH_HLEN <= _frameCapacity;

    public int RxFrameCount => _rxFrames;

    public int TxFrameCount => _txFrames;

    public ref readonly PacketPortCounters Counters => ref _counters;

    /// <summary>
    /// True when TX could not make progress: TryGetTxBuffer found no free frame, or Kick was told to try
    /// again. The reactor then asks for EPOLLOUT on <see cref="Fd"/> (or retries next turn), and on
    /// EPOLLOUT calls Kick and retries its queued responses. "No free frame" clears on the next
    /// successful TryGetTxBuffer, "try again" on the next successful Kick; a reactor with nothing left
    /// to send should simply drop EPOLLOUT interest
    /// (EPOLLOUT is level-triggered: in ring mode it means "the kernel's next TX frame is available").
    /// </summary>
    public bool WantsWritable => _txFull || _txBlocked;

    /// <summary>Frames committed but not yet handed to the kernel by a Kick.</summary>
    public bool HasUnkickedTx => _txUnkicked;

    /// <summary>
    /// Opens the port on an interface of the calling thread's network namespace.
    /// </summary>
    /// <exception cref="NetworkException">The interface does not exist, is not Ethernet, or a socket call failed.</exception>
    public static PacketPort Open(string interfaceName, PacketPortOptions options)
    {
        // Protocol 0 until bind: the socket receives nothing before the filter and rings are in place,
        // so no unfiltered frame can sit in its queue.
        int fd = Libc.socket(Libc.AF_PACKET, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
            NetworkException.ThrowLast(interfaceName, "socket(AF_PACKET)");
        PacketPort? port = null;
        try
        {
            InterfaceInfo info = InterfaceInfo.Query(fd, interfaceName);
            // AoE runs over Ethernet only (its frames are Ethernet II frames with EtherType 0x88A2).
            if (!info.IsEthernet)
                throw new NetworkException(interfaceName, "not an Ethernet interface");
            int err = AoeSocketFilter.Attach(fd);
            if (err != 0)
                throw new NetworkException(interfaceName, "SO_ATTACH_FILTER", err);
            // Kernel ≥ 4.20; older kernels don't loop outgoing frames to a protocol-bound socket anyway
            // (dev_queue_xmit_nit only feeds ETH_P_ALL taps), so ENOPROTOOPT is fine.
            SetInt(fd, Packet.SOL_PACKET, Packet.PACKET_IGNORE_OUTGOING, 1);

            string? why = null;
            if (options.ForceFallback)
                why = "rings disabled by configuration";
            else if (options.RingBufferSizeKiB <= 0)
                why = "ring-buffer-size is 0";
            else
                port = TryOpenRings(fd, info, options, out why);
            port ??= OpenFallback(fd, info, options, why!);
            port.Interface = info;
            port.Mtu = info.Mtu;

            var addr = new sockaddr_ll
            {
                sll_family = Libc.AF_PACKET,
                sll_protocol = HostToNetwork(Packet.ETH_P_AOE),
                sll_ifindex = info.Index,
            };
            if (Libc.bind(fd, &addr, (uint)sizeof(sockaddr_ll)) != 0)
                NetworkException.ThrowLast(interfaceName, "bind(AF_PACKET)");
            return port;
        }
        catch
        {
            if (port != null)
                port.Dispose();
            else
                Libc.close(fd);
            throw;
        }
    }

    private static PacketPort? TryOpenRings(int fd, InterfaceInfo info, PacketPortOptions options, out string? why)
    {
        why = null;
        if (!SetInt(fd, Packet.SOL_PACKET, Packet.PACKET_VERSION, Packet.TPACKET_V2, out int err))
        {
            why = "PACKET_VERSION TPACKET_V2: " + Marshal.GetPInvokeErrorMessage(err);
            return null;
        }
        // PACKET_LOSS: a TX frame the kernel can't send (bad length) is marked available and skipped
        // instead of stopping the ring at TP_STATUS_WRONG_FORMAT, which would hold back every later
        // frame. CancelTx relies on it. Must be set before the rings exist (EBUSY after).
        SetInt(fd, Packet.SOL_PACKET, Packet.PACKET_LOSS, 1);

        long perRing = (long)options.RingBufferSizeKiB * 1024 / 2;
        int pageSize = Environment.SystemPageSize;
        Span<RingGeometry> candidates = stackalloc RingGeometry[RingGeometry.BlockSizes.Length];
        int count = RingGeometry.Candidates(perRing, info.Mtu, pageSize, RingGeometry.MaxBlocksForThisMachine, candidates);
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
            if (Libc.setsockopt(fd, Packet.SOL_PACKET, Packet.PACKET_RX_RING, &req, (uint)sizeof(tpacket_req)) != 0)
            {
                err = Marshal.GetLastPInvokeError();
                if (err == (int)Errno.ENOMEM)
                    continue; // the kernel could not find blocks this large: try smaller ones
                why = "PACKET_RX_RING: " + Marshal.GetPInvokeErrorMessage(err);
                return null;
            }
            if (Libc.setsockopt(fd, Packet.SOL_PACKET, Packet.PACKET_TX_RING, &req, (uint)sizeof(tpacket_req)) != 0)
            {
                err = Marshal.GetLastPInvokeError();
                DropRing(fd, Packet.PACKET_RX_RING);
                if (err == (int)Errno.ENOMEM)
                    continue;
                why = "PACKET_TX_RING: " + Marshal.GetPInvokeErrorMessage(err);
                return null;
            }

            // One mapping: the RX ring first, the TX ring right after it (packet_mmap requires exactly
            // the sum of both rings).
            nuint length = (nuint)(2 * g.RingBytes);
            void* map = Libc.mmap(null, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
            if (map == (void*)-1)
            {
                err = Marshal.GetLastPInvokeError();
                DropRing(fd, Packet.PACKET_TX_RING);
                DropRing(fd, Packet.PACKET_RX_RING);
                why = "mmap of the rings: " + Marshal.GetPInvokeErrorMessage(err);
                return null;
            }
            // The TX ring is the real send queue; the socket's send buffer must not be what stops a
            // full ring from going out in one Kick (tpacket_snd charges every in-flight frame to it).
            SetBuffer(fd, Libc.SO_SNDBUFFORCE, Libc.SO_SNDBUF, g.RingBytes);
            if (options.QdiscBypass)
                SetInt(fd, Packet.SOL_PACKET, Packet.PACKET_QDISC_BYPASS, 1);

            var port = new PacketPort(info.Name, fd, g.FrameCount, g.FrameCount)
            {
                Mode = PacketPortMode.Ring,
                Geometry = g,
                _map = (byte*)map,
                _mapLength = length,
                _rxBase = (byte*)map,
                _txBase = (byte*)map + g.RingBytes,
                _rxFrames = g.FrameCount,
                _txFrames = g.FrameCount,
                _frameSize = g.FrameSize,
                _framesPerBlock = g.FramesPerBlock,
                _blockSize = g.BlockSize,
                // The kernel caps a TX frame at MTU + 14 + 4 and an RX frame at what the frame holds.
                _frameCapacity = Math.Min(g.MaxRxFrameLength, g.MaxTxFrameLength),
            };
            return port;
        }
        why = "no ring block size the kernel could allocate holds a frame for MTU " + info.Mtu.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return null;
    }

    private static PacketPort OpenFallback(int fd, InterfaceInfo info, PacketPortOptions options, string why)
    {
        if (options.ReceiveBufferSizeKiB > 0)
            SetBuffer(fd, Libc.SO_RCVBUFFORCE, Libc.SO_RCVBUF, (long)options.ReceiveBufferSizeKiB * 1024);
        if (options.SendBufferSizeKiB > 0)
            SetBuffer(fd, Libc.SO_SNDBUFFORCE, Libc.SO_SNDBUF, (long)options.SendBufferSizeKiB * 1024);
        // Slots hold a full-size frame plus a VLAN tag's worth, so a slightly oversized frame shows up
        // as truncated (MSG_TRUNC) instead of being cut silently.
        int slot = RingGeometry.Align(info.Mtu + Packet.ETH_HLEN + 4);
        nuint bytes = (nuint)slot * (FallbackRxSlots + FallbackTxSlots);
        byte* memory = (byte*)NativeMemory.AlignedAlloc(bytes, 64);
        return new PacketPort(info.Name, fd, FallbackRxSlots, FallbackTxSlots)
        {
            Mode = PacketPortMode.Fallback,
            FallbackReason = why,
            _fallbackMemory = memory,
            _rxBase = memory,
            _txBase = memory + (nuint)slot * FallbackRxSlots,
            _rxFrames = FallbackRxSlots,
            _txFrames = FallbackTxSlots,
            _frameSize = slot,
            _framesPerBlock = 1,
            _blockSize = slot,
            _frameCapacity = slot,
        };
    }

    // ---------------------------------------------------------------- RX

    /// <summary>
    /// Lends the next received frame, if one is ready: <paramref name="frame"/> spans the whole Ethernet
    /// frame (destination MAC first) exactly as received, which may be shorter than 60 bytes (veth does
    /// not pad). Valid until <see cref="ReleaseRx"/>(<paramref name="index"/>). Never allocates.
    /// </summary>
    public bool TryReceive(out int index, out Span<byte> frame)
    {
        if (Mode == PacketPortMode.Ring)
            return TryReceiveRing(out index, out frame);
        return TryReceiveFallback(out index, out frame);
    }

    private bool TryReceiveRing(out int index, out Span<byte> frame)
    {
        while (true)
        {
            int i = _rxHead;
            if (_rxState[i] != SlotFree)
                break; // still lent out: the caller holds a whole ring's worth of frames
            tpacket2_hdr* hdr = (tpacket2_hdr*)FrameAddress(_rxBase, i);
            uint status = Volatile.Read(ref hdr->tp_status);
            if ((status & Packet.TP_STATUS_USER) == 0)
                break;
            _rxHead = i + 1 == _rxFrames ? 0 : i + 1;
            uint snap = hdr->tp_snaplen;
            if (snap != hdr->tp_len)
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

    private bool TryReceiveFallback(out int index, out Span<byte> frame)
    {
        while (true)
        {
            int i = _rxHead;
            if (_rxState[i] != SlotFree)
                break;
            byte* slot = _rxBase + (nint)i * _frameSize;
            nint n = Libc.recv(_fd, slot, (nuint)_frameSize, Libc.MSG_DONTWAIT | Libc.MSG_TRUNC);
            if (n < 0)
                break; // EAGAIN: nothing queued (any other error on a bound packet socket is not per-frame)
            if (n > _frameSize)
            {
                _counters.RxTruncated++;
                continue;
            }
            _rxHead = i + 1 == _rxFrames ? 0 : i + 1;
            _rxState[i] = SlotLent;
            _counters.FramesIn++;
            _counters.BytesIn += (ulong)n;
            index = i;
            frame = new Span<byte>(slot, (int)n);
            return true;
        }
        index = -1;
        frame = default;
        return false;
    }

    /// <summary>Gives a frame from <see cref="TryReceive"/> back; its span must not be used afterwards.</summary>
    public void ReleaseRx(int index)
    {
        if ((uint)index >= (uint)_rxFrames || _rxState[index] != SlotLent)
            ThrowNotLent(index);
        _rxState[index] = SlotFree;
        if (Mode == PacketPortMode.Ring)
            Volatile.Write(ref ((tpacket2_hdr*)FrameAddress(_rxBase, index))->tp_status, Packet.TP_STATUS_KERNEL);
    }

    // ---------------------------------------------------------------- TX

    /// <summary>
    /// Reserves the next TX frame and lends its data area: write the whole Ethernet frame (header
    /// first) into <paramref name="buffer"/> (<see cref="MaxFrameLength"/> bytes), then
    /// <see cref="CommitTx"/> or <see cref="CancelTx"/>. Returns false when every frame is in flight or
    /// reserved: see <see cref="WantsWritable"/>. Never allocates.
    /// </summary>
    public bool TryGetTxBuffer(out int index, out Span<byte> buffer)
    {
        int i = _txHead;
        byte* data;
        if (_txState[i] != SlotFree)
            return TxFull(out index, out buffer);
        if (Mode == PacketPortMode.Ring)
        {
            tpacket2_hdr* hdr = (tpacket2_hdr*)FrameAddress(_txBase, i);
            uint status = Volatile.Read(ref hdr->tp_status);
            if ((status & Packet.TP_STATUS_WRONG_FORMAT) != 0)
                _counters.TxWrongFormat++; // the kernel refused it and handed it back: reuse the frame
            else if (status != Packet.TP_STATUS_AVAILABLE)
                return TxFull(out index, out buffer); // SEND_REQUEST or SENDING: still the kernel's
            data = (byte*)hdr + RingGeometry.TxDataOffset;
        }
        else
        {
            data = _txBase + (nint)i * _frameSize;
        }
        _txState[i] = SlotLent;
        _txHead = i + 1 == _txFrames ? 0 : i + 1;
        _txFull = false;
        index = i;
        buffer = new Span<byte>(data, MaxFrameLength);
        return true;
    }

    private bool TxFull(out int index, out Span<byte> buffer)
    {
        if (!_txFull)
        {
            _txFull = true;
            _counters.TxFullEvents++;
        }
        index = -1;
        buffer = default;
        return false;
    }

    /// <summary>
    /// Hands a reserved frame of <paramref name="length"/> bytes (14 ≤ length ≤ MaxFrameLength) to the
    /// kernel. It leaves at the next <see cref="Kick"/>, after every frame reserved before it.
    /// </summary>
    public void CommitTx(int index, int length)
    {
        if ((uint)index >= (uint)_txFrames || _txState[index] != SlotLent)
            ThrowNotLent(index);
        if (length < Packet.ETH_HLEN || length > MaxFrameLength)
            ThrowBadLength(length);
        _counters.FramesOut++;
        _counters.BytesOut += (ulong)length;
        _txUnkicked = true;
        if (Mode == PacketPortMode.Ring)
        {
            tpacket2_hdr* hdr = (tpacket2_hdr*)FrameAddress(_txBase, index);
            hdr->tp_len = (uint)length;
            _txState[index] = SlotFree;
            Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_SEND_REQUEST);
        }
        else
        {
            _txLength[index] = length;
            _txState[index] = SlotCommitted;
        }
    }

    /// <summary>Gives a reserved frame back unsent, so frames reserved after it are not held back.</summary>
    public void CancelTx(int index)
    {
        if ((uint)index >= (uint)_txFrames || _txState[index] != SlotLent)
            ThrowNotLent(index);
        if (Mode == PacketPortMode.Ring)
        {
            // Length 0 is malformed; with PACKET_LOSS the kernel marks it available and moves on.
            tpacket2_hdr* hdr = (tpacket2_hdr*)FrameAddress(_txBase, index);
            hdr->tp_len = 0;
            _txState[index] = SlotFree;
            Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_SEND_REQUEST);
        }
        else
        {
            _txState[index] = SlotCancelled;
        }
        _txUnkicked = true;
    }

    /// <summary>
    /// Sends everything committed since the last Kick: one send() for the whole TX ring in ring mode, a
    /// send() per staged frame in fallback mode. Call once per loop turn (and on EPOLLOUT); a no-op when
    /// nothing was committed.
    /// </summary>
    public void Kick()
    {
        if (!_txUnkicked && !_txBlocked)
            return;
        _counters.Kicks++;
        if (Mode == PacketPortMode.Ring)
        {
            nint n = Libc.send(_fd, null, 0, Libc.MSG_DONTWAIT);
            if (n < 0)
            {
                int err = Marshal.GetLastPInvokeError();
                if (err == (int)Errno.EAGAIN || err == (int)Errno.ENOBUFS)
                {
                    // Some frames are still SEND_REQUEST: the next Kick (EPOLLOUT, next turn) resumes.
                    _txBlocked = true;
                    return;
                }
                // e.g. ENETDOWN (interface went down): the frames stay queued in the ring and go out
                // with the next Kick after a commit; a port on a vanished interface gets closed anyway.
                _counters.TxErrors++;
            }
            _txBlocked = false;
            _txUnkicked = false;
            return;
        }
        KickFallback();
    }

    private void KickFallback()
    {
        _txBlocked = false;
        while (true)
        {
            int i = _txSendHead;
            byte state = _txState[i];
            if (state == SlotCancelled)
            {
                _txState[i] = SlotFree;
            }
            else if (state == SlotCommitted)
            {
                nint n = Libc.send(_fd, _txBase + (nint)i * _frameSize, (nuint)_txLength[i], Libc.MSG_DONTWAIT);
                if (n < 0)
                {
                    int err = Marshal.GetLastPInvokeError();
                    if (err == (int)Errno.EAGAIN || err == (int)Errno.ENOBUFS)
                    {
                        _txBlocked = true;
                        return;
                    }
                    _counters.TxErrors++;
                }
                _txState[i] = SlotFree;
            }
            else
            {
                break; // free (nothing more staged) or still lent: later frames wait for it
            }
            _txSendHead = i + 1 == _txFrames ? 0 : i + 1;
        }
        _txUnkicked = false;
    }

    // ---------------------------------------------------------------- housekeeping

    /// <summary>
    /// Reads PACKET_STATISTICS (the kernel resets it on every read) into the counters. Call it
    /// periodically and before reporting stats.
    /// </summary>
    public void ReadKernelStatistics()
    {
        tpacket_stats stats;
        uint len = (uint)sizeof(tpacket_stats);
        if (Libc.getsockopt(_fd, Packet.SOL_PACKET, Packet.PACKET_STATISTICS, &stats, &len) == 0)
        {
            _counters.KernelPackets += stats.tp_packets;
            _counters.KernelDrops += stats.tp_drops;
        }
    }

    /// <summary>
    /// Re-reads the interface's MTU (after a netlink event). Returns true when full-size frames still
    /// fit (<see cref="FitsMtu"/>); false means close this port and open a new one.
    /// </summary>
    /// <exception cref="NetworkException">The interface is gone.</exception>
    public bool RefreshMtu()
    {
        Mtu = InterfaceInfo.QueryMtu(_fd, Name);
        Interface = Interface with { Mtu = Mtu };
        return FitsMtu;
    }

    public void Dispose()
    {
        if (_map != null)
        {
            Libc.munmap(_map, _mapLength);
            _map = null;
        }
        if (_fallbackMemory != null)
        {
            NativeMemory.AlignedFree(_fallbackMemory);
            _fallbackMemory = null;
        }
        _rxBase = _txBase = null;
        if (_fd >= 0)
        {
            Libc.close(_fd);
            _fd = -1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* FrameAddress(byte* ringBase, int index)
    {
        // Frames never straddle blocks: the tail of each block (WastePerBlock) is skipped.
        int block = index / _framesPerBlock;
        int inBlock = index - block * _framesPerBlock;
        return ringBase + (nint)block * _blockSize + (nint)inBlock * _frameSize;
    }

    private static ushort HostToNetwork(int value) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness((ushort)value) : (ushort)value;

    private static bool SetInt(int fd, int level, int option, int value) => SetInt(fd, level, option, value, out _);

    private static bool SetInt(int fd, int level, int option, int value, out int errno)
    {
        errno = 0;
        if (Libc.setsockopt(fd, level, option, &value, sizeof(int)) == 0)
            return true;
        errno = Marshal.GetLastPInvokeError();
        return false;
    }

    /// <summary>
    /// Sets a socket buffer size: the FORCE variant (root/CAP_NET_ADMIN) ignores net.core.*mem_max, the
    /// plain one is capped by it. The value is passed as configured (the kernel doubles it for its
    /// bookkeeping overhead, as for any SO_SNDBUF/SO_RCVBUF).
    /// </summary>
    private static void SetBuffer(int fd, int forceOption, int option, long bytes)
    {
        int value = (int)Math.Min(bytes, int.MaxValue / 2);
        if (!SetInt(fd, Libc.SOL_SOCKET, forceOption, value))
            SetInt(fd, Libc.SOL_SOCKET, option, value);
    }

    private static void DropRing(int fd, int option)
    {
        tpacket_req none = default;
        Libc.setsockopt(fd, Packet.SOL_PACKET, option, &none, (uint)sizeof(tpacket_req));
    }

    [DoesNotReturn]
    private static void ThrowNotLent(int index) =>
        throw new InvalidOperationException("frame " + index.ToString(System.Globalization.CultureInfo.InvariantCulture) + " is not lent out");

    [DoesNotReturn]
    private static void ThrowBadLength(int length) =>
        throw new ArgumentOutOfRangeException(nameof(length), length, "frame length outside 14..MaxFrameLength");
}
