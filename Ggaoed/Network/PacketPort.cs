using System;
using System.Buffers.Binary;
using Ggaoed.Native;

namespace Ggaoed.Network;

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


/// <summary>What a link change (netlink, or a re-read of the interface) meant for a port.</summary>
internal enum LinkChange
{
    /// <summary>Same MAC and MTU as before.</summary>
    None,

    /// <summary>
    /// A new MAC, or an MTU whose full-size frames still fit the frames set up at open time: taken in
    /// place. Whoever builds replies from <see cref="PacketPort.Mac"/> and <see cref="PacketPort.Mtu"/>
    /// must pick the new values up.
    /// </summary>
    Applied,

    /// <summary>An MTU larger than the frames hold: close the port and open a new one.</summary>
    NeedsReopen,
}

/// <summary>
/// One interface's AoE packet socket: AF_PACKET/SOCK_RAW bound to EtherType 0x88A2 on one ifindex, with
/// <see cref="AoeSocketFilter"/> attached, moving frames through an <see cref="IPacketTransport"/>:
/// normally TPACKET_V2 RX and TX rings in one mmap (<see cref="RingTransport{TKernel}"/>), else
/// recvmmsg/sendmmsg on the socket (<see cref="SocketTransport{TKernel}"/>), with the same contract.
/// Single-threaded: the reactor that owns it calls everything from its loop thread.
/// <para><b>RX borrow contract.</b> <see cref="TryReceive"/> lends the caller a frame: the span points
/// into the ring (or a receive slot) and is valid until <see cref="ReleaseRx"/> is called with its
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
/// <para><b>When TX can't go on.</b> Three conditions, three different waits:
/// <see cref="WantsWritable"/> (no free frame, or the socket's send buffer is full: ask for EPOLLOUT
/// and Kick when it comes), <see cref="TxRetryAtNanos"/> (the qdisc refused frames with ENOBUFS: arm a
/// timer for that time and Kick then; EPOLLOUT would fire at once and spin), and
/// <see cref="LinkError"/> (the interface vanished or went down: the queued frames were dropped and
/// counted; close the port). No exception leaves the per-frame and Kick paths.</para>
/// <para><b>epoll.</b> EPOLLIN on <see cref="Fd"/> is level-triggered on the ring too: the kernel
/// reports readable while the newest filled frame has not been handed back, so drain with TryReceive
/// until it returns false and release what you took, or the loop spins.</para>
/// <para><b>Lifetime.</b> No finalizer: the owner disposes the port (munmap + close). The fd, frame
/// spans and indexes are invalid afterwards.</para>
/// <para><b>MAC and MTU changes.</b> The socket is bound to the ifindex and its filter matches by
/// packet type, which the kernel derives from the interface's current MAC, so a new MAC needs no new
/// socket: <see cref="ApplyLinkChange"/> records it, and replies built from <see cref="Mac"/> use it.
/// Frame sizes follow the MTU at open time: a smaller MTU, or one whose frames still fit, is applied in
/// place (<see cref="MaxFrameLength"/> follows it); a larger one returns
/// <see cref="LinkChange.NeedsReopen"/>: close the port and open a new one (a live ring cannot be
/// resized while mapped).</para>
/// </summary>
internal sealed class PacketPort : IDisposable
{
    /// <summary>Socket transport: receive slots, so the RX borrow contract is the same as with a ring.</summary>
    public const int FallbackRxSlots = 16;

    /// <summary>Socket transport: TX staging slots, enough for a loop turn's burst of responses.</summary>
    public const int FallbackTxSlots = 64;

    private readonly IPacketTransport _transport;

    private PacketPort(InterfaceInfo info, PacketPortOptions options, IPacketTransport transport, RingGeometry geometry, string? fallbackReason)
    {
        Interface = info;
        Mtu = info.Mtu;
        Options = options;
        _transport = transport;
        Geometry = geometry;
        FallbackReason = fallbackReason;
        transport.MaxFrameLength = info.Mtu + Packet.ETH_HLEN;
    }

    public string Name => Interface.Name;

    /// <summary>The socket, for epoll: EPOLLIN when a frame is ready, EPOLLOUT when TX has room again.</summary>
    public int Fd => _transport.Fd;

    /// <summary>The interface as last seen: at open, then as changed by <see cref="ApplyLinkChange"/>.</summary>
    public InterfaceInfo Interface { get; private set; }

    /// <summary>The interface's MAC: the source address of every reply (AoE notes 0.3).</summary>
    public MacBytes Mac => Interface.Mac;

    /// <summary>The settings the port was opened with (a reload that changes them needs a new port).</summary>
    public PacketPortOptions Options { get; }

    public PacketPortMode Mode => _transport.Mode;

    /// <summary>The transport itself, for code that wants to hold the small interface only.</summary>
    public IPacketTransport Transport => _transport;

