using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// What both transports share: the socket and the kernel seam, the counters, and TX flow control,
/// i.e. what a Kick that could not hand everything to the kernel means for the reactor:
/// <list type="bullet">
/// <item>EAGAIN (or a ring send that stopped early): the socket's send buffer is full. It drains as
/// the driver completes frames, and the kernel then reports EPOLLOUT: <see cref="WantsWritable"/>.</item>
/// <item>ENOBUFS: the qdisc or the driver queue refused a frame. The frame stays queued, but EPOLLOUT
/// is no signal here: the socket's own buffer is nearly empty, so epoll reports it writable at once
/// and a loop waiting for EPOLLOUT would spin until the queue drains. Instead the transport backs off:
/// <see cref="TxRetryAtNanos"/> is when to Kick again (the daemon arms its timerfd), and a Kick with
/// newly committed frames retries at once (that is work, not a spin).</item>
/// <item>ENXIO/ENETDOWN/ENODEV: the interface is gone or down. The queued frames are dropped and
/// counted, <see cref="LinkError"/> says so, and the owner closes the port.</item>
/// </list>
/// </summary>
internal abstract unsafe class PacketTransport<TKernel> : IPacketTransport where TKernel : struct, IPacketKernel
{
    /// <summary>
    /// First retry 0.5 ms after an ENOBUFS: about 40 full-size frames' time at 1 Gb/s, so a refusal
    /// caused by a burst finds room on the first retry.
    /// </summary>
    public const long FirstRetryNanos = 500_000;

    /// <summary>
    /// The delay doubles per refusal in a row up to 8 ms: two thirds of the 12 ms a 1 Gb/s link needs
    /// to drain a default qdisc (txqueuelen 1000) of 1514-byte frames, so a full queue never idles long
    /// while the reactor wakes at most 125 times a second for it.
    /// </summary>
    public const long MaxRetryNanos = 8_000_000;

    // Our own slot states (the kernel's tp_status says nothing about "lent to the caller").
    protected const byte SlotFree = 0;
    protected const byte SlotLent = 1;
    protected const byte SlotQueued = 2;

    private enum TxWait : byte
    {
        None,
        Writable,
        Deadline,
    }

    protected TKernel _kernel;
    protected PacketPortCounters _counters;
    private int _fd;
    private int _maxFrameLength;
    private bool _txFull;
    private TxWait _wait;
    private long _retryAt;
    private long _retryDelay;
    private bool _newWork;

    protected PacketTransport(TKernel kernel, int fd, int frameCapacity)
    {
        _kernel = kernel;
        _fd = fd;
        FrameCapacity = frameCapacity;
        _maxFrameLength = frameCapacity;
    }

    public int Fd => _fd;

    public abstract PacketPortMode Mode { get; }

    public abstract int RxFrameCount { get; }

    public abstract int TxFrameCount { get; }

    public int FrameCapacity { get; }

    public int MaxFrameLength
    {
        get => _maxFrameLength;
        set => _maxFrameLength = Math.Clamp(value, Packet.ETH_HLEN, FrameCapacity);
    }

    public ref readonly PacketPortCounters Counters => ref _counters;

    public bool WantsWritable
    {
        get
        {
            TxWait wait = Waiting;
            return wait == TxWait.Writable || (_txFull && wait != TxWait.Deadline);
        }
    }

    public long TxRetryAtNanos => Waiting == TxWait.Deadline ? _retryAt : 0;

    /// <summary>
    /// What TX waits for; nothing once no frame is left to kick (all cancelled, dropped or held back
    /// behind a lent one), so a stale deadline can never keep the daemon's timer firing.
    /// </summary>
    private TxWait Waiting => HasUnkickedTx ? _wait : TxWait.None;

    public int LinkError { get; private set; }

    public abstract bool HasUnkickedTx { get; }

    public abstract bool TryReceive(out int index, out Span<byte> frame);

    public abstract void ReleaseRx(int index);

    public abstract bool TryGetTxBuffer(out int index, out Span<byte> buffer);

    public abstract void CommitTx(int index, int length);

    public abstract void CancelTx(int index);

