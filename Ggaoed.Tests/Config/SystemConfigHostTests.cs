using System;
using System.Diagnostics;
using System.IO;
using Ggaoed.Daemon.Config;
using Ggaoed.Native;
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
        Assert.Equal(conf + ":9: path: " + Path.Combine(_dir, "missing.img") + " does not exist: create it or correct the path",
            Assert.Single(r.Errors).ToString());

        File.WriteAllBytes(Path.Combine(_dir, "missing.img"), new byte[512]);
        r = ConfigLoader.Load(conf, new SystemConfigHost(ethers));
        Assert.True(r.Ok);
        Assert.Equal(new ulong[] { 0x00163E123456 }, r.Config!.FindDevice("d")!.Accept);
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
