using System;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// The transport without rings (ring-buffer-size 0, or a kernel that refused them): slots in our own
/// memory that keep <see cref="PacketPort"/>'s borrow contract, filled by recvmmsg and drained by
/// sendmmsg, so each direction still costs one syscall per loop turn rather than one per frame.
/// <para><b>RX.</b> When no received frame is waiting, one recvmmsg fills the run of free slots from
/// the head (a slot still lent ends the run); frames are then handed out in order. With MSG_TRUNC the
/// kernel reports a frame's real length, so one longer than a slot is seen, counted and skipped.</para>
/// <para><b>TX.</b> Reserved slots are staged in order; a Kick sends the committed run from the
/// oldest one with sendmmsg. A cancelled slot is simply skipped; a frame the kernel rejects for good
/// (EMSGSIZE, EINVAL) is dropped and counted, and the rest still go.</para>
/// </summary>
internal sealed unsafe class SocketTransport<TKernel> : PacketTransport<TKernel> where TKernel : struct, IPacketKernel
{
    /// <summary>Staged frame length that marks a cancelled slot.</summary>
    private const int CancelledLength = -1;

    private byte* _memory;
    private readonly byte* _rxBase;
    private readonly byte* _txBase;
    private readonly mmsghdr* _rxMessages;
    private readonly iovec* _rxVectors;
    private readonly mmsghdr* _txMessages;
    private readonly iovec* _txVectors;
    private readonly int _slotSize;
    private readonly byte[] _rxState;
    private readonly int[] _rxLength;
    private readonly byte[] _txState;
    private readonly int[] _txLength;
    private int _rxHead;
    private int _rxReady;       // slots from _rxHead on that the last recvmmsg filled and we have not handed out
    private int _txHead;        // next slot to reserve
    private int _txOldest;      // oldest reserved slot not sent yet (== _txHead when none)
    private int _txOutstanding; // slots from _txOldest on that are lent or queued

    /// <param name="mtu">The link's MTU now: slots hold a frame of that size and a VLAN tag more.</param>
    public SocketTransport(TKernel kernel, int fd, int mtu, int rxSlots, int txSlots, PacketPortOptions options)
        : base(kernel, fd, SlotSizeFor(mtu))
    {
        if (options.ReceiveBufferSizeKiB > 0)
            SetBuffer(ref _kernel, fd, Libc.SO_RCVBUFFORCE, Libc.SO_RCVBUF, (long)options.ReceiveBufferSizeKiB * 1024);
        if (options.SendBufferSizeKiB > 0)
            SetBuffer(ref _kernel, fd, Libc.SO_SNDBUFFORCE, Libc.SO_SNDBUF, (long)options.SendBufferSizeKiB * 1024);
        _slotSize = SlotSizeFor(mtu);
        int slots = rxSlots + txSlots;
        nuint slotBytes = (nuint)_slotSize * (nuint)slots;
        nuint headerBytes = (nuint)slots * (nuint)(sizeof(mmsghdr) + sizeof(iovec));
        _memory = (byte*)NativeMemory.AlignedAlloc(slotBytes + headerBytes, 64);
        new Span<byte>(_memory + slotBytes, (int)headerBytes).Clear();
        _rxBase = _memory;
        _txBase = _memory + (nuint)_slotSize * (nuint)rxSlots;
        _rxMessages = (mmsghdr*)(_memory + slotBytes);
        _txMessages = _rxMessages + rxSlots;
        _rxVectors = (iovec*)(_txMessages + txSlots);
        _txVectors = _rxVectors + rxSlots;
        // Message k always describes vector k; only the vectors change from call to call.
        for (int k = 0; k < rxSlots; k++)
        {
            _rxMessages[k].msg_hdr.msg_iov = _rxVectors + k;
            _rxMessages[k].msg_hdr.msg_iovlen = 1;
        }
        for (int k = 0; k < txSlots; k++)
        {
            _txMessages[k].msg_hdr.msg_iov = _txVectors + k;
            _txMessages[k].msg_hdr.msg_iovlen = 1;
        }
        _rxState = new byte[rxSlots];
        _rxLength = new int[rxSlots];
        _txState = new byte[txSlots];
        _txLength = new int[txSlots];
    }

    /// <summary>A full-size frame plus a VLAN tag's worth, so a slightly oversized frame shows up as truncated instead of being cut silently.</summary>
    private static int SlotSizeFor(int mtu) => RingGeometry.Align(mtu + Packet.ETH_HLEN + 4);

    public override PacketPortMode Mode => PacketPortMode.Fallback;

    public override int RxFrameCount => _rxState.Length;

    public override int TxFrameCount => _txState.Length;

    // ---------------------------------------------------------------- RX

