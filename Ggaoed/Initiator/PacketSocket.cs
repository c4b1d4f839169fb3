using System;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Initiator;

/// <summary>
/// An AF_PACKET SOCK_RAW socket for EtherType 0x88A2 bound to one interface, with the interface's MAC,
/// MTU and index. Frames include the Ethernet header. Used by the initiator and the null target (not by
/// the daemon, which has its own network layer).
/// </summary>
public sealed unsafe class PacketSocket : IDisposable
{
    private int _fd;

    private PacketSocket(int fd, string name, int ifindex, byte[] mac, int mtu)
    {
        _fd = fd;
        Interface = name;
        IfIndex = ifindex;
        Mac = mac;
        Mtu = mtu;
    }

    public string Interface { get; }
    public int IfIndex { get; }
    public byte[] Mac { get; }
    public int Mtu { get; }
    public int Fd => _fd;

    /// <summary>Opens the socket in the calling thread's network namespace.</summary>
    /// <param name="receiveTimeoutUs">recv() returns "nothing" after this long, so loops can check deadlines.</param>
    public static PacketSocket Open(string ifname, int receiveTimeoutUs = 10_000)
    {
        if (string.IsNullOrEmpty(ifname) || ifname.Length >= Libc.IFNAMSIZ)
            throw new ArgumentException($"bad interface name '{ifname}'", nameof(ifname));
        ushort proto = BinaryPrimitives.ReverseEndianness((ushort)Packet.ETH_P_AOE);
        int fd = Libc.socket(Libc.AF_PACKET, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, proto);
        if (fd < 0)
            ThrowErrno("socket(AF_PACKET)");
        try
        {
            ifreq req = default;
            for (int i = 0; i < ifname.Length; i++)
                req.ifr_name[i] = (byte)ifname[i];
            if (Libc.ioctl(fd, Libc.SIOCGIFINDEX, &req) != 0)
                ThrowErrno("SIOCGIFINDEX " + ifname);
            int ifindex = req.ifr_ifindex;
            if (Libc.ioctl(fd, Libc.SIOCGIFHWADDR, &req) != 0)
                ThrowErrno("SIOCGIFHWADDR " + ifname);
            byte[] mac = new byte[6];
            for (int i = 0; i < 6; i++)
                mac[i] = req.ifr_hwaddr_data[i];
            if (Libc.ioctl(fd, Libc.SIOCGIFMTU, &req) != 0)
                ThrowErrno("SIOCGIFMTU " + ifname);
            int mtu = req.ifr_mtu;

            sockaddr_ll sll = default;
            sll.sll_family = Libc.AF_PACKET;
            sll.sll_protocol = proto;
            sll.sll_ifindex = ifindex;
            if (Libc.bind(fd, &sll, (uint)sizeof(sockaddr_ll)) != 0)
                ThrowErrno("bind " + ifname);

            // Without this every frame we send comes back to our own recv() (PACKET_OUTGOING): twice
            // the syscalls. Linux >= 4.20; older kernels still work, the R flag filters our own frames.
            int one = 1;
            Libc.setsockopt(fd, Packet.SOL_PACKET, Packet.PACKET_IGNORE_OUTGOING, &one, sizeof(int));

            // Deep queues of 9 KiB frames overflow the default ~208 KiB receive buffer; FORCE needs
            // CAP_NET_ADMIN, so fall back to the capped variant.
            int buf = 8 << 20;
            if (Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, &buf, sizeof(int)) != 0)
                Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &buf, sizeof(int));
            if (Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUFFORCE, &buf, sizeof(int)) != 0)
                Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUF, &buf, sizeof(int));

            var s = new PacketSocket(fd, ifname, ifindex, mac, mtu);
            s.SetReceiveTimeout(receiveTimeoutUs);
            return s;
        }
        catch
        {
            Libc.close(fd);
            throw;
        }
    }

    public void SetReceiveTimeout(int microseconds)
    {
        timeval tv = new() { tv_sec = microseconds / 1_000_000, tv_usec = microseconds % 1_000_000 };
        if (Libc.setsockopt(_fd, Libc.SOL_SOCKET, Libc.SO_RCVTIMEO, &tv, (uint)sizeof(timeval)) != 0)
            ThrowErrno("SO_RCVTIMEO");
    }

    /// <summary>Sends one frame. False when the kernel dropped it (ENOBUFS/EAGAIN): a retransmit will cover it.</summary>
    public bool Send(ReadOnlySpan<byte> frame)
    {
        fixed (byte* p = frame)
        {
            while (true)
            {
                nint n = Libc.send(_fd, p, (nuint)frame.Length, 0);
                if (n >= 0)
                    return true;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == (int)Errno.EINTR)
                    continue;
                if (errno == (int)Errno.ENOBUFS || errno == (int)Errno.EAGAIN)
                    return false;
                ThrowErrno("send on " + Interface);
            }
        }
    }

    /// <summary>Receives one frame into <paramref name="buffer"/>; returns its length, or 0 when the receive timeout expired.</summary>
    public int Receive(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = Libc.recv(_fd, p, (nuint)buffer.Length, 0);
                if (n >= 0)
                    return (int)n;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == (int)Errno.EAGAIN || errno == (int)Errno.EINTR)
                    return 0;
                ThrowErrno("recv on " + Interface);
            }
        }
    }

    /// <summary>
    /// Receives up to <see cref="RxBatch.Capacity"/> frames with one recvmmsg and returns how many (also
    /// in <see cref="RxBatch.Count"/>). With <paramref name="wait"/> it blocks for the first frame up to
    /// the receive timeout (0 when it expires), then takes whatever else is queued without waiting
    /// (MSG_WAITFORONE); without, it never blocks. Fewer frames than the capacity means the socket's
    /// queue was empty when the call returned. Each frame's length is its length on the wire
    /// (MSG_TRUNC), however much of it the batch keeps.
    /// </summary>
    /// <remarks>
    /// The kernel copies each frame into the batch in this call, on the caller's CPU: unlike a
    /// PACKET_RX_RING, where the copy happens in the sender's softirq, on a veth pair the sending
    /// target's CPU.
    /// </remarks>
    public int Receive(RxBatch batch, bool wait = true)
    {
        int flags = Libc.MSG_TRUNC | (wait ? Libc.MSG_WAITFORONE : Libc.MSG_DONTWAIT);
        while (true)
        {
            int n = Libc.recvmmsg(_fd, batch.Headers, (uint)batch.Capacity, flags, null);
            if (n >= 0)
            {
                batch.Count = n;
                return n;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (errno == (int)Errno.EAGAIN || errno == (int)Errno.EINTR)
            {
                batch.Count = 0;
                return 0;
            }
            ThrowErrno("recvmmsg on " + Interface);
        }
    }

    /// <summary>
    /// Sends every frame of <paramref name="batch"/> with as few sendmmsg calls as the kernel allows,
    /// then clears it. Returns how many frames the kernel dropped (ENOBUFS/EAGAIN): like
    /// <see cref="Send(ReadOnlySpan{byte})"/>, a retransmit covers them.
    /// </summary>
    public int Send(TxBatch batch)
    {
        int count = batch.Count;
        int dropped = 0;
        int i = 0;
        while (i < count)
        {
            // A short count means frame i failed after the ones before it were sent; sendmmsg loses that
            // error, so the next call retries frame i and reports it if it fails again.
            int n = Libc.sendmmsg(_fd, batch.Headers + i, (uint)(count - i), 0);
            if (n > 0)
            {
                i += n;
                continue;
            }
            int errno = Marshal.GetLastPInvokeError();
            if (n < 0 && errno == (int)Errno.EINTR)
                continue;
            if (n == 0 || errno == (int)Errno.ENOBUFS || errno == (int)Errno.EAGAIN)
            {
                dropped++;
                i++;
                continue;
            }
            ThrowErrno("sendmmsg on " + Interface);
        }
        batch.Clear();
        return dropped;
    }

    public void Dispose()
    {
        int fd = _fd;
        _fd = -1;
        if (fd >= 0)
            Libc.close(fd);
    }

    [DoesNotReturn]
    internal static void ThrowErrno(string what)
    {
        int errno = Marshal.GetLastPInvokeError();
        throw new System.IO.IOException(what + ": " + ErrnoText.Describe(errno));
    }
}
