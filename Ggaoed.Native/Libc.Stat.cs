using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>fstat/stat (sys/stat.h): backing-store size and type.</summary>
[CHeader("sys/stat.h")]
public static unsafe partial class Libc
{
    public const uint S_IFMT = 0xF000;
    public const uint S_IFSOCK = 0xC000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFBLK = 0x6000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFCHR = 0x2000;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fstat(int fd, stat* buf);

    [LibraryImport("libc", EntryPoint = "stat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int stat_path(string path, stat* buf);
}

/// <summary>struct stat as glibc defines it on x86-64 (sys/stat.h, bits/struct_stat.h).</summary>
[CHeader("sys/stat.h")]
public unsafe struct stat
{
    public ulong st_dev;
    public ulong st_ino;
    public ulong st_nlink;
    public uint st_mode;
    public uint st_uid;
    public uint st_gid;
    [CField(Skip = true)] public int __pad0;
    public ulong st_rdev;
    public long st_size;
    public long st_blksize;
    public long st_blocks;
    public timespec st_atim;
    public timespec st_mtim;
    public timespec st_ctim;
    [CField(Skip = true)] public fixed long __glibc_reserved[3];
}
