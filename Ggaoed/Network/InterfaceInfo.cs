using System;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// What the daemon needs to know about one interface: its index (to bind the packet socket), MAC (the
/// source of every response, AoE notes 0.3), MTU (sector count in the config reply, AoE notes 0.6),
/// whether it is up and running, and its hardware type (AoE needs Ethernet framing).
/// </summary>
/// <param name="HardwareType">ARPHRD_* (<see cref="IfArp"/>): SIOCGIFHWADDR's sa_family.</param>
internal readonly record struct InterfaceInfo(string Name, int Index, MacBytes Mac, int Mtu, bool IsUp, bool IsRunning, int HardwareType)
{
    /// <summary>ARPHRD_ETHER: veth, bridges, bonds and NICs all report it; loopback does not.</summary>
    public bool IsEthernet => HardwareType == IfArp.ARPHRD_ETHER;

    /// <summary>ARPHRD_LOOPBACK: <c>lo</c>, whose MAC is all zeros.</summary>
    public bool IsLoopback => HardwareType == IfArp.ARPHRD_LOOPBACK;

    /// <summary>
    /// AoE frames are Ethernet II frames (EtherType 0x88A2), so a port can serve an interface with
    /// Ethernet framing: Ethernet itself, and loopback, which ggaoed 1.1 serves too (frames sent on it
    /// come straight back in, to the target's own socket as well: the socket filter drops those, they
    /// are responses). Tunnels, InfiniBand, CAN and the like carry no Ethernet header.
    /// </summary>
    public bool CarriesEthernetFrames => IsEthernet || IsLoopback;

    /// <summary>
    /// Queries an interface with SIOCGIF* ioctls on <paramref name="socketFd"/>. The socket decides the
    /// network namespace the name is looked up in, so pass the interface's own packet socket when there is one.
    /// </summary>
    /// <exception cref="NetworkException">The interface does not exist (ENODEV) or an ioctl failed.</exception>
    public static InterfaceInfo Query(int socketFd, string name)
    {
        var kernel = new LinuxPacketKernel();
        return Query(ref kernel, socketFd, name);
    }

    /// <inheritdoc cref="Query(int, string)"/>
    public static unsafe InterfaceInfo Query<TKernel>(ref TKernel kernel, int socketFd, string name)
        where TKernel : struct, IPacketKernel
    {
        ifreq req = Request(name);
        Ioctl(ref kernel, socketFd, name, Libc.SIOCGIFINDEX, &req, "SIOCGIFINDEX");
        int index = req.ifr_ifindex;

        req = Request(name);
        Ioctl(ref kernel, socketFd, name, Libc.SIOCGIFHWADDR, &req, "SIOCGIFHWADDR");
        int type = req.ifr_hwaddr_family;
        var mac = MacBytes.Read(new ReadOnlySpan<byte>(req.ifr_hwaddr_data, 6));

        int mtu = QueryMtu(ref kernel, socketFd, name);

        req = Request(name);
        Ioctl(ref kernel, socketFd, name, Libc.SIOCGIFFLAGS, &req, "SIOCGIFFLAGS");
        int flags = (ushort)req.ifr_flags;
        return new InterfaceInfo(name, index, mac, mtu, (flags & Libc.IFF_UP) != 0, (flags & Libc.IFF_RUNNING) != 0, type);
    }

    /// <summary>Queries an interface in the calling thread's network namespace.</summary>
    public static InterfaceInfo Query(string name)
    {
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
            NetworkException.ThrowLast(name, "socket(AF_UNIX)");
        try
        {
            return Query(fd, name);
        }
        finally
        {
            Libc.close(fd);
        }
    }

    /// <summary>Re-reads only the MTU (after a netlink link event said it changed).</summary>
    public static unsafe int QueryMtu<TKernel>(ref TKernel kernel, int socketFd, string name)
        where TKernel : struct, IPacketKernel
    {
        ifreq req = Request(name);
        Ioctl(ref kernel, socketFd, name, Libc.SIOCGIFMTU, &req, "SIOCGIFMTU");
        return req.ifr_mtu;
    }

    private static unsafe ifreq Request(string name)
    {
        // IFNAMSIZ includes the terminating NUL: at most 15 bytes of name.
        int length = Encoding.UTF8.GetByteCount(name);
        if (length == 0 || length >= Libc.IFNAMSIZ)
            throw new NetworkException(name, "interface name must be 1 to 15 bytes");
        ifreq req = default;
        Encoding.UTF8.GetBytes(name, new Span<byte>(req.ifr_name, Libc.IFNAMSIZ));
        return req;
    }

    private static unsafe void Ioctl<TKernel>(ref TKernel kernel, int fd, string name, uint request, ifreq* req, string what)
        where TKernel : struct, IPacketKernel
    {
        int r = kernel.Ioctl(fd, request, req);
        if (r < 0)
            throw new NetworkException(name, what, -r);
    }
}

/// <summary>
/// A 6-byte MAC address held by value in the low 48 bits, first wire byte most significant: the same
/// representation as Ggaoed.Protocol.MacAddress, which can replace this type when the branches meet.
/// </summary>
internal readonly record struct MacBytes(ulong Value)
{
    public static MacBytes Read(ReadOnlySpan<byte> six)
    {
        ulong v = 0;
        for (int i = 0; i < 6; i++)
            v = (v << 8) | six[i];
        return new MacBytes(v);
    }

    public void Write(Span<byte> destination)
    {
        for (int i = 0; i < 6; i++)
            destination[i] = (byte)(Value >> (8 * (5 - i)));
    }

    public override string ToString()
    {
        Span<byte> b = stackalloc byte[6];
        Write(b);
        return Convert.ToHexStringLower(b);
    }
}
