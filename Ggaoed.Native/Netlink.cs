namespace Ggaoed.Native;

/// <summary>rtnetlink (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h): interface hotplug; kobject uevents.</summary>
[CHeader("linux/netlink.h", "linux/rtnetlink.h", "linux/if_link.h")]
public static class Netlink
{
    public const int NETLINK_ROUTE = 0;
    /// <summary>Kernel uevents (device add/remove/change; a block device's RESIZE=1).</summary>
    public const int NETLINK_KOBJECT_UEVENT = 15;
    public const uint RTMGRP_LINK = 1;

    public const ushort NLMSG_NOOP = 1;
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLMSG_OVERRUN = 4;
    public const int NLMSG_ALIGNTO = 4;

    public const ushort NLM_F_REQUEST = 0x01;
    public const ushort NLM_F_MULTI = 0x02;
    public const ushort NLM_F_ACK = 0x04;
    public const ushort NLM_F_ROOT = 0x100;
    public const ushort NLM_F_MATCH = 0x200;
    public const ushort NLM_F_DUMP = 0x300;

    public const ushort RTM_NEWLINK = 16;
    public const ushort RTM_DELLINK = 17;
    public const ushort RTM_GETLINK = 18;
    public const int RTA_ALIGNTO = 4;

    public const ushort IFLA_UNSPEC = 0;
    public const ushort IFLA_ADDRESS = 1;
    public const ushort IFLA_BROADCAST = 2;
    public const ushort IFLA_IFNAME = 3;
    public const ushort IFLA_MTU = 4;
    public const ushort IFLA_LINK = 5;
    public const ushort IFLA_OPERSTATE = 16;
}

/// <summary>struct sockaddr_nl (linux/netlink.h).</summary>
[CHeader("linux/netlink.h")]
public struct sockaddr_nl
{
    public ushort nl_family;
    public ushort nl_pad;
    public uint nl_pid;
    public uint nl_groups;
}

/// <summary>struct nlmsghdr (linux/netlink.h).</summary>
[CHeader("linux/netlink.h")]
public struct nlmsghdr
{
    public uint nlmsg_len;
    public ushort nlmsg_type;
    public ushort nlmsg_flags;
    public uint nlmsg_seq;
    public uint nlmsg_pid;
}

/// <summary>struct ifinfomsg (linux/rtnetlink.h).</summary>
[CHeader("linux/rtnetlink.h")]
public struct ifinfomsg
{
    public byte ifi_family;
    [CField("__ifi_pad")] public byte __ifi_pad;
    public ushort ifi_type;
    public int ifi_index;
    public uint ifi_flags;
    public uint ifi_change;
}

/// <summary>struct rtattr (linux/rtnetlink.h).</summary>
[CHeader("linux/rtnetlink.h")]
public struct rtattr
{
    public ushort rta_len;
    public ushort rta_type;
}
