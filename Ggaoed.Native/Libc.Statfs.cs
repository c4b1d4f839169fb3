using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>fstatfs (sys/vfs.h): which file system holds a backing store.</summary>
[CHeader("sys/vfs.h")]
public static unsafe partial class Libc
{
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fstatfs(int fd, statfs* buf);
}

/// <summary>File system magic numbers (linux/magic.h) of the memory file systems.</summary>
[CHeader("linux/magic.h")]
public static class FsMagic
{
    public const long TMPFS_MAGIC = 0x01021994;
    public const long RAMFS_MAGIC = 0x858458f6;
    public const long HUGETLBFS_MAGIC = 0x958458f6;
}

/// <summary>struct statfs as glibc defines it on x86-64 (bits/statfs.h, 64-bit fields).</summary>
[CHeader("sys/vfs.h")]
public unsafe struct statfs
{
    public long f_type;
    public long f_bsize;
    public ulong f_blocks;
    public ulong f_bfree;
    public ulong f_bavail;
    public ulong f_files;
    public ulong f_ffree;
    public fixed int f_fsid[2];
    public long f_namelen;
    public long f_frsize;
    public long f_flags;
    [CField(Skip = true)] public fixed long f_spare[4];
}
