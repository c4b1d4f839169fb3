namespace Ggaoed.Native;

/// <summary>Address families seen in rtnetlink messages (sys/socket.h).</summary>
[CHeader("sys/socket.h")]
public static partial class Libc
{
    public const int AF_INET = 2;
    /// <summary>Bridge port notifications arrive on RTMGRP_LINK with this ifi_family.</summary>
    public const int AF_BRIDGE = 7;
}
