using System;
using System.Diagnostics;
using System.IO;
using Ggaoed.Daemon.Config;
using Ggaoed.Native;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Config;

/// <summary>The real seam: statx(2) on real paths, a real ethers file, a real config file on disk.</summary>
public sealed class SystemConfigHostTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gg-cfg-host-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void StatPath_ClassifiesFileDirectoryCharDeviceAndMissing()
    {
        string file = Path.Combine(_dir, "disk.img");
        File.WriteAllBytes(file, new byte[4096]);
        string link = Path.Combine(_dir, "link.img");
        File.CreateSymbolicLink(link, file);
        Assert.Equal(PathKind.RegularFile, SystemConfigHost.StatPath(file));
        Assert.Equal(PathKind.RegularFile, SystemConfigHost.StatPath(link));
        Assert.Equal(PathKind.Directory, SystemConfigHost.StatPath(_dir));
        Assert.Equal(PathKind.Other, SystemConfigHost.StatPath("/dev/null"));
        Assert.Equal(PathKind.Missing, SystemConfigHost.StatPath(Path.Combine(_dir, "nope")));
        Assert.Equal(PathKind.Missing, SystemConfigHost.StatPath(Path.Combine(file, "under-a-file")));
    }

    [Fact]
    public void Load_ReadsTheFileAndTheInjectedEthersPath()
    {
        string image = Path.Combine(_dir, "disk.img");
        File.WriteAllBytes(image, new byte[4096]);
        string ethers = Path.Combine(_dir, "ethers");
        File.WriteAllText(ethers, "00:16:3e:12:34:56 client1\n");
        string conf = Path.Combine(_dir, "ggaoed.conf");
        File.WriteAllText(conf, "[defaults]\ninterfaces = eth0\n[d]\npath = " + image + "\nshelf = 2\nslot = 3\naccept = client1\n"
            + "[e]\npath = " + Path.Combine(_dir, "missing.img") + "\nshelf = 2\nslot = 4\n");
        ConfigLoadResult r = ConfigLoader.Load(conf, new SystemConfigHost(ethers));
        Assert.Empty(r.Errors);
        Assert.Equal(conf + ":9: path: [e] is not exported for now: " + Path.Combine(_dir, "missing.img")
            + " does not exist (create it or correct the path); ggaoed tries again on every reload", Assert.Single(r.Warnings).ToString());
        Assert.NotNull(r.Config!.FindDevice("e")!.Unavailable);

        File.WriteAllBytes(Path.Combine(_dir, "missing.img"), new byte[512]);
        r = ConfigLoader.Load(conf, new SystemConfigHost(ethers));
        Assert.True(r.Ok);
        Assert.Empty(r.Warnings);
        Assert.Null(r.Config!.FindDevice("e")!.Unavailable);
        Assert.Equal(new ulong[] { 0x00163E123456 }, r.Config!.FindDevice("d")!.Accept);
    }

    [Fact]
    public void ExaminePath_GivesOneIdentityPerFile_WhateverNameReachesIt_AndTheFileSize()
    {
        string file = Path.Combine(_dir, "disk.img");
        File.WriteAllBytes(file, new byte[3 * 512]);
        string symlink = Path.Combine(_dir, "link.img");
        File.CreateSymbolicLink(symlink, file);
        string hardlink = Path.Combine(_dir, "hard.img");
        Assert.Equal(0, ToolProcess.Run("ln", file, hardlink).ExitCode);
        string other = Path.Combine(_dir, "other.img");
        File.WriteAllBytes(other, new byte[512]);

        PathInfo info = SystemConfigHost.ExaminePath(file);
        Assert.Equal(PathKind.RegularFile, info.Kind);
        Assert.Equal(3 * 512, info.SizeBytes);
        Assert.False(info.Identity.BlockDevice);
        Assert.Equal(info.Identity, SystemConfigHost.ExaminePath(symlink).Identity);
        Assert.Equal(info.Identity, SystemConfigHost.ExaminePath(hardlink).Identity);
        Assert.NotEqual(info.Identity, SystemConfigHost.ExaminePath(other).Identity);
    }

    [Fact]
    public void TheSameFileUnderTwoNames_IsRefused_ThroughTheRealHost()
    {
        string file = Path.Combine(_dir, "disk.img");
        File.WriteAllBytes(file, new byte[4096]);
        string symlink = Path.Combine(_dir, "link.img");
        File.CreateSymbolicLink(symlink, file);
        ConfigLoadResult r = ConfigLoader.LoadText("[a]\npath = " + file + "\nshelf = 1\nslot = 1\n[b]\npath = " + symlink + "\nshelf = 1\nslot = 2\n",
            "g.conf", new SystemConfigHost(Path.Combine(_dir, "ethers")));
        Assert.Equal("g.conf:6: path: " + symlink + " is the same file as [a] exports (line 2): a backing store can be exported only once; remove one of the devices",
            Assert.Single(r.Errors).ToString());
    }

    [RootFact]
    public void ExaminePath_OfABlockDevice_IsItsDeviceNumber_AndItsSizeComesFromSysfs()
    {
        string image = Path.Combine(_dir, "loop.img");
        using (var f = new FileStream(image, FileMode.Create))
            f.SetLength(8 << 20);
        ToolResult attach = ToolProcess.Run("losetup", "-f", "--show", image);
        Assert.True(attach.ExitCode == 0, attach.Output);
        string loop = attach.StdOut.Trim();
        try
        {
            PathInfo info = SystemConfigHost.ExaminePath(loop);
            Assert.Equal(PathKind.BlockDevice, info.Kind);
            Assert.True(info.Identity.BlockDevice);
            Assert.Equal(8L << 20, info.SizeBytes);
            // A second node for the same device number (as /dev/disk/by-uuid or a copy made with mknod) is the same store.
            string[] majorMinor = File.ReadAllText("/sys/class/block/" + Path.GetFileName(loop) + "/dev").Trim().Split(':');
            string node = Path.Combine(_dir, "node");
            ToolResult mknod = ToolProcess.Run("mknod", node, "b", majorMinor[0], majorMinor[1]);
            Assert.True(mknod.ExitCode == 0, mknod.Output);
            Assert.Equal(info.Identity, SystemConfigHost.ExaminePath(node).Identity);
            Assert.NotEqual(info.Identity, SystemConfigHost.ExaminePath(image).Identity);
        }
        finally
        {
            ToolProcess.Run("losetup", "-d", loop);
        }
    }

    [Fact]
    public void StatxOffsets_MatchTheCHeaders()
    {
        // Prove the constants against <linux/stat.h> with the C compiler, as for every other ABI constant.
        string c = Path.Combine(_dir, "statx.c");
        File.WriteAllText(c, "#include <stddef.h>\n#include <linux/stat.h>\n#include <fcntl.h>\n"
            + $"_Static_assert(sizeof(struct statx) == {Statx.StructSize}, \"size\");\n"
            + $"_Static_assert(offsetof(struct statx, stx_mode) == {Statx.OffsetMode}, \"mode\");\n"
            + $"_Static_assert(offsetof(struct statx, stx_rdev_major) == {Statx.OffsetRdevMajor}, \"major\");\n"
            + $"_Static_assert(offsetof(struct statx, stx_rdev_minor) == {Statx.OffsetRdevMinor}, \"minor\");\n"
            + $"_Static_assert(STATX_TYPE == {Statx.STATX_TYPE} && STATX_MODE == {Statx.STATX_MODE}, \"mask\");\n"
            + $"_Static_assert(AT_FDCWD == {Statx.AT_FDCWD} && AT_SYMLINK_NOFOLLOW == {Statx.AT_SYMLINK_NOFOLLOW}, \"at\");\n"
            + $"_Static_assert(S_IFMT == {Statx.S_IFMT} && S_IFREG == {Statx.S_IFREG} && S_IFBLK == {Statx.S_IFBLK}"
            + $" && S_IFDIR == {Statx.S_IFDIR} && S_IFCHR == {Statx.S_IFCHR}, \"types\");\n");
        var psi = new ProcessStartInfo("gcc") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "-fsyntax-only", c })
            psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
    }
}
