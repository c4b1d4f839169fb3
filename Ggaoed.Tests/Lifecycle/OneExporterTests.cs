using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Storage;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// One backing store, one exporter (ggaoed.conf(5), path and shared): the real daemon refuses a
/// configuration that exports one file twice, leaves a device unexported (naming who holds it) when
/// another daemon or a mount has its store, and exports a store in two daemons only when both say shared.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class OneExporterTests
{
    /// <summary>The 1-based line numbers of the "path =" lines of <paramref name="file"/>.</summary>
    private static int[] PathLines(string file) =>
        File.ReadAllLines(file).Select((l, i) => (l, i)).Where(x => x.l.StartsWith("path =", StringComparison.Ordinal)).Select(x => x.i + 1).ToArray();

    [RootTheory]
    [InlineData("same path", "")]
    [InlineData("symlink", "")]
    [InlineData("hard link", "")]
    [InlineData("same path", "shared = true\n")]
    public void OneStoreInTwoGroups_IsAnError_AtTheSecondPath_NamingTheFirst(string how, string extra)
    {
        using var box = new Sandbox(network: false);
        string image = box.CreateImage("d0", 1);
        string second = how switch
        {
            "same path" => image,
            "symlink" => Path.Combine(box.Dir, "link.img"),
            _ => Path.Combine(box.Dir, "hard.img"),
        };
        if (how == "symlink")
            File.CreateSymbolicLink(second, image);
        else if (how == "hard link")
            Sh.Run($"ln '{image}' '{second}'");
        box.WriteConfig(Sandbox.Device("d0", image, 7, 0, extra) + Sandbox.Device("d1", second, 7, 1, extra));
        int[] lines = PathLines(box.ConfigPath);

        ToolResult check = box.RunBinary("-t", "-c", box.ConfigPath);

        Assert.True(check.ExitCode == 2, $"ggaoed -t exited {check.ExitCode}:\n{check.Output}");
        Assert.Contains($"{box.ConfigPath}:{lines[1]}: path: {second} is the same file as [d0] exports (line {lines[0]})", check.StdErr);
    }

    [RootFact]
    public void SecondDaemon_DoesNotExportAFileTheFirstExports_NamingTheHolder_StartsItsOtherDevices_AndWithSharedBothExportIt()
    {
        using var first = new Sandbox(network: false);
        using var second = new Sandbox(network: false);
        string common = first.CreateImage("common", 1);
        string own = second.CreateImage("own", 1);
        void Configure(string extra)
        {
            first.WriteConfig(Sandbox.Device("common", common, 7, 0, extra));
            second.WriteConfig(Sandbox.Device("common", common, 8, 0, extra) + Sandbox.Device("own", own, 8, 1));
        }

        Configure("");
        DaemonProcess holder = first.StartForeground();
        DaemonProcess other = second.StartForeground();
        string named = $"pid {holder.Pid} (ggaoed)";
        Assert.Contains("common: not exported", other.StdErr);
        Assert.Contains(named, other.StdErr);
        string stats = second.CtlOk("stats").StdOut;
        string listed = stats[stats.IndexOf("not exported", StringComparison.Ordinal)..];
        Assert.Contains("  common: ", listed);
        Assert.Contains(named, listed);
        using (JsonDocument json = JsonDocument.Parse(second.CtlOk("stats", "--json").StdOut))
        {
            JsonElement entry = json.RootElement.GetProperty("not_exported").EnumerateArray().Single();
            Assert.Equal("common", entry.GetProperty("name").GetString());
            Assert.Contains(named, entry.GetProperty("reason").GetString());
        }
        Assert.Equal(["own"], Exported(second));
        Assert.Equal(["common"], Exported(first));

        // Both declare it shared (with direct I/O, which shared requires): both export it.
        Sandbox.Stop(holder);
        Sandbox.Stop(other);
        Configure("shared = true\ndirect-io = true\n");
        holder = first.StartForeground();
        other = second.StartForeground();
        Assert.Equal(["common"], Exported(first));
        Assert.Equal(["common", "own"], Exported(second));
        Assert.DoesNotContain("not exported", second.CtlOk("stats").StdOut);
        Sandbox.Stop(other);
        Sandbox.Stop(holder);
    }

    [RootFact]
    public void MountedLoopDevice_IsNotExported_NamingTheMountPoint_WhileTheOtherDevicesStart()
    {
        using var loop = new LoopImage(16 << 20);
        Sh.Run("mkfs.ext4 -q -F " + loop.Device);
        using var mount = new Mounted(loop.Device, loop.Scratch("mounted here"));
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("disk", loop.Device, 7, 0) + Sandbox.Device("file", box.CreateImage("file", 1), 7, 1));

        DaemonProcess daemon = box.StartForeground();

        Assert.Contains("disk: not exported", daemon.StdErr);
        Assert.Contains("mounted on " + mount.Point, daemon.StdErr);
        Assert.Equal(["file"], Exported(box));
        using (JsonDocument json = JsonDocument.Parse(box.CtlOk("stats", "--json").StdOut))
        {
            JsonElement entry = json.RootElement.GetProperty("not_exported").EnumerateArray().Single();
            Assert.Equal("disk", entry.GetProperty("name").GetString());
            Assert.Contains("mounted on " + mount.Point, entry.GetProperty("reason").GetString());
        }
        Sandbox.Stop(daemon);
    }

    /// <summary>The names of the devices the daemon exports (stats --json), sorted.</summary>
    private static string[] Exported(Sandbox box)
    {
        using JsonDocument json = JsonDocument.Parse(box.CtlOk("stats", "--json").StdOut);
        return json.RootElement.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("name").GetString()!).Order().ToArray();
    }

}