    /// <summary>Geometry of each ring (RX and TX are the same) in ring mode; default in fallback mode.</summary>
    public RingGeometry Geometry { get; }

    /// <summary>Why the port is in fallback mode (null in ring mode): for the log.</summary>
    public string? FallbackReason { get; }

    public int Mtu { get; private set; }

    /// <summary>Largest frame (14-byte Ethernet header + payload) the port sends: MTU + 14, within a frame.</summary>
    public int MaxFrameLength => _transport.MaxFrameLength;

    /// <summary>True when the current MTU's full-size frames fit the frames set up at open time.</summary>
    public bool FitsMtu => Mtu + Packet.ETH_HLEN <= _transport.FrameCapacity;

    public int RxFrameCount => _transport.RxFrameCount;

    public int TxFrameCount => _transport.TxFrameCount;

    public ref readonly PacketPortCounters Counters => ref _transport.Counters;

    /// <summary>
    /// True when TX waits for the socket: TryGetTxBuffer found no free frame, or a Kick was told to try
    /// again (EAGAIN). The reactor then asks for EPOLLOUT on <see cref="Fd"/>, and on EPOLLOUT calls
    /// Kick and retries its queued responses. "No free frame" clears on the next successful
    /// TryGetTxBuffer, "try again" on the next successful Kick; a reactor with nothing left to send
    /// should simply drop EPOLLOUT interest (EPOLLOUT is level-triggered: in ring mode it means "the
    /// kernel's next TX frame is available"). False while backing off after ENOBUFS
    /// (<see cref="TxRetryAtNanos"/>), even when no frame is free.
    /// </summary>
    public bool WantsWritable => _transport.WantsWritable;

    /// <inheritdoc cref="IPacketTransport.TxRetryAtNanos"/>
    public long TxRetryAtNanos => _transport.TxRetryAtNanos;

    /// <inheritdoc cref="IPacketTransport.LinkError"/>
    public int LinkError => _transport.LinkError;

    /// <summary>Frames committed that a Kick could hand to the kernel now.</summary>
    public bool HasUnkickedTx => _transport.HasUnkickedTx;

    /// <summary>
    /// Opens the port on an interface of the calling thread's network namespace.
    /// </summary>
    /// <exception cref="NetworkException">The interface does not exist, does not carry Ethernet frames, or a socket call failed.</exception>
    public static PacketPort Open(string interfaceName, PacketPortOptions options) =>
        Open(new LinuxPacketKernel(), interfaceName, options);

