using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>fstatfs (sys/vfs.h): which file system holds a backing store.</summary>
[CHeader("sys/vfs.h")]
public static unsafe partial class Libc
{
    [LibraryImport("libc", SetLastError = true)]
    public static partial int fstatfs(int fd, statfs* buf);
}

/// <summary>
/// File system magic numbers (linux/magic.h; GFS2's from linux/gfs2_ondisk.h): the memory file
/// systems, and the network and cluster file systems whose fstat may wait for a server.
/// </summary>
[CHeader("linux/magic.h", "linux/gfs2_ondisk.h")]
public static class FsMagic
{
    public const long TMPFS_MAGIC = 0x01021994;
    public const long RAMFS_MAGIC = 0x858458f6;
    public const long HUGETLBFS_MAGIC = 0x958458f6;

    public const long NFS_SUPER_MAGIC = 0x6969;
    public const long SMB_SUPER_MAGIC = 0x517B;
    public const long CIFS_SUPER_MAGIC = 0xFF534D42;
    public const long SMB2_SUPER_MAGIC = 0xFE534D42;
    public const long FUSE_SUPER_MAGIC = 0x65735546;
    public const long CEPH_SUPER_MAGIC = 0x00c36400;
    public const long V9FS_MAGIC = 0x01021997;
    public const long AFS_SUPER_MAGIC = 0x5346414F;
    public const long AFS_FS_MAGIC = 0x6B414653;
    public const long CODA_SUPER_MAGIC = 0x73757245;
    public const long OCFS2_SUPER_MAGIC = 0x7461636f;
    public const long GFS2_MAGIC = 0x01161970;
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
