using System;
using System.IO;
using System.Threading;
using Ggaoed.Native;
using Ggaoed.Storage;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// The block device side of the backing store against real loop devices: the O_EXCL claim (a mounted
/// disk refused with its mount point named, a second exporter refused, mounts kept out), a window on a
/// device, and sizes that follow <c>losetup -c</c>. Every loop device and mount is removed again, also
/// when an assertion fails.
/// </summary>
public class BackingStoreLoopTests
{
    [RootFact]
    public void MountedLoopDevice_IsRefused_NamingTheMountPoint()
    {
        using var loop = new LoopImage(16 << 20);
        Sh.Run("mkfs.ext4 -q -F " + loop.Device);
        using (var mount = new Mounted(loop.Device, loop.Scratch("mnt with space")))
        {
            var ex = Assert.Throws<StorageException>(() => BackingStore.Open(loop.Device, readOnly: false, directIo: true));
            Assert.Equal((int)Errno.EBUSY, ex.Errno);
            Assert.Equal(loop.Device + ": in use (the kernel refused an exclusive open, EBUSY): mounted on " + mount.Point
                + ". One daemon per disk: unmount it or stop what uses it, or export something else", ex.Message);
            // Read-only and shared exports claim the device all the same.
            Assert.Throws<StorageException>(() => BackingStore.Open(loop.Device, new BackingStoreOptions { ReadOnly = true, Shared = true }));
        }
        using BackingStore store = BackingStore.Open(loop.Device, readOnly: false, directIo: true);
        Assert.Equal(StoreClaim.ExclusiveOpen, store.Claim);
        // The claim works the other way too: the file system cannot be mounted while we export the disk.
        string other = LoopImage.Quote(loop.Scratch("mnt2"));
        bool mounted = false;
        try
        {
            Sh.Run("mount " + loop.Device + " " + other);
            mounted = true;
        }
        catch (InvalidOperationException)
        {
        }
        finally
        {
            if (mounted)
                Sh.Run("umount " + other, check: false);
        }
        Assert.False(mounted, "mount succeeded while the device was exported");
    }

    [RootFactNeedingGptPartitions]
    public void WholeDisk_WithAMountedPartition_IsRefused_NamingThePartition()
    {
        using var loop = new LoopImage(16 << 20, image =>
        {
            using var f = new FileStream(image, FileMode.Open, FileAccess.Write);
            f.Write(DiskImages.Gpt((16 << 20) / 512, Guid.NewGuid(), 2048, 30719));
        }, partitions: true);
        string part = loop.Device + "p1";
        for (int i = 0; i < 50 && !File.Exists(part); i++)
            Thread.Sleep(100);
        Sh.Run("mkfs.ext4 -q -F " + part);
        using var mount = new Mounted(part, loop.Scratch("part"));
        var ex = Assert.Throws<StorageException>(() => BackingStore.Open(loop.Device, readOnly: true, directIo: false));
        Assert.Contains(": partition " + Path.GetFileName(part) + " is mounted on " + mount.Point + ".", ex.Message);
    }

    [RootFact]
    public void SecondExporterOfABlockDevice_IsRefused_UntilTheFirstCloses()
    {
        using var loop = new LoopImage(4 << 20);
        BackingStore first = BackingStore.Open(loop.Device, readOnly: true, directIo: false);
        try
        {
            var ex = Assert.Throws<StorageException>(() => BackingStore.Open(loop.Device, readOnly: true, directIo: false));
            Assert.Contains("another program has it open exclusively (another ggaoed?); it is open in ", ex.Message);
            Assert.Contains("pid " + Environment.ProcessId + " (this ggaoed)", ex.Message);
        }
        finally
        {
            first.Dispose();
        }
        BackingStore.Open(loop.Device, readOnly: false, directIo: false).Dispose();
    }

    [RootFact]
    public void Reopen_WithThePredecessor_TakesTheExclusiveClaimOver()
    {
        using var loop = new LoopImage(4 << 20);
        BackingStore old = BackingStore.Open(loop.Device, readOnly: true, directIo: false);
        BackingStore fresh;
        try
        {
            fresh = BackingStore.Open(loop.Device, new BackingStoreOptions { DirectIo = true, Predecessor = old });
        }
        finally
        {
            old.Dispose();
        }
        using (fresh)
        {
            Assert.Equal(StoreClaim.ExclusiveOpen, fresh.Claim);
            string alias = Path.Combine(loop.Scratch("links"), "disk");
            File.CreateSymbolicLink(alias, loop.Device);
            Assert.True(fresh.IsSame(alias));
            Assert.False(fresh.IsSame(loop.ImagePath));
            Assert.False(fresh.ReadOnly);
            // The claim outlived the predecessor: still nobody else.
            Assert.Throws<StorageException>(() => BackingStore.Open(loop.Device, readOnly: true, directIo: false));
        }
        BackingStore.Open(loop.Device, readOnly: true, directIo: false).Dispose();
    }

    [RootFact]
    public void BlockDevice_WindowAndRefreshSize_FollowLosetupResize()
    {
        using var loop = new LoopImage(4 << 20);
        using BackingStore store = BackingStore.Open(loop.Device, new BackingStoreOptions { DirectIo = true, OffsetSectors = 2048 });
        Assert.True(store.IsBlockDevice);
        Assert.Equal(DeviceNumberOf(loop.Device), store.DeviceNumber);
        Assert.Equal(8192UL - 2048, store.Sectors);
        Assert.Equal(2048L * 512, store.BaseOffsetBytes);
        Assert.False(store.RefreshSize().Changed);

        loop.Resize(8 << 20);
        SizeRefresh r = store.RefreshSize();
        Assert.Equal((6144UL, 14336UL, true, false), (r.PreviousSectors, r.Sectors, r.Changed, r.WindowCut));
        Assert.Equal(8L << 20, store.SizeBytes);

        loop.Resize(512 << 10); // below the offset: nothing left to export
        r = store.RefreshSize();
        Assert.Equal((0UL, true), (r.Sectors, r.WindowCut));
    }

