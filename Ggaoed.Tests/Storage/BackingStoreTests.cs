using System;
using System.IO;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

public class BackingStoreTests
{
    [Fact]
    public void RegularFile_OpensWithDirectIo_AndReportsItsSize()
    {
        using var tmp = new TempStore(1 << 20 | 300); // a tail shorter than a sector is not exported
        using BackingStore s = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: true);
        Assert.False(s.IsBlockDevice);
        Assert.Equal((1 << 20) + 300, s.SizeBytes);
        Assert.Equal((ulong)(1 << 20) / 512, s.Sectors);
        Assert.Equal(512, s.LogicalBlockSize);
        Assert.True(s.DirectIo); // /var/tmp is ext4 here
        Assert.Equal(DirectIoFallback.None, s.Fallback);
        Assert.False(s.ReadOnly);
        Assert.True(s.Fd >= 0);
    }

    [Fact]
    public void BufferedOpen_HasNoDirectIo_AndNoFallbackReason()
    {
        using var tmp = new TempStore(4096);
        using BackingStore s = BackingStore.Open(tmp.FilePath, readOnly: true, directIo: false);
        Assert.False(s.DirectIo);
        Assert.Equal(DirectIoFallback.None, s.Fallback);
        Assert.True(s.ReadOnly);
    }

    [Fact]
    public void FilesOnTmpfs_AreInMemory_FilesOnADisk_AreNot()
    {
        using var onDisk = new TempStore(4096);
        using (BackingStore s = BackingStore.Open(onDisk.FilePath, readOnly: true, directIo: true))
            Assert.False(s.InMemory);

        Assert.Equal("tmpfs", FileSystemType("/dev/shm"));
        string path = "/dev/shm/ggaoed-inmemory-" + System.Environment.ProcessId + ".img";
        File.WriteAllBytes(path, new byte[4096]);
        try
        {
            using BackingStore s = BackingStore.Open(path, readOnly: true, directIo: true);
            Assert.True(s.InMemory);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string FileSystemType(string mountPoint)
    {
        foreach (string line in File.ReadAllLines("/proc/self/mounts"))
        {
            string[] f = line.Split(' ');
            if (f.Length > 2 && f[1] == mountPoint)
                return f[2];
        }
        return "";
    }

    [Fact]
    public void MissingFile_FailsWithPathAndErrnoText()
    {
        var ex = Assert.Throws<StorageException>(() => BackingStore.Open("/nonexistent/ggaoed/disk.img", false, true));
        Assert.Equal((int)Errno.ENOENT, ex.Errno);
        Assert.Contains("/nonexistent/ggaoed/disk.img", ex.Message);
        Assert.Contains("No such file or directory", ex.Message);
        Assert.Contains("ENOENT", ex.Message);
    }

    [Fact]
    public void Directory_IsRejected()
    {
        using var tmp = new TempStore(512);
        var ex = Assert.Throws<StorageException>(() => BackingStore.Open(tmp.Directory, readOnly: true, directIo: false));
        Assert.Contains(tmp.Directory, ex.Message);
    }

    [Fact]
    public void CharacterDevice_IsRejected()
    {
        var ex = Assert.Throws<StorageException>(() => BackingStore.Open("/dev/null", readOnly: true, directIo: false));
        Assert.Contains("not a regular file or block device", ex.Message);
    }

    // ---- one exporter per file ----------------------------------------------------------------------

    [Fact]
    public void SecondReadWriteOpenOfAFile_IsRefusedByTheLock_NamingTheHolder()
    {
        using var tmp = new TempStore(64 * 512);
        using BackingStore first = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: false);
        Assert.Equal(StoreClaim.WriteLock, first.Claim);
        // OFD locks belong to the open file, so even this same process is refused (a POSIX lock would not be).
        var ex = Assert.Throws<StorageException>(() => BackingStore.Open(tmp.FilePath, readOnly: false, directIo: true));
        Assert.Equal((int)Errno.EAGAIN, ex.Errno);
        Assert.StartsWith(tmp.FilePath + ": in use: pid " + System.Environment.ProcessId + " (this ggaoed) holds a write lock on it", ex.Message);
        Assert.Contains("set shared = true", ex.Message);
        // A read-only exporter next to a writer is refused too.
        ex = Assert.Throws<StorageException>(() => BackingStore.Open(tmp.FilePath, readOnly: true, directIo: false));
        Assert.Contains("holds a write lock", ex.Message);
    }

    [Fact]
    public void ClosingAStore_ReleasesItsLock()
    {
        using var tmp = new TempStore(8 * 512);
        BackingStore.Open(tmp.FilePath, false, false).Dispose();
        using BackingStore again = BackingStore.Open(tmp.FilePath, false, false);
        Assert.Equal(StoreClaim.WriteLock, again.Claim);
    }

    [Fact]
    public void ReadOnlyExports_ShareAReadLock_ButKeepAWriterOut()
    {
        using var tmp = new TempStore(8 * 512);
        using BackingStore a = BackingStore.Open(tmp.FilePath, readOnly: true, directIo: false);
        using BackingStore b = BackingStore.Open(tmp.FilePath, readOnly: true, directIo: false);
        Assert.Equal(StoreClaim.ReadLock, a.Claim);
        Assert.Equal(StoreClaim.ReadLock, b.Claim);
        var ex = Assert.Throws<StorageException>(() => BackingStore.Open(tmp.FilePath, readOnly: false, directIo: false));
        Assert.Contains("holds a read lock on it", ex.Message);
        Assert.Contains("export it read-only here too", ex.Message);
    }

    [Fact]
    public void SharedFiles_TakeNoLock_SoOtherGatewaysCanOpenThem()
    {
        using var tmp = new TempStore(8 * 512);
        var shared = new BackingStoreOptions { Shared = true, DirectIo = true };
        using BackingStore a = BackingStore.Open(tmp.FilePath, shared);
        using BackingStore b = BackingStore.Open(tmp.FilePath, shared);
        Assert.Equal(StoreClaim.None, a.Claim);
        Assert.Equal(StoreClaim.None, b.Claim);
        Assert.True(a.Shared);
        // ...and a non-shared exporter can still lock it: shared ones do not stand in its way.
        using BackingStore c = BackingStore.Open(tmp.FilePath, false, false);
        Assert.Equal(StoreClaim.WriteLock, c.Claim);
    }

    [Fact]
    public void Reopen_WithThePredecessor_TakesItsLockOver_AndKeepsItAfterThePredecessorCloses()
    {
        using var tmp = new TempStore(8 * 512);
        BackingStore old = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: false);
        using BackingStore fresh = BackingStore.Open(tmp.FilePath, new BackingStoreOptions { DirectIo = true, Predecessor = old });
        Assert.Equal(StoreClaim.WriteLock, fresh.Claim);
        old.Dispose();
        Assert.Throws<StorageException>(() => BackingStore.Open(tmp.FilePath, false, false));
        fresh.Dispose();
        BackingStore.Open(tmp.FilePath, false, false).Dispose();
    }

    [Fact]
    public void Reopen_FromReadOnlyToReadWrite_TradesTheReadLockForAWriteLock()
    {
        using var tmp = new TempStore(8 * 512);
        using BackingStore old = BackingStore.Open(tmp.FilePath, readOnly: true, directIo: false);
        using BackingStore fresh = BackingStore.Open(tmp.FilePath, new BackingStoreOptions { Predecessor = old });
        Assert.Equal(StoreClaim.WriteLock, fresh.Claim);
        Assert.Throws<StorageException>(() => BackingStore.Open(tmp.FilePath, readOnly: true, directIo: false));
    }

    [Fact]
    public void Reopen_FromReadOnlyToReadWrite_NextToAnotherReader_IsRefused_AndThePredecessorKeepsItsLock()
    {
        using var tmp = new TempStore(8 * 512);
        using BackingStore old = BackingStore.Open(tmp.FilePath, readOnly: true, directIo: false);
        BackingStore other = BackingStore.Open(tmp.FilePath, readOnly: true, directIo: false);
        var ex = Assert.Throws<StorageException>(() => BackingStore.Open(tmp.FilePath, new BackingStoreOptions { Predecessor = old }));
        Assert.Contains("holds a read lock", ex.Message);
        other.Dispose();
        // The predecessor's read lock was put back: a writer is still kept out.
        Assert.Throws<StorageException>(() => BackingStore.Open(tmp.FilePath, false, false));
    }

    [Fact]
    public void APredecessorOfAnotherFile_IsIgnored()
    {
        using var one = new TempStore(8 * 512);
        using var two = new TempStore(8 * 512);
        using BackingStore a = BackingStore.Open(one.FilePath, false, false);
        using BackingStore holder = BackingStore.Open(two.FilePath, false, false);
        Assert.Throws<StorageException>(() => BackingStore.Open(two.FilePath, new BackingStoreOptions { Predecessor = a }));
    }

    [Fact]
    public void IsSame_KnowsTheFileUnderAnotherName_UntilClosed()
    {
        using var tmp = new TempStore(8 * 512);
        using var other = new TempStore(8 * 512);
        string link = Path.Combine(tmp.Directory, "link.img");
        File.CreateSymbolicLink(link, tmp.FilePath);
        BackingStore s = BackingStore.Open(tmp.FilePath, false, false);
        Assert.True(s.IsSame(link));
        Assert.False(s.IsSame(other.FilePath));
        Assert.False(s.IsSame(tmp.Directory));
        Assert.False(s.IsSame("/nonexistent/disk.img"));
        // ...so a reopen under the other name takes the lock over.
        using (BackingStore fresh = BackingStore.Open(link, new BackingStoreOptions { Predecessor = s }))
            Assert.Equal(StoreClaim.WriteLock, fresh.Claim);
        s.Dispose();
        Assert.False(s.IsSame(tmp.FilePath));
    }

    // ---- the exported window (vblade -o/-l) -----------------------------------------------------------

    [Theory]
    [InlineData(0L, null, 100UL)]
    [InlineData(10L, null, 90UL)]
    [InlineData(10L, 90L, 90UL)]    // ends on the store's last sector
    [InlineData(99L, null, 1UL)]    // only the last sector
    [InlineData(99L, 1L, 1UL)]
    [InlineData(0L, 0L, 0UL)]
    public void Window_ExportsOffsetAndLength(long offset, long? length, ulong sectors)
    {
        using var tmp = new TempStore(100 * 512 + 300); // the 300-byte tail is not a sector
        using BackingStore s = BackingStore.Open(tmp.FilePath, new BackingStoreOptions { OffsetSectors = offset, LengthSectors = length });
        Assert.Equal(sectors, s.Sectors);
        Assert.Equal(offset * 512, s.BaseOffsetBytes);
        Assert.Equal(offset, s.OffsetSectors);
        Assert.Equal(length, s.LengthSectors);
        Assert.Equal(100 * 512 + 300, s.SizeBytes);
        Assert.False(s.WindowCut);
    }

    [Theory]
    [InlineData(10L, 91L, "offset + length (10 + 91 sectors) beyond the end of")] // one sector past the end
    [InlineData(0L, 101L, "offset + length (0 + 101 sectors) beyond the end of")]
    [InlineData(100L, null, "offset 100 beyond the end of")]                     // nothing left
    [InlineData(100L, 0L, "offset + length (100 + 0 sectors) beyond the end of")]
    public void Window_BeyondTheEnd_IsRefused(long offset, long? length, string what)
    {
        using var tmp = new TempStore(100 * 512 + 300);
        var ex = Assert.Throws<StorageException>(() =>
            BackingStore.Open(tmp.FilePath, new BackingStoreOptions { OffsetSectors = offset, LengthSectors = length }));
        Assert.Equal(tmp.FilePath + ": " + what + " " + tmp.FilePath + " (100 sectors): correct offset/length or grow the store", ex.Message);
        Assert.Equal((int)Errno.EINVAL, ex.Errno);
        // Refused before the lock was kept: the file is free.
        BackingStore.Open(tmp.FilePath, false, false).Dispose();
    }

    [Fact]
    public void Window_LastSectorIsTheStoresLastSector()
    {
        using var tmp = new TempStore(100 * 512);
        byte[] marker = new byte[512];
        marker.AsSpan().Fill(0x5A);
        using (var f = new FileStream(tmp.FilePath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            f.Position = 99 * 512;
            f.Write(marker);
        }
        using BackingStore s = BackingStore.Open(tmp.FilePath, new BackingStoreOptions { OffsetSectors = 40, LengthSectors = 60 });
        // Exported sector Sectors-1 lives at BaseOffsetBytes + (Sectors-1)*512: the store's sector 99.
        byte[] read = new byte[512];
        long at = s.BaseOffsetBytes + (long)(s.Sectors - 1) * 512;
        Assert.Equal(99 * 512, at);
        using var handle = File.OpenHandle(tmp.FilePath);
        Assert.Equal(512, RandomAccess.Read(handle, read, at));
        Assert.Equal(marker, read);
    }

    // ---- sizes that follow the store --------------------------------------------------------------------

    [Fact]
    public void RefreshSize_FollowsAFileThatGrowsAndShrinks()
    {
        using var tmp = new TempStore(100 * 512);
        using BackingStore s = BackingStore.Open(tmp.FilePath, false, false);
        SizeRefresh r = s.RefreshSize();
        Assert.False(r.Changed);
        Assert.Equal((100UL, 100UL, 0), (r.PreviousSectors, r.Sectors, r.Errno));

        Truncate(tmp.FilePath, 250 * 512 + 100);
        r = s.RefreshSize();
        Assert.True(r.Changed);
        Assert.Equal((100UL, 250UL), (r.PreviousSectors, r.Sectors));
        Assert.Equal(250UL, s.Sectors);
        Assert.Equal(250 * 512 + 100, s.SizeBytes);

        Truncate(tmp.FilePath, 30 * 512);
        r = s.RefreshSize();
        Assert.Equal((250UL, 30UL, false), (r.PreviousSectors, r.Sectors, r.WindowCut));
    }

    [Fact]
    public void RefreshSize_KeepsAWindowFixed_CutsItWhenTheStoreShrinksBelowIt_AndRestoresIt()
    {
        using var tmp = new TempStore(100 * 512);
        using BackingStore s = BackingStore.Open(tmp.FilePath, new BackingStoreOptions { OffsetSectors = 10, LengthSectors = 50 });
        Truncate(tmp.FilePath, 200 * 512);
        SizeRefresh r = s.RefreshSize();
        Assert.Equal((50UL, false, false), (r.Sectors, r.Changed, r.WindowCut));

        Truncate(tmp.FilePath, 40 * 512); // the window's sectors 30..49 are gone
        r = s.RefreshSize();
        Assert.Equal((50UL, 30UL, true, true), (r.PreviousSectors, r.Sectors, r.Changed, r.WindowCut));
        Assert.True(s.WindowCut);

        Truncate(tmp.FilePath, 5 * 512); // the offset is past the end: nothing is left
        r = s.RefreshSize();
        Assert.Equal((0UL, true), (r.Sectors, r.WindowCut));

        Truncate(tmp.FilePath, 60 * 512); // grown back to exactly the window
        r = s.RefreshSize();
        Assert.Equal((0UL, 50UL, false), (r.PreviousSectors, r.Sectors, r.WindowCut));
    }

    [Fact]
    public void RefreshSize_WithoutLength_FollowsTheEnd_PastTheOffset()
    {
        using var tmp = new TempStore(100 * 512);
        using BackingStore s = BackingStore.Open(tmp.FilePath, new BackingStoreOptions { OffsetSectors = 20 });
        Assert.Equal(80UL, s.Sectors);
        Truncate(tmp.FilePath, 300 * 512);
        Assert.Equal(280UL, s.RefreshSize().Sectors);
        Truncate(tmp.FilePath, 20 * 512);
        SizeRefresh r = s.RefreshSize();
        Assert.Equal((0UL, true), (r.Sectors, r.WindowCut));
    }

    [Fact]
    public void RefreshSize_OnAClosedStore_ReportsEbadf_AndKeepsTheSize()
    {
        using var tmp = new TempStore(100 * 512);
        BackingStore s = BackingStore.Open(tmp.FilePath, false, false);
        s.Dispose();
        SizeRefresh r = s.RefreshSize();
        Assert.Equal(((int)Errno.EBADF, 100UL, false), (r.Errno, r.Sectors, r.Changed));
    }

    [Fact]
    public void RefreshSize_AllocatesNothing()
    {
        using var tmp = new TempStore(100 * 512);
        using BackingStore s = BackingStore.Open(tmp.FilePath, new BackingStoreOptions { OffsetSectors = 1, LengthSectors = 10 });
        for (int i = 0; i < 100; i++)
            s.RefreshSize();
        long before = System.GC.GetAllocatedBytesForCurrentThread();
        ulong sum = 0;
        for (int i = 0; i < 10_000; i++)
            sum += s.RefreshSize().Sectors;
        Assert.Equal(0, System.GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(100_000UL, sum);
    }

    private static void Truncate(string path, long bytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        f.SetLength(bytes);
    }

    [Fact]
    public void Dispose_ClosesTheDescriptor_AndIsIdempotent()
    {
        // (Checking /proc/self/fd would race with other tests reusing the number.)
        using var tmp = new TempStore(512);
        BackingStore s = BackingStore.Open(tmp.FilePath, false, false);
        s.Dispose();
        Assert.Equal(-1, s.Fd);
        s.Dispose();
    }
}
