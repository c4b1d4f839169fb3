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