    [RootFact]
    public void WindowPastTheEndOfABlockDevice_IsRefused_AndReleasesTheClaim()
    {
        using var loop = new LoopImage(4 << 20);
        var ex = Assert.Throws<StorageException>(() =>
            BackingStore.Open(loop.Device, new BackingStoreOptions { OffsetSectors = 8000, LengthSectors = 193 }));
        Assert.Contains("offset + length (8000 + 193 sectors) beyond the end of " + loop.Device + " (8192 sectors)", ex.Message);
        using BackingStore exact = BackingStore.Open(loop.Device, new BackingStoreOptions { OffsetSectors = 8000, LengthSectors = 192 });
        Assert.Equal(192UL, exact.Sectors);
    }

    // ---- direct-io honesty: these confirm what the store already reported (no change was needed) ----

    [RootFact]
    public void DirectIo_OnAFileSystemWithoutIt_FallsBackAndSaysWhy()
    {
        using var tmp = new TempStore(512);
        string dir = Path.Combine(tmp.Directory, "ramfs");
        Directory.CreateDirectory(dir);
        Sh.Run("mount -t ramfs gg-ramfs " + LoopImage.Quote(dir));
        try
        {
            string file = Path.Combine(dir, "disk.img");
            File.WriteAllBytes(file, new byte[64 * 512]);
            using BackingStore s = BackingStore.Open(file, readOnly: false, directIo: true);
            Assert.False(s.DirectIo);
            Assert.Equal(DirectIoFallback.RefusedByFileSystem, s.Fallback);
            Assert.Equal("the file system refuses O_DIRECT (open gave EINVAL)", s.FallbackReason);
            Assert.True(s.InMemory);
            Assert.Equal(StoreClaim.WriteLock, s.Claim); // the lock does not depend on O_DIRECT
        }
        finally
        {
            Mounted.Unmount(dir);
        }
    }

    [RootFact]
    public void DirectIo_OnA4KnDevice_FallsBackAndSaysWhy()
    {
        using var image = new TempStore(4 << 20);
        string device = Sh.Run("losetup -f --show --sector-size 4096 " + LoopImage.Quote(image.FilePath)).Trim();
        try
        {
            using BackingStore s = BackingStore.Open(device, readOnly: true, directIo: true);
            Assert.Equal(4096, s.LogicalBlockSize);
            Assert.False(s.DirectIo);
            Assert.Equal(DirectIoFallback.AlignmentAbove512, s.Fallback);
            Assert.Contains("logical block size is 4096 bytes", s.FallbackReason);
        }
        finally
        {
            Sh.Run("losetup -d " + device, check: false);
        }
    }

    internal static unsafe DeviceNumber DeviceNumberOf(string node)
    {
        stat st;
        Assert.Equal(0, Libc.stat_path(node, &st));
        return DeviceNumber.FromDev(st.st_rdev);
    }
}

/// <summary>An image file in /var/tmp attached to a free loop device; Dispose detaches it and deletes the file.</summary>
internal sealed class LoopImage : IDisposable
{
    private readonly TempStore _image;

    public LoopImage(long bytes, Action<string>? format = null, bool partitions = false)
    {
        _image = new TempStore(bytes);
        try
        {
            format?.Invoke(_image.FilePath);
            Device = Sh.Run("losetup -f --show " + (partitions ? "-P " : "") + Quote(_image.FilePath)).Trim();
        }
        catch
        {
            _image.Dispose();
            throw;
        }
    }

    public string Device { get; } = "";

    public string ImagePath => _image.FilePath;

    /// <summary>A directory next to the image (created), e.g. a mount point.</summary>
    public string Scratch(string name)
    {
        string dir = Path.Combine(_image.Directory, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Truncates the image to <paramref name="bytes"/> and tells the loop driver (losetup -c).</summary>
    public void Resize(long bytes)
    {
        using (var f = new FileStream(_image.FilePath, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
            f.SetLength(bytes);
        Sh.Run("losetup -c " + Device);
    }

    /// <summary>A path in single quotes for Sh.Run's /bin/sh -c.</summary>
    public static string Quote(string path) => "'" + path.Replace("'", "'\\''") + "'";

    public void Dispose()
    {
        if (Device.Length > 0)
            Sh.Run("losetup -d " + Device, check: false);
        _image.Dispose();
    }
}

/// <summary>A file system mounted for one test in this mount namespace; Dispose unmounts it (lazily if it is busy).</summary>
internal sealed class Mounted : IDisposable
{
    public Mounted(string device, string point)
    {
        Point = point;
        Sh.Run("mount " + LoopImage.Quote(device) + " " + LoopImage.Quote(point));
    }

    public string Point { get; }

    public void Dispose()
    {
        Unmount(Point);
    }

    /// <summary>umount, or a lazy umount when something still holds it (a failed test must not leave a mount behind).</summary>
    public static void Unmount(string point)
    {
        string q = LoopImage.Quote(point);
        Sh.Run("umount " + q + " || umount -l " + q, check: false);
    }
}