    public override bool TryReceive(out int index, out Span<byte> frame)
    {
        while (_rxReady > 0 || Fill())
        {
            int i = _rxHead;
            _rxHead = Next(i, _rxState.Length);
            _rxReady--;
            int length = _rxLength[i];
            if (length > _slotSize)
            {
                _counters.RxTruncated++;
                continue;
            }
            _rxState[i] = SlotLent;
            _counters.FramesIn++;
            _counters.BytesIn += (ulong)length;
            index = i;
            frame = new Span<byte>(_rxBase + (nint)i * _slotSize, length);
            return true;
        }
        index = -1;
        frame = default;
        return false;
    }

    /// <summary>One recvmmsg into the free slots from the head on; false when nothing came.</summary>
    private bool Fill()
    {
        int n = 0;
        for (int i = _rxHead; n < _rxState.Length && _rxState[i] == SlotFree; i = Next(i, _rxState.Length))
        {
            _rxVectors[n].iov_base = _rxBase + (nint)i * _slotSize;
            _rxVectors[n].iov_len = (nuint)_slotSize;
            n++;
        }
        if (n == 0)
            return false; // the head slot is still lent: the caller holds every slot
        int r = _kernel.ReceiveMany(Fd, _rxMessages, n, Libc.MSG_DONTWAIT | Libc.MSG_TRUNC);
        if (r <= 0)
            return false; // EAGAIN: nothing queued (any other error on a bound packet socket is not per-frame)
        for (int k = 0, i = _rxHead; k < r; k++, i = Next(i, _rxState.Length))
            _rxLength[i] = (int)_rxMessages[k].msg_len;
        _rxReady = r;
        return true;
    }

    public override void ReleaseRx(int index)
    {
        CheckLent(_rxState, index);
        _rxState[index] = SlotFree;
    }

    // ---------------------------------------------------------------- TX

    public override bool HasUnkickedTx => _txOutstanding > 0 && _txState[_txOldest] == SlotQueued;

    public override bool TryGetTxBuffer(out int index, out Span<byte> buffer)
    {
        if (_txOutstanding == _txState.Length)
            return TxFull(out index, out buffer);
        int i = _txHead;
        _txState[i] = SlotLent;
        _txHead = Next(i, _txState.Length);
        _txOutstanding++;
        TxReserved();
        index = i;
        buffer = new Span<byte>(_txBase + (nint)i * _slotSize, MaxFrameLength);
        return true;
    }

    public override void CommitTx(int index, int length)
    {
        CheckLent(_txState, index);
        CheckLength(length);
        _txLength[index] = length;
        _txState[index] = SlotQueued;
        Committed(length);
    }

    public override void CancelTx(int index)
    {
        CheckLent(_txState, index);
        _txLength[index] = CancelledLength;
        _txState[index] = SlotQueued;
        Cancelled();
    }

    protected override int Flush()
    {
        while (true)
        {
            while (HasUnkickedTx && _txLength[_txOldest] == CancelledLength)
                FreeOldest();
            // The committed run from the oldest slot: up to a lent or cancelled one.
            int n = 0;
            for (int i = _txOldest; n < _txOutstanding && _txState[i] == SlotQueued && _txLength[i] != CancelledLength; i = Next(i, _txState.Length))
            {
                _txVectors[n].iov_base = _txBase + (nint)i * _slotSize;
                _txVectors[n].iov_len = (nuint)_txLength[i];
                n++;
            }
            if (n == 0)
                return 0;
            _counters.Kicks++;
            int r = _kernel.SendMany(Fd, _txMessages, n, Libc.MSG_DONTWAIT);
            if (r > 0)
            {
                // Fewer than n: the next call reports the error that stopped this one.
                for (int k = 0; k < r; k++)
                    FreeOldest();
                continue;
            }
            int err = r < 0 ? -r : (int)Errno.EAGAIN;
            if (err is (int)Errno.EAGAIN or (int)Errno.EINTR or (int)Errno.ENOBUFS
                or (int)Errno.ENXIO or (int)Errno.ENETDOWN or (int)Errno.ENODEV)
                return err;
            // This frame can't be sent at all (EMSGSIZE, EINVAL): drop it, the others still go.
            _counters.TxErrors++;
            _counters.TxDropped++;
            FreeOldest();
        }
    }

    private void FreeOldest()
    {
        _txState[_txOldest] = SlotFree;
        _txOldest = Next(_txOldest, _txState.Length);
        _txOutstanding--;
    }

    protected override int DropQueued()
    {
        int dropped = 0;
        for (int k = 0, i = _txOldest; k < _txOutstanding; k++, i = Next(i, _txState.Length))
        {
            if (_txState[i] == SlotQueued && _txLength[i] != CancelledLength)
            {
                _txLength[i] = CancelledLength;
                dropped++;
            }
        }
        while (HasUnkickedTx && _txLength[_txOldest] == CancelledLength)
            FreeOldest();
        return dropped;
    }

    protected override void FreeMemory()
    {
        if (_memory != null)
        {
            NativeMemory.AlignedFree(_memory);
            _memory = null;
        }
    }
}