    /// <inheritdoc cref="Open(string, PacketPortOptions)"/>
    public static unsafe PacketPort Open<TKernel>(TKernel kernel, string interfaceName, PacketPortOptions options)
        where TKernel : struct, IPacketKernel
    {
        // Protocol 0 until bind: the socket receives nothing before the filter and rings are in place,
        // so no unfiltered frame can sit in its queue.
        int fd = kernel.Socket(Libc.AF_PACKET, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
            throw new NetworkException(interfaceName, "socket(AF_PACKET)", -fd);
        IPacketTransport? transport = null;
        try
        {
            InterfaceInfo info = InterfaceInfo.Query(ref kernel, fd, interfaceName);
            // AoE frames are Ethernet II frames with EtherType 0x88A2.
            if (!info.CarriesEthernetFrames)
                throw new NetworkException(interfaceName, "not an Ethernet interface (hardware type "
                    + info.HardwareType.ToString(System.Globalization.CultureInfo.InvariantCulture) + ")");
            int err = AoeSocketFilter.Attach(ref kernel, fd);
            if (err != 0)
                throw new NetworkException(interfaceName, "SO_ATTACH_FILTER", err);
            // Kernel ≥ 4.20; older kernels don't loop outgoing frames to a protocol-bound socket anyway
            // (dev_queue_xmit_nit only feeds ETH_P_ALL taps), so ENOPROTOOPT is fine.
            PacketTransport<TKernel>.SetInt(ref kernel, fd, Packet.SOL_PACKET, Packet.PACKET_IGNORE_OUTGOING, 1);

            string? why = null;
            RingTransport<TKernel>? ring = null;
            if (options.ForceFallback)
                why = "rings disabled by configuration";
            else if (options.RingBufferSizeKiB <= 0)
                why = "ring-buffer-size is 0";
            else
                ring = RingTransport<TKernel>.TryCreate(ref kernel, fd, info.Mtu, options, out why);
            transport = ring ?? (IPacketTransport)new SocketTransport<TKernel>(kernel, fd, info.Mtu, FallbackRxSlots, FallbackTxSlots, options);

            var addr = new sockaddr_ll
            {
                sll_family = Libc.AF_PACKET,
                sll_protocol = HostToNetwork(Packet.ETH_P_AOE),
                sll_ifindex = info.Index,
            };
            err = kernel.Bind(fd, &addr);
            if (err < 0)
                throw new NetworkException(interfaceName, "bind(AF_PACKET)", -err);
            return new PacketPort(info, options, transport, ring?.Geometry ?? default, ring == null ? why : null);
        }
        catch
        {
            if (transport != null)
                transport.Dispose();
            else
                kernel.Close(fd);
            throw;
        }
    }

    // ---------------------------------------------------------------- RX

    /// <summary>
    /// Lends the next received frame, if one is ready: <paramref name="frame"/> spans the whole Ethernet
    /// frame (destination MAC first) exactly as received, which may be shorter than 60 bytes (veth does
    /// not pad). Valid until <see cref="ReleaseRx"/>(<paramref name="index"/>). Never allocates.
    /// </summary>
    public bool TryReceive(out int index, out Span<byte> frame) => _transport.TryReceive(out index, out frame);

    /// <summary>Gives a frame from <see cref="TryReceive"/> back; its span must not be used afterwards.</summary>
    public void ReleaseRx(int index) => _transport.ReleaseRx(index);

    // ---------------------------------------------------------------- TX

    /// <summary>
    /// Reserves the next TX frame and lends its data area: write the whole Ethernet frame (header
    /// first) into <paramref name="buffer"/> (<see cref="MaxFrameLength"/> bytes), then
    /// <see cref="CommitTx"/> or <see cref="CancelTx"/>. Returns false when every frame is in flight or
    /// reserved: see <see cref="WantsWritable"/>. Never allocates.
    /// </summary>
    public bool TryGetTxBuffer(out int index, out Span<byte> buffer) => _transport.TryGetTxBuffer(out index, out buffer);

    /// <summary>
    /// Hands a reserved frame of <paramref name="length"/> bytes (14 ≤ length ≤ MaxFrameLength) to the
    /// kernel. It leaves at the next <see cref="Kick"/>, after every frame reserved before it.
    /// </summary>
    public void CommitTx(int index, int length) => _transport.CommitTx(index, length);

    /// <summary>Gives a reserved frame back unsent, so frames reserved after it are not held back.</summary>
    public void CancelTx(int index) => _transport.CancelTx(index);

    /// <summary>
    /// Sends everything committed since the last Kick: one send() for the whole TX ring in ring mode,
    /// sendmmsg() for the staged run in fallback mode. Call once per loop turn (and on EPOLLOUT or when
    /// <see cref="TxRetryAtNanos"/> is due); a no-op when nothing is queued, or while backing off after
    /// ENOBUFS with nothing newly committed.
    /// </summary>
    public void Kick() => _transport.Kick();

    // ---------------------------------------------------------------- housekeeping

    /// <summary>
    /// Reads PACKET_STATISTICS (the kernel resets it on every read) into the counters. Call it
    /// periodically and before reporting stats.
    /// </summary>
    public void ReadKernelStatistics() => _transport.ReadKernelStatistics();

    /// <summary>
    /// Takes an interface's new MAC and MTU (from a netlink RTM_NEWLINK: IFLA_ADDRESS, IFLA_MTU) without
    /// reopening when it can; see <see cref="LinkChange"/> for what the caller must do. A
    /// <paramref name="mtu"/> ≤ 0 means "not reported" and keeps the current one.
    /// </summary>
    public LinkChange ApplyLinkChange(MacBytes mac, int mtu)
    {
        LinkChange change = LinkChange.None;
        if (mac != Interface.Mac)
        {
            Interface = Interface with { Mac = mac };
            change = LinkChange.Applied;
        }
        if (mtu > 0 && mtu != Mtu)
        {
            Mtu = mtu;
            Interface = Interface with { Mtu = mtu };
            _transport.MaxFrameLength = mtu + Packet.ETH_HLEN;
            change = LinkChange.Applied;
        }
        return FitsMtu ? change : LinkChange.NeedsReopen;
    }

    /// <summary>Re-reads the interface's MAC and MTU (ioctls on the port's own socket) and applies them.</summary>
    /// <exception cref="NetworkException">The interface is gone.</exception>
    public LinkChange RefreshInterface()
    {
        InterfaceInfo now = _transport.QueryInterface(Name);
        Interface = Interface with { IsUp = now.IsUp, IsRunning = now.IsRunning };
        return ApplyLinkChange(now.Mac, now.Mtu);
    }

    /// <summary>
    /// Re-reads the interface's MTU (and MAC). Returns true when full-size frames still fit
    /// (<see cref="FitsMtu"/>); false means close this port and open a new one.
    /// </summary>
    /// <exception cref="NetworkException">The interface is gone.</exception>
    public bool RefreshMtu() => RefreshInterface() != LinkChange.NeedsReopen;

    public void Dispose() => _transport.Dispose();

    private static ushort HostToNetwork(int value) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness((ushort)value) : (ushort)value;
}
