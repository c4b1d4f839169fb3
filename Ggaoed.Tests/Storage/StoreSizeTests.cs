using System.IO;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// The storage side of sizes that follow the store: a short write is still an I/O error (only a read
/// that ran into the end of the store is ENODATA, see the engine tests), a size read elsewhere is
/// applied as RefreshSize would, and which file systems make the daemon read sizes off its loop.
/// </summary>
public class StoreSizeTests
{
    private readonly FakeAio _aio = new();

    [Fact]
    public void ShortWrite_FailsTheUncoveredRequestsWithEio()
    {
        using StorageEngine e = _aio.Engine();
        Assert.True(e.TryAcquireSlot(out int a));
        e.Enqueue(a, IoKind.Write, 0, 2);
        Assert.True(e.TryAcquireSlot(out int b));
        e.Enqueue(b, IoKind.Write, 2, 2);
        e.SubmitPending();
        _aio.Complete(0, bytes: 1536);
        Assert.Equal(new[] { (a, 1024), (b, -(int)Errno.EIO) }, Reaper.Reap(e).ToArray());
    }

    [Fact]
    public void ApplySize_TakesASizeReadElsewhere_AndAFailedReadKeepsTheSize()
    {
        using var tmp = new TempStore(64 * 512);
        using BackingStore s = BackingStore.Open(tmp.FilePath, false, false);
        SizeRefresh r = s.ApplySize(128 * 512);
        Assert.True(r.Changed);
        Assert.Equal(64UL, r.PreviousSectors);
        Assert.Equal(128UL, s.Sectors);
        r = s.ApplySize(0, (int)Errno.EIO);
        Assert.False(r.Changed);
        Assert.Equal((int)Errno.EIO, r.Errno);
        Assert.Equal(128UL, s.Sectors);
        // What a probe thread reads through a duplicate descriptor.
        Assert.Equal(0, BackingStore.ReadSize(s.Fd, block: false, out long size));
        Assert.Equal(64L * 512, size);
    }

    [Fact]
    public void LocalFile_IsSizedOnTheLoop_NetworkAndClusterFileSystemsAreNot()
    {
        using var tmp = new TempStore(4096);
        using BackingStore s = BackingStore.Open(tmp.FilePath, false, false);
        Assert.NotEqual(0, s.FileSystemType);
        Assert.False(s.SizeReadMayWait);
        foreach (long magic in new[] { FsMagic.NFS_SUPER_MAGIC, FsMagic.SMB2_SUPER_MAGIC, FsMagic.CIFS_SUPER_MAGIC, FsMagic.FUSE_SUPER_MAGIC,
                     FsMagic.CEPH_SUPER_MAGIC, FsMagic.V9FS_MAGIC, FsMagic.GFS2_MAGIC, FsMagic.OCFS2_SUPER_MAGIC })
            Assert.True(FileSystems.SizeReadMayWait(magic), magic.ToString("x"));
        foreach (long magic in new[] { 0L, FsMagic.TMPFS_MAGIC, 0xEF53 /* ext4 */, 0x58465342 /* xfs */ })
            Assert.False(FileSystems.SizeReadMayWait(magic), magic.ToString("x"));
    }
}
