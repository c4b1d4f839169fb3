using System;
using System.Diagnostics;
using System.IO;
using System.IO.Compression;
using System.Threading;
using Ggaoed.Daemon.Config;
using Ggaoed.Storage;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// UUID lookup against real loop devices. udev's /dev/disk/by-uuid is deliberately not used (and usually
/// absent in CI containers): the lookup must find the device by reading superblocks via /sys/class/block.
/// </summary>
public class UuidLookupLoopTests
{
    private static readonly UuidLookup ScanOnly = new(linkDirectories: [], sysClassBlock: "/sys/class/block", devDirectory: "/dev");

    [RootFact]
    public void Ext4OnLoopDevice_IsFoundByFilesystemUuid()
    {
        string uuid = Guid.NewGuid().ToString(); // fresh: a leftover loop device from an earlier run cannot make it ambiguous
        WithLoop(16 << 20, "ext4", image => Run("mkfs.ext4", "-q", "-F", "-U", uuid, image), false, loop =>
        {
            Assert.Equal(loop, ScanOnly.Find(uuid, out string error));
            Assert.Equal("", error);
            Assert.Equal(loop, ScanOnly.Find(uuid.ToUpperInvariant(), out _));
        });
    }

    [RootFact]
    public void SwapOnLoopDevice_IsFoundByUuid_AndConfigLoaderUsesIt()
    {
        string uuid = Guid.NewGuid().ToString(); // fresh, as above
        WithLoop(4 << 20, "swap", image => Run("mkswap", "-U", uuid, image), false, loop =>
        {
            Assert.Equal(loop, ScanOnly.Find(uuid, out _));
            var host = new SystemConfigHost("/nonexistent/ethers", ScanOnly);
            ConfigLoadResult r = ConfigLoader.LoadText(
                "[d]\nuuid = " + uuid + "\nshelf = 3\nslot = 4\ninterfaces = eth0\n", "g.conf", host);
            Assert.Empty(r.Errors);
            Assert.Equal(loop, r.Config!.Devices[0].Path);
            Assert.Equal(PathKind.BlockDevice, SystemConfigHost.StatPath(loop));
        });
    }

    [RootFactNeedingGptPartitions]
    public void GptPartitionOnLoopDevice_IsFoundByPartUuid()
    {
        var partGuid = Guid.NewGuid(); // fresh, as above
        long sectors = (8 << 20) / 512;
        WithLoop(8 << 20, "gpt", image =>
        {
            using var f = new FileStream(image, FileMode.Open, FileAccess.Write);
            f.Write(DiskImages.Gpt(sectors, partGuid, 2048, 4095));
        }, true, loop =>
        {
            string part = loop + "p1";
            for (int i = 0; i < 50 && !File.Exists(part); i++)
                Thread.Sleep(100);
            Assert.True(File.Exists(part), "the kernel did not create " + part);
            Assert.Equal(part, ScanOnly.Find(partGuid.ToString(), out string error));
            Assert.Equal("", error);
        });
    }

    [Fact]
    public void UnknownUuid_ExplainsWhatWasSearched()
    {
        var lookup = new UuidLookup(linkDirectories: ["/nonexistent/by-uuid"], sysClassBlock: "/nonexistent/sys", devDirectory: "/dev");
        Assert.Null(lookup.Find("deadbeef-0000-0000-0000-000000000000", out string error));
        Assert.Equal("no block device has UUID deadbeef-0000-0000-0000-000000000000 (looked in /nonexistent/by-uuid and read the headers of 0 devices in /nonexistent/sys): check the UUID with blkid, or use path",
            error);
    }

    [Fact]
    public void ByUuidSymlink_IsFollowed()
    {
        string dir = Directory.CreateTempSubdirectory("gg-cfg-byuuid-").FullName;
        try
        {
            string target = Path.Combine(dir, "fakedev");
            File.WriteAllText(target, "");
            string links = Path.Combine(dir, "by-uuid");
            Directory.CreateDirectory(links);
            File.CreateSymbolicLink(Path.Combine(links, "abcd-1234"), "../fakedev");
            var lookup = new UuidLookup([links], "/nonexistent/sys", "/dev");
            Assert.Equal(target, lookup.Find("ABCD-1234", out _));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>Makes an image, formats it, attaches it and always detaches and deletes it again.</summary>
    private static void WithLoop(long size, string tag, Action<string> format, bool partitions, Action<string> test)
    {
        string image = Path.Combine(Path.GetTempPath(), "gg-cfg-" + tag + "-" + Environment.ProcessId + ".img");
        string? loop = null;
        try
        {
            using (var f = new FileStream(image, FileMode.Create))
                f.SetLength(size);
            format(image);
            loop = partitions ? Run("losetup", "-f", "--show", "-P", image) : Run("losetup", "-f", "--show", image);
            test(loop);
        }
        finally
        {
            if (loop != null)
                Run("losetup", "-d", loop);
            File.Delete(image);
        }
    }

    private static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, file + " " + string.Join(' ', args) + " failed: " + stderr);
        return stdout.Trim();
    }
}

/// <summary>
/// A root fact that also needs the kernel to parse GPT partition tables (CONFIG_EFI_PARTITION), so that
/// <c>losetup -P</c> creates loopNp1. Minimal VM kernels leave it out; then there is nothing to test.
/// </summary>
public sealed class RootFactNeedingGptPartitionsAttribute : FactAttribute
{
    public RootFactNeedingGptPartitionsAttribute()
    {
        if (!TestEnvironment.IsRoot)
            Skip = "needs root (loop devices); CI runs as root";
        else if (KernelConfigSays("CONFIG_EFI_PARTITION", out bool set) && !set)
            Skip = "the running kernel is built without CONFIG_EFI_PARTITION, so loop devices get no partitions";
    }

    private static bool KernelConfigSays(string option, out bool set)
    {
        set = false;
        string? text = null;
        try
        {
            if (File.Exists("/proc/config.gz"))
            {
                using var gz = new GZipStream(File.OpenRead("/proc/config.gz"), CompressionMode.Decompress);
                using var reader = new StreamReader(gz);
                text = reader.ReadToEnd();
            }
            else
            {
                string boot = "/boot/config-" + File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
                if (File.Exists(boot))
                    text = File.ReadAllText(boot);
            }
        }
        catch (IOException)
        {
            return false;
        }
        if (text == null)
            return false;
        set = text.Contains(option + "=y", StringComparison.Ordinal) || text.Contains(option + "=m", StringComparison.Ordinal);
        return true;
    }
}
