using System;

namespace Ggaoed.Network;

/// <summary>How a <see cref="PacketPort"/> moves frames: which <see cref="IPacketTransport"/> it holds.</summary>
internal enum PacketPortMode
{
    /// <summary>TPACKET_V2 RX and TX rings shared with the kernel through one mmap (<see cref="RingTransport{TKernel}"/>).</summary>
    Ring,

    /// <summary>recvmmsg/sendmmsg on the same socket, rings disabled or refused (<see cref="SocketTransport{TKernel}"/>).</summary>
    Fallback,
}

/// <summary>Per-port counters for <c>ggaoectl stats</c>. Plain fields: one thread updates them.</summary>
internal struct PacketPortCounters
{
    /// <summary>Frames handed to the caller by TryReceive.</summary>
    public ulong FramesIn;
    public ulong BytesIn;

    /// <summary>Frames committed for sending (CommitTx), whether or not they left (see TxDropped).</summary>
    public ulong FramesOut;
    public ulong BytesOut;

    /// <summary>Frames the kernel dropped because the RX ring/socket queue was full (PACKET_STATISTICS).</summary>
    public ulong KernelDrops;

    /// <summary>Frames the kernel counted for this socket, drops included (PACKET_STATISTICS).</summary>
    public ulong KernelPackets;

    /// <summary>Times TryGetTxBuffer found no free frame (counted once per full episode, not per call).</summary>
    public ulong TxFullEvents;

    /// <summary>
    /// TX frames the kernel marked TP_STATUS_WRONG_FORMAT and stopped at; each was given back to the
    /// kernel as a cancelled frame so the ones behind it could leave.
    /// </summary>
    public ulong TxWrongFormat;

    /// <summary>
    /// Sends that failed with an error other than "try later" (EAGAIN, ENOBUFS): ENXIO or ENETDOWN (the
    /// interface vanished or went down, see <see cref="IPacketTransport.LinkError"/>), EMSGSIZE, ...
    /// The frames concerned are dropped and counted in <see cref="TxDropped"/>.
    /// </summary>
    public ulong TxErrors;

    /// <summary>Committed frames that never left because a send failed for good (see <see cref="TxErrors"/>).</summary>
    public ulong TxDropped;

    /// <summary>
    /// Sends the kernel answered with EAGAIN, or that stopped early without an error: the socket's send
    /// buffer was full. The port waits for EPOLLOUT (<see cref="IPacketTransport.WantsWritable"/>).
    /// </summary>
    public ulong TxAgain;

    /// <summary>
    /// Sends the kernel answered with ENOBUFS: the qdisc or the driver queue refused a frame. The frames
    /// stay queued and the port backs off (<see cref="IPacketTransport.TxRetryAtNanos"/>) instead of
    /// asking for EPOLLOUT, which the socket keeps reporting while the queue refuses.
    /// </summary>
    public ulong TxNoBuffers;

    /// <summary>Received frames longer than a ring frame or buffer; dropped, never handed out cut short.</summary>
    public ulong RxTruncated;

    /// <summary>send()/sendmmsg() calls made to flush the TX ring or staging area.</summary>
    public ulong Kicks;
}

/// <summary>
/// One way of moving AoE frames through a bound packet socket: the TX/RX ring transport or the plain
/// socket one. <see cref="PacketPort"/> holds one and forwards to it; its class summary is the borrow
/// contract every implementation keeps (frame spans valid until released or committed, frames leave in
/// reservation order, nothing leaves before <see cref="Kick"/>). Single-threaded.
/// </summary>
internal interface IPacketTransport : IDisposable
{
    /// <summary>The socket, for epoll (the transport owns it and closes it on Dispose).</summary>
    int Fd { get; }

    PacketPortMode Mode { get; }

    int RxFrameCount { get; }

    int TxFrameCount { get; }

    /// <summary>Largest Ethernet frame (header included) a frame or slot holds, fixed at open.</summary>
    int FrameCapacity { get; }

    /// <summary>
    /// Length of the buffers TryGetTxBuffer lends: the link's MTU + 14, at most <see cref="FrameCapacity"/>.
    /// Set when the MTU changes.
    /// </summary>
    int MaxFrameLength { get; set; }

    ref readonly PacketPortCounters Counters { get; }

    /// <summary>Lends the next received frame until <see cref="ReleaseRx"/>(<paramref name="index"/>).</summary>
    bool TryReceive(out int index, out Span<byte> frame);

    void ReleaseRx(int index);

    /// <summary>Reserves the next TX frame; false when none is free (then see <see cref="WantsWritable"/>).</summary>
    bool TryGetTxBuffer(out int index, out Span<byte> buffer);

    void CommitTx(int index, int length);

    void CancelTx(int index);

    /// <summary>Hands the committed frames to the kernel; cheap to call every loop turn.</summary>
    void Kick();

    /// <summary>Frames are queued that a Kick could hand to the kernel now.</summary>
    bool HasUnkickedTx { get; }

    /// <summary>TX waits for the socket to become writable: ask for EPOLLOUT and Kick when it comes.</summary>
    bool WantsWritable { get; }

    /// <summary>
    /// CLOCK_MONOTONIC time (ns) at which queued frames the kernel refused with ENOBUFS should be retried
    /// (arm a timer, then Kick); 0 when no retry is pending.
    /// </summary>
    long TxRetryAtNanos { get; }

    /// <summary>
    /// errno (ENXIO, ENETDOWN, ENODEV) of the last send, when it found the interface gone or down; 0
    /// while sends work. The frames queued at that moment were dropped. The owner should close the port.
    /// </summary>
    int LinkError { get; }

    /// <summary>Adds PACKET_STATISTICS (which the kernel resets on every read) to the counters.</summary>
    void ReadKernelStatistics();

    /// <summary>Re-reads the interface's facts through this socket (so in its network namespace).</summary>
    InterfaceInfo QueryInterface(string name);
}