    public void Kick()
    {
        if (!HasUnkickedTx)
        {
            _wait = TxWait.None;
            _retryDelay = 0;
            return;
        }
        // Backing off after ENOBUFS: only new frames or the deadline justify another try.
        if (_wait == TxWait.Deadline && !_newWork && _kernel.NowNanos() < _retryAt)
            return;
        _newWork = false;
        int errno = Flush();
        LinkError = 0;
        if (errno == 0)
        {
            _wait = TxWait.None;
            _retryDelay = 0;
        }
        else if (errno == (int)Errno.EAGAIN || errno == (int)Errno.EINTR)
        {
            _counters.TxAgain++;
            _wait = TxWait.Writable;
        }
        else if (errno == (int)Errno.ENOBUFS)
        {
            _counters.TxNoBuffers++;
            _retryDelay = _retryDelay == 0 ? FirstRetryNanos : Math.Min(2 * _retryDelay, MaxRetryNanos);
            _retryAt = _kernel.NowNanos() + _retryDelay;
            _wait = TxWait.Deadline;
        }
        else
        {
            _counters.TxErrors++;
            _counters.TxDropped += (ulong)DropQueued();
            _wait = TxWait.None;
            _retryDelay = 0;
            if (errno is (int)Errno.ENXIO or (int)Errno.ENETDOWN or (int)Errno.ENODEV)
                LinkError = errno;
        }
    }

    /// <summary>
    /// Hands the queued frames to the kernel (counting every syscall in Kicks). Returns 0 when none is
    /// left that a send could take, EAGAIN when the kernel stopped early, or the errno of the send that
    /// failed, with the frames it did not take still queued.
    /// </summary>
    protected abstract int Flush();

    /// <summary>Drops every queued, uncancelled frame after a send failed for good; returns how many.</summary>
    protected abstract int DropQueued();

    /// <summary>Frees the rings or buffers (the socket is closed afterwards by Dispose).</summary>
    protected abstract void FreeMemory();

    /// <summary>Bookkeeping of a commit: counters, and "there is new work" for a backing-off Kick.</summary>
    protected void Committed(int length)
    {
        _counters.FramesOut++;
        _counters.BytesOut += (ulong)length;
        _newWork = true;
    }

    /// <summary>A cancel can unblock the frames reserved after it: new work too.</summary>
    protected void Cancelled() => _newWork = true;

    /// <summary>TryGetTxBuffer found a free frame: a TX-full episode is over.</summary>
    protected void TxReserved() => _txFull = false;

    protected bool TxFull(out int index, out Span<byte> buffer)
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

    public void ReadKernelStatistics()
    {
        tpacket_stats stats;
        int len = sizeof(tpacket_stats);
        if (_kernel.GetSockOpt(_fd, Packet.SOL_PACKET, Packet.PACKET_STATISTICS, &stats, &len) == 0)
        {
            _counters.KernelPackets += stats.tp_packets;
            _counters.KernelDrops += stats.tp_drops;
        }
    }

    public InterfaceInfo QueryInterface(string name) => InterfaceInfo.Query(ref _kernel, _fd, name);

    public void Dispose()
    {
        FreeMemory();
        if (_fd >= 0)
        {
            _kernel.Close(_fd);
            _fd = -1;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected static int Next(int i, int count) => i + 1 == count ? 0 : i + 1;

    /// <summary>Checks a CommitTx/CancelTx argument: the frame must be lent and the length fit.</summary>
    protected static void CheckLent(byte[] states, int index)
    {
        if ((uint)index >= (uint)states.Length || states[index] != SlotLent)
            ThrowNotLent(index);
    }

    protected void CheckLength(int length)
    {
        if (length < Packet.ETH_HLEN || length > _maxFrameLength)
            ThrowBadLength(length);
    }

    /// <summary>setsockopt of an int; returns 0 or the errno.</summary>
    public static int SetInt(ref TKernel kernel, int fd, int level, int option, int value) =>
        -kernel.SetSockOpt(fd, level, option, &value, sizeof(int));

    /// <summary>
    /// Sets a socket buffer size: the FORCE variant (root/CAP_NET_ADMIN) ignores net.core.*mem_max, the
    /// plain one is capped by it. The value is passed as configured (the kernel doubles it for its
    /// bookkeeping overhead, as for any SO_SNDBUF/SO_RCVBUF).
    /// </summary>
    public static void SetBuffer(ref TKernel kernel, int fd, int forceOption, int option, long bytes)
    {
        int value = (int)Math.Min(bytes, int.MaxValue / 2);
        if (SetInt(ref kernel, fd, Libc.SOL_SOCKET, forceOption, value) != 0)
            SetInt(ref kernel, fd, Libc.SOL_SOCKET, option, value);
    }

    [DoesNotReturn]
    protected static void ThrowNotLent(int index) =>
        throw new InvalidOperationException("frame " + index.ToString(System.Globalization.CultureInfo.InvariantCulture) + " is not lent out");

    [DoesNotReturn]
    private static void ThrowBadLength(int length) =>
        throw new ArgumentOutOfRangeException(nameof(length), length, "frame length outside 14..MaxFrameLength");
}
