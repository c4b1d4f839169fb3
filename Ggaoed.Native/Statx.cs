using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>
/// statx(2) (glibc &gt;= 2.28). The caller passes a 256-byte buffer for <c>struct statx</c>; its layout is the
/// same on every architecture (include/uapi/linux/stat.h), so offsets are constants here rather than a
/// struct overlay.
/// </summary>
public static partial class Statx
{
    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_TYPE = 0x0001;
    public const uint STATX_MODE = 0x0002;

    /// <summary>sizeof(struct statx).</summary>
    public const int StructSize = 256;
    /// <summary>offsetof(struct statx, stx_mode): __u16.</summary>
    public const int OffsetMode = 28;
    /// <summary>offsetof(struct statx, stx_rdev_major) / stx_rdev_minor: __u32 each.</summary>
    public const int OffsetRdevMajor = 128;
    public const int OffsetRdevMinor = 132;

    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;
    public const int S_IFBLK = 0x6000;
    public const int S_IFDIR = 0x4000;
    public const int S_IFCHR = 0x2000;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int Invoke(int dirfd, string pathname, int flags, uint mask, byte* statxbuf);
}
