using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>What the daemon must know about the file system under a backing file, by its statfs f_type.</summary>
public static class FileSystems
{
    /// <summary>A memory file system (tmpfs, ramfs, hugetlbfs): no device behind its files (see <see cref="BackingStore.InMemory"/>).</summary>
    public static bool IsInMemory(long fileSystemType)
        => fileSystemType is FsMagic.TMPFS_MAGIC or FsMagic.RAMFS_MAGIC or FsMagic.HUGETLBFS_MAGIC;

    /// <summary>
    /// True for the network and cluster file systems, where fstat asks a server (NFS GETATTR, SMB
    /// QUERY_INFO, a FUSE daemon, Ceph's MDS, a 9P server, AFS) or a cluster lock (GFS2, OCFS2 take a
    /// shared glock / inode lock to return fresh attributes) and so may wait for as long as that peer
    /// takes, or forever when it is gone and the mount is "hard". Local file systems answer from the
    /// inode in memory. An unknown f_type (0: fstatfs failed at open) counts as local.
    /// </summary>
    public static bool SizeReadMayWait(long fileSystemType) => fileSystemType switch
    {
        FsMagic.NFS_SUPER_MAGIC or FsMagic.SMB_SUPER_MAGIC or FsMagic.CIFS_SUPER_MAGIC or FsMagic.SMB2_SUPER_MAGIC
            or FsMagic.FUSE_SUPER_MAGIC or FsMagic.CEPH_SUPER_MAGIC or FsMagic.V9FS_MAGIC or FsMagic.AFS_SUPER_MAGIC
            or FsMagic.AFS_FS_MAGIC or FsMagic.CODA_SUPER_MAGIC or FsMagic.OCFS2_SUPER_MAGIC or FsMagic.GFS2_MAGIC => true,
        _ => false,
    };
}
