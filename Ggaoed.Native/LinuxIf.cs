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
