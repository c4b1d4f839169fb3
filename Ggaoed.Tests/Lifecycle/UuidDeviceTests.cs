using System;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using Ggaoed.Initiator;
using Ggaoed.Native;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// `uuid = ...` end to end with the published binary: a loop device carrying an ext4 file system with a
/// known UUID is found by that UUID alone, exported, and what an initiator reads through AoE is the loop
/// device's content.
/// </summary>
public sealed class UuidDeviceTests
{
    [RootFact]
    public void DeviceGivenByFilesystemUuid_IsFoundOnALoopDevice_AndServesItsBytes()
    {
        using var box = new Sandbox(network: true);
        string image = box.CreateImage("uuid-disk", 16);
        string uuid = Guid.NewGuid().ToString();
        Sh.Run($"mkfs.ext4 -q -F -U {uuid} {image}");
        string loop = Sh.Run($"losetup -f --show {image}").Trim();
        try
        {
            // udev may or may not create /dev/disk/by-uuid for a loop device here: the lookup must work
            // either way (it scans /sys/class/block and reads superblocks when the link is missing).
            box.WriteConfig($"[byuuid]\nuuid = {uuid}\nshelf = 9\nslot = 4\n");
            ToolResult check = box.RunBinary("-t", "-c", box.ConfigPath);
            Assert.True(check.ExitCode == 0, "ggaoed -t refused the uuid config:\n" + check.Output);

            using DaemonProcess daemon = box.StartForeground();
            byte[] expected = new byte[4096];
            using (var f = new FileStream(loop, FileMode.Open, FileAccess.Read))
                f.ReadExactly(expected);
            byte[] got = InNetNs.Run(box.Net!.InitiatorNs, () =>
            {
                using var client = new AoeClient(box.Net.InitiatorIf);
                DiscoveredTarget t = client.DiscoverUntilFound(x => x.Shelf == 9 && x.Slot == 4).Single(x => x.Shelf == 9 && x.Slot == 4);
                Assert.Equal((ulong)(16 << 20) / 512, t.Sectors);
                var buffer = new byte[4096];
                client.Read(t, 0, buffer);
                return buffer;
            });
            Assert.Equal(SHA256.HashData(expected), SHA256.HashData(got));
            Assert.Contains(loop, box.Ctl("stats", "--json").StdOut);
            daemon.Signal(Libc.SIGTERM);
            Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
        }
        finally
        {
            Sh.Run($"losetup -d {loop}", check: false);
        }
    }
}
