using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>ioctl (sys/ioctl.h, linux/fs.h, net/if.h): block device geometry and interface facts.</summary>
[CHeader("sys/ioctl.h", "linux/fs.h", "net/if.h")]
public static unsafe partial class Libc
{
    public const uint BLKSSZGET = 0x1268;
    public const uint BLKPBSZGET = 0x127B;
    public const uint BLKGETSIZE64 = 0x80081272;
    public const uint BLKFLSBUF = 0x1261;

    public const uint SIOCGIFFLAGS = 0x8913;
    public const uint SIOCGIFMTU = 0x8921;
    public const uint SIOCGIFHWADDR = 0x8927;
    public const uint SIOCGIFINDEX = 0x8933;

    public const int IFNAMSIZ = 16;
    public const int IFF_UP = 0x1;
    public const int IFF_BROADCAST = 0x2;
    public const int IFF_LOOPBACK = 0x8;
    public const int IFF_RUNNING = 0x40;
    public const int IFF_PROMISC = 0x100;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint if_nametoindex(string name);
}

/// <summary>struct ifreq (net/if.h): a name and one union member at offset 16.</summary>
[CHeader("net/if.h")]
[StructLayout(LayoutKind.Explicit, Size = 40)]
public unsafe struct ifreq
{
    [FieldOffset(0)] public fixed byte ifr_name[16];
    [FieldOffset(16)] public int ifr_ifindex;
    [FieldOffset(16)] public int ifr_mtu;
    [FieldOffset(16)] public short ifr_flags;
    [FieldOffset(16), CField("ifr_hwaddr.sa_family")] public ushort ifr_hwaddr_family;
    [FieldOffset(18), CField("ifr_hwaddr.sa_data")] public fixed byte ifr_hwaddr_data[14];
}
