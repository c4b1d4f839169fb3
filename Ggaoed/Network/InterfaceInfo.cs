using System;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// What the daemon needs to know about one interface: its index (to bind the packet socket), MAC (the
/// source of every response, AoE notes 0.3), MTU (sector count in the config reply, AoE notes 0.6) and
/// whether it is up and running.
/// </summary>
internal readonly record struct InterfaceInfo(string Name, int Index, MacBytes Mac, int Mtu, bool IsUp, bool IsRunning)
{
    /// <summary>
    /// Queries an interface with SIOCGIF* ioctls on <paramref name="socketFd"/>. The socket decides the
    /// network namespace the name is looked up in, so pass the interface's own packet socket when there is one.
    /// </summary>
    /// <exception cref="NetworkException">The interface does not exist (ENODEV) or an ioctl failed.</exception>
    public static unsafe InterfaceInfo Query(int socketFd, string name)
    {
        ifreq req = Request(name);
        Ioctl(socketFd, name, Libc.SIOCGIFINDEX, &req, "SIOCGIFINDEX");
        int index = req.ifr_ifindex;

        req = Request(name);
        Ioctl(socketFd, name, Libc.SIOCGIFHWADDR, &req, "SIOCGIFHWADDR");
        // ARPHRD_ETHER = 1 (linux/if_arp.h): AoE runs over Ethernet only.
        if (req.ifr_hwaddr_family != 1)
            throw new NetworkException(name, "not an Ethernet interface (hardware type " + req.ifr_hwaddr_family.ToString(System.Globalization.CultureInfo.InvariantCulture) + ")");
        var mac = MacBytes.Read(new ReadOnlySpan<byte>(req.ifr_hwaddr_data, 6));

        int mtu = QueryMtu(socketFd, name);

        req = Request(name);
        Ioctl(socketFd, name, Libc.SIOCGIFFLAGS, &req, "SIOCGIFFLAGS");
        int flags = (ushort)req.ifr_flags;
        return new InterfaceInfo(name, index, mac, mtu, (flags & Libc.IFF_UP) != 0, (flags & Libc.IFF_RUNNING) != 0);
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
    public static unsafe int QueryMtu(int socketFd, string name)
    {
        ifreq req = Request(name);
        Ioctl(socketFd, name, Libc.SIOCGIFMTU, &req, "SIOCGIFMTU");
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

    private static unsafe void Ioctl(int fd, string name, uint request, ifreq* req, string what)
    {
        if (Libc.ioctl(fd, request, req) != 0)
            NetworkException.ThrowLast(name, what);
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
