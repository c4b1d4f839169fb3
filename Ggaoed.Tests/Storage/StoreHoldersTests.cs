using System;
using System.IO;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// What the refusal of a busy disk or a locked file says, against made-up /sys and /proc trees (real
/// device-mapper and md are not available in every test kernel; the mounted loop device is in
/// BackingStoreLoopTests).
/// </summary>
public sealed class StoreHoldersTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gg-holders-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string SysDevBlock => Path.Combine(_root, "sys", "dev", "block");
    private string Devices => Path.Combine(_root, "sys", "devices");
    private string MountInfo => Path.Combine(_root, "mountinfo");
    private string Swaps => Path.Combine(_root, "swaps");
    private string Proc => Path.Combine(_root, "proc");

    private StoreHolders Holders(int selfPid = 1) => new(SysDevBlock, MountInfo, Swaps, Proc, selfPid);

    /// <summary>devices/NAME with a dev file, linked from dev/block/MAJ:MIN as in sysfs; a partition lives inside its disk.</summary>
    private string Disk(string name, DeviceNumber dev, string? parentDir = null)
    {
        string dir = Path.Combine(parentDir ?? Devices, name);
        Directory.CreateDirectory(Path.Combine(dir, "holders"));
        File.WriteAllText(Path.Combine(dir, "dev"), dev + "\n");
        if (parentDir != null)
            File.WriteAllText(Path.Combine(dir, "partition"), "1\n");
        Directory.CreateDirectory(SysDevBlock);
        File.CreateSymbolicLink(Path.Combine(SysDevBlock, dev.ToString()), dir);
        return dir;
    }

    private void Mounts(params string[] lines)
    {
        File.WriteAllText(MountInfo, string.Join("\n", lines) + "\n");
        File.WriteAllText(Swaps, "Filename\tType\tSize\tUsed\tPriority\n");
    }

    [Fact]
    public void MountedDisk_NamesTheMountPoint_Unescaped()
    {
        Disk("loop0", new DeviceNumber(7, 0));
        Mounts("21 26 0:20 / /proc rw,relatime - proc proc rw",
               "103 62 7:0 / /mnt/my\\040data rw,relatime shared:1 - ext4 /dev/loop0 rw");
        Assert.Equal("mounted on /mnt/my data", Holders().DescribeBusyBlockDevice(new DeviceNumber(7, 0)));
    }

    [Fact]
    public void Btrfs_WithAnAnonymousDeviceNumber_IsFoundByItsSource()
    {
        Disk("sdb", new DeviceNumber(8, 16));
        Mounts("90 1 0:45 / /srv rw - btrfs /dev/sdb rw,space_cache=v2");
        Assert.Equal("mounted on /srv", Holders().DescribeBusyBlockDevice(new DeviceNumber(8, 16)));
    }

    [Fact]
    public void MountedPartition_IsNamed_WhenTheWholeDiskIsRefused()
    {
        string disk = Disk("sdb", new DeviceNumber(8, 16));
        Disk("sdb1", new DeviceNumber(8, 17), disk);
        Mounts("90 1 8:17 / /boot rw - ext4 /dev/sdb1 rw");
        Assert.Equal("partition sdb1 is mounted on /boot", Holders().DescribeBusyBlockDevice(new DeviceNumber(8, 16)));
    }

    [Fact]
    public void Partition_OfAMountedDisk_NamesItsDisk()
    {
        string disk = Disk("sdb", new DeviceNumber(8, 16));
        Disk("sdb1", new DeviceNumber(8, 17), disk);
        Mounts("90 1 8:16 / /data rw - xfs /dev/sdb rw");
        Assert.Equal("its disk sdb is mounted on /data", Holders().DescribeBusyBlockDevice(new DeviceNumber(8, 17)));
    }

    [Fact]
    public void DeviceMapperAndMdHolders_AreNamed()
    {
        string disk = Disk("sdc", new DeviceNumber(8, 32));
        Directory.CreateDirectory(Path.Combine(disk, "holders", "dm-3", "dm"));
        File.WriteAllText(Path.Combine(disk, "holders", "dm-3", "dm", "name"), "vg0-lv1\n");
        string part = Disk("sdc2", new DeviceNumber(8, 34), disk);
        Directory.CreateDirectory(Path.Combine(part, "holders", "md127"));
        Mounts();
        Assert.Equal("used by device-mapper dm-3 (vg0-lv1: LVM, dm-crypt or multipath); partition sdc2 is a member of RAID array md127",
            Holders().DescribeBusyBlockDevice(new DeviceNumber(8, 32)));
    }

    [Fact]
    public void Swap_IsNamed()
    {
        DeviceNumber loop0 = RealBlockDevice("/dev/loop0");
        Disk("loop0", loop0);
        Mounts();
        File.WriteAllText(Swaps, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/loop0                              partition\t4092\t\t0\t\t-2\n");
        Assert.Equal("in use as swap", Holders().DescribeBusyBlockDevice(loop0));
    }

    [Fact]
    public void NothingTold_SaysAnotherExclusiveOpener_AndWhoHasItOpen()
    {
        DeviceNumber loop0 = RealBlockDevice("/dev/loop0");
        Disk("loop0", loop0);
        Mounts();
        // Two processes with the device open (one of them this one), one with something else.
        FakeProcess(812, "ggaoed", "/dev/loop0");
        FakeProcess(4410, "testhost", "/dev/loop0");
        FakeProcess(77, "bash", "/dev/null");
        Assert.Equal("another program has it open exclusively (another ggaoed?); it is open in pid 812 (ggaoed), pid 4410 (this ggaoed)",
            Holders(selfPid: 4410).DescribeBusyBlockDevice(loop0));
    }

    [Fact]
    public void Partition_WhoseDiskSomeoneHasOpen_NamesThatProcess()
    {
        DeviceNumber loop0 = RealBlockDevice("/dev/loop0");
        string disk = Disk("loop0", loop0);
        Disk("loop0p1", new DeviceNumber(259, 99), disk);
        Mounts();
        FakeProcess(900, "ggaoed", "/dev/loop0");
        Assert.Equal("another program has it open exclusively (another ggaoed?); it is open in pid 900 (ggaoed)",
            Holders().DescribeBusyBlockDevice(new DeviceNumber(259, 99)));
    }

    [Fact]
    public void UnknownDevice_WithNothingOpen_StillSaysWhatItCan()
    {
        Mounts();
        Assert.Equal("another program has it open exclusively (another ggaoed?)", Holders().DescribeBusyBlockDevice(new DeviceNumber(253, 9)));
    }

    [Fact]
    public void LockHolders_AreFoundByTheirFdinfoLockLines()
    {
        Write(Path.Combine(Proc, "55", "fdinfo", "4"), "pos:\t0\nflags:\t0100002\nmnt_id:\t26\nino:\t11658064\nlock:\t1: OFDLCK ADVISORY  WRITE -1 fe:00:11658064 0 EOF\n");
        Write(Path.Combine(Proc, "55", "comm"), "qemu-system-x86\n");
        // Another file whose inode number merely starts with ours, and a flock() lock (no conflict with OFD locks).
        Write(Path.Combine(Proc, "60", "fdinfo", "3"), "lock:\t1: OFDLCK ADVISORY  READ -1 fe:00:116580640 0 EOF\n");
        Write(Path.Combine(Proc, "61", "fdinfo", "3"), "lock:\t1: FLOCK  ADVISORY  WRITE 61 fe:00:11658064 0 EOF\n");
        Write(Path.Combine(Proc, "62", "fdinfo", "9"), "lock:\t1: POSIX  ADVISORY  READ 62 fe:00:11658064 0 EOF\n");
        Assert.Equal("pid 55 (qemu-system-x86), pid 62", Holders().ProcessesLocking(new DeviceNumber(0xfe, 0), 11658064));
        Assert.Equal("", Holders().ProcessesLocking(new DeviceNumber(8, 1), 11658064));
    }

    [Theory]
    [InlineData("/mnt/a\\040b", "/mnt/a b")]
    [InlineData("/x\\011y\\134z", "/x\ty\\z")]
    [InlineData("/trailing\\04", "/trailing\\04")]
    [InlineData("/plain", "/plain")]
    public void MountPaths_AreUnescaped(string raw, string path) => Assert.Equal(path, StoreHolders.Unescape(raw));

    /// <summary>/proc/PID with a comm and one descriptor (fd 5) linked to <paramref name="openFile"/>.</summary>
    private void FakeProcess(int pid, string comm, string openFile)
    {
        string fd = Path.Combine(Proc, pid.ToString(), "fd");
        Directory.CreateDirectory(fd);
        File.CreateSymbolicLink(Path.Combine(fd, "5"), openFile);
        File.WriteAllText(Path.Combine(Proc, pid.ToString(), "comm"), comm + "\n");
    }

    private static void Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    private static unsafe DeviceNumber RealBlockDevice(string path)
    {
        Ggaoed.Native.stat st;
        Assert.True(Ggaoed.Native.Libc.stat_path(path, &st) == 0, path + " is needed as a real block device node");
        Assert.Equal(Ggaoed.Native.Libc.S_IFBLK, st.st_mode & Ggaoed.Native.Libc.S_IFMT);
        return DeviceNumber.FromDev(st.st_rdev);
    }
}
