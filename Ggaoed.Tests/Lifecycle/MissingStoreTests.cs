using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using Ggaoed.Initiator;
using Ggaoed.Native;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// A device whose backing store is missing at start (ggaoed 1.1's behaviour, drop-in issue row 2): it is
/// logged, shown by ggaoectl stats as not exported with the reason, never stops the other devices, and is
/// exported by the next reload once the store is there.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class MissingStoreTests
{
    [RootFact]
    public void MissingStore_IsSkippedAndShown_OthersServe_AndAReloadExportsItOnceItExists()
    {
        using var box = new Sandbox(network: true);
        string present = box.CreateImage("d0", 1);
        string missing = Path.Combine(box.Dir, "later.img");
        box.WriteConfig(Sandbox.Device("d0", present, 7, 0) + Sandbox.Device("d1", missing, 7, 1));

        using DaemonProcess daemon = box.StartForeground();

        Assert.Contains("d1: not exported", daemon.StdErr);
        // Said once (the configuration's warning and the daemon's line were the same event twice).
        Assert.True(daemon.WaitForStdErr(" ready: ", Sandbox.StopTimeout), daemon.StdErr);
        Assert.Equal(1, Occurrences(daemon.StdErr, missing));
        Assert.Equal([0], Discover(box, 1));

        ToolResult stats = box.Ctl("stats");
        Assert.True(stats.ExitCode == 0, stats.Output);
        Assert.Contains("not exported", stats.StdOut);
        Assert.Contains("d1: ", stats.StdOut);
        Assert.Contains(missing, stats.StdOut);
        using (JsonDocument json = JsonDocument.Parse(box.Ctl("stats", "--json").StdOut))
        {
            JsonElement entry = json.RootElement.GetProperty("not_exported").EnumerateArray().Single();
            Assert.Equal("d1", entry.GetProperty("name").GetString());
            Assert.Contains(missing, entry.GetProperty("reason").GetString());
            Assert.Equal(1, json.RootElement.GetProperty("daemon").GetProperty("devices_not_exported").GetInt64());
        }
        Assert.True(box.Ctl("stats", "d1").ExitCode == 0, "stats of a configured but unexported device by name");

        // A reload tries it again and says so once more, once.
        ToolResult stillMissing = box.Ctl("reload");
        Assert.True(stillMissing.ExitCode == 0, stillMissing.Output);
        Assert.True(daemon.WaitForStdErr("configuration reloaded", Sandbox.StopTimeout), daemon.StdErr);
        Assert.Equal(2, Occurrences(daemon.StdErr, missing));

        File.Copy(present, missing);
        ToolResult reload = box.Ctl("reload");
        Assert.True(reload.ExitCode == 0, reload.Output);
        Assert.Contains("d1: added", reload.StdOut);

        Assert.Equal([0, 1], Discover(box, 2));
        Assert.DoesNotContain("not exported", box.Ctl("stats").StdOut);
        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }

    private static int Occurrences(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
            n++;
        return n;
    }

    /// <summary>The slots of shelf 7 that answer a discovery, sorted.</summary>
    private static int[] Discover(Sandbox box, int expect) => InNetNs.Run(box.Net!.InitiatorNs, () =>
    {
        using var client = new AoeClient(box.Net.InitiatorIf);
        return client.DiscoverUntil(found => found.Count(t => t.Shelf == 7) >= expect, identify: false)
            .Where(t => t.Shelf == 7).Select(t => (int)t.Slot).Distinct().OrderBy(s => s).ToArray();
    });
}
