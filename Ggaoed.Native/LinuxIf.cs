namespace Ggaoed.Native;

/// <summary>
/// Interface flags that only the kernel's linux/if.h names (glibc's net/if.h stops at IFF_DYNAMIC):
/// rtnetlink reports them in ifinfomsg.ifi_flags.
/// </summary>
[CHeader("linux/if.h")]
public static class LinuxIf
{
    public const int IFF_LOWER_UP = 0x10000;
    public const int IFF_DORMANT = 0x20000;
}

/// <summary>
/// Link-layer hardware types (net/if_arp.h): SIOCGIFHWADDR's sa_family and rtnetlink's ifi_type say
/// which kind of interface a name is.
/// </summary>
[CHeader("net/if_arp.h")]
public static class IfArp
{
    /// <summary>Ethernet: NICs, veth, bridges, bonds, VLANs, macvlan.</summary>
    public const int ARPHRD_ETHER = 1;

    /// <summary>The loopback device: Ethernet framing, an all-zero address, and every frame sent comes back in.</summary>
    public const int ARPHRD_LOOPBACK = 772;
}
