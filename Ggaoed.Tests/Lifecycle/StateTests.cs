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
/// The AoE state an initiator sets (config string, Mac Mask List, reservation) survives a restart of the
/// real daemon, is shown and cleared by ggaoectl, and a corrupt state file is reported, not fatal.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class StateTests
{
    private const string ConfigString = "lifecycle cfg 42";

    private static Sandbox NewSandbox()
    {
        var box = new Sandbox(network: true);
        box.WriteConfig(
            Sandbox.Device("d0", box.CreateImage("d0", 4), 7, 0) +
            Sandbox.Device("d1", box.CreateImage("d1", 4), 7, 1));
        return box;
    }

    private static void Stop(DaemonProcess daemon)
    {
        daemon.Signal(Libc.SIGTERM);
        int status = daemon.WaitForExit(Sandbox.StopTimeout);
        Assert.True(status == 0, $"exit {status} on SIGTERM:\n{daemon.Output}");
    }

    private static ToolResult Ok(ToolResult r)
    {
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}:\n{r.Output}");
        return r;
    }

    [RootFact]
    public void ConfigString_MaskList_AndReservation_SurviveARestart_AndAreShownAndDiscovered_UntilCleared()
    {
        using Sandbox box = NewSandbox();
        string initiatorMac;
        using (DaemonProcess first = box.StartForeground())
        {
            initiatorMac = InNetNs.Run(box.Net!.InitiatorNs, () =>
            {
                using var client = new AoeClient(box.Net.InitiatorIf);
                AoeTarget t = client.DiscoverUntilFound(x => x.Shelf == 7 && x.Slot == 0, identify: false).Single(x => x.Shelf == 7 && x.Slot == 0);

                AoeRequests.Reply set = AoeRequests.ForceSetConfig(client, t, ConfigString);
                Assert.False(set.IsError, "config force-set refused: error " + set.Error);
                AoeRequests.Reply mask = AoeRequests.AddToMaskList(client, t, client.Mac);
                Assert.False(mask.IsError, "mask edit refused: error " + mask.Error);
                Assert.Equal(0, mask.Frame[AoeWire.HeaderLength + 2]); // merror
                AoeRequests.Reply reserve = AoeRequests.Reserve(client, t, client.Mac);
                Assert.False(reserve.IsError, "reserve refused: error " + reserve.Error);
                return AoeTarget.FormatMac(client.Mac);
            });

            Assert.Contains($"d0: \"{ConfigString}\"", Ok(box.Ctl("show-config")).StdOut);
            Stop(first);
        }
        string state = File.ReadAllText(Path.Combine(box.StateDir, "d0.state"));
        Assert.Contains(initiatorMac, state);

        using (DaemonProcess second = box.StartForeground())
        {
            // Text.
            string config = Ok(box.Ctl("show-config")).StdOut;
            Assert.Contains($"d0: \"{ConfigString}\"", config);
            Assert.Contains("d1: (empty)", config);
            Assert.Contains("d0: " + initiatorMac, Ok(box.Ctl("show-macmask", "d0")).StdOut);
            Assert.Contains("d0: " + initiatorMac, Ok(box.Ctl("show-reserve", "d0")).StdOut);
            Assert.Contains("d1: (not reserved)", Ok(box.Ctl("show-reserve", "d1")).StdOut);

            // JSON.
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("--json", "show-config")).StdOut))
            {
                JsonElement d0 = j.RootElement.EnumerateArray().Single(e => e.GetProperty("device").GetString() == "d0");
                Assert.Equal(ConfigString, d0.GetProperty("config").GetString());
                Assert.Equal(ConfigString.Length, d0.GetProperty("length").GetInt32());
            }
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("--json", "show-macmask", "d0")).StdOut))
                Assert.Equal(new[] { initiatorMac }, j.RootElement[0].GetProperty("macmask").EnumerateArray().Select(e => e.GetString()).ToArray());
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("--json", "show-reserve", "d*")).StdOut))
            {
                Assert.Equal(2, j.RootElement.GetArrayLength());
                JsonElement d0 = j.RootElement.EnumerateArray().Single(e => e.GetProperty("device").GetString() == "d0");
                Assert.Equal(new[] { initiatorMac }, d0.GetProperty("reserve").EnumerateArray().Select(e => e.GetString()).ToArray());
            }

            // An admin checking the network sees the string without any daemon state of their own.
            string table = Ok(box.CtlInInitiatorNs("discover", box.Net!.InitiatorIf)).StdOut;
            string row = table.Split('\n').Single(l => l.StartsWith("7.0 ", StringComparison.Ordinal));
            Assert.Contains(ConfigString, row);
            using (JsonDocument j = JsonDocument.Parse(Ok(box.CtlInInitiatorNs("discover", box.Net.InitiatorIf, "--json")).StdOut))
            {
                JsonElement t = j.RootElement.EnumerateArray().Single(e => e.GetProperty("slot").GetInt32() == 0);
                Assert.Equal(ConfigString, t.GetProperty("config").GetString());
            }

            // Clear with patterns; each says how many devices it touched.
            Assert.Contains("2 device", Ok(box.Ctl("clear-config", "d*")).StdOut);
            Assert.Contains("2 device", Ok(box.Ctl("clear-macmask", "d?")).StdOut);
            Assert.Contains("1 device", Ok(box.Ctl("clear-reserve", "d0")).StdOut);
            Assert.Contains("d0: (empty)", Ok(box.Ctl("show-config", "d0")).StdOut);
            Assert.Contains("d0: (empty: every MAC allowed)", Ok(box.Ctl("show-macmask", "d0")).StdOut);
            Assert.Contains("d0: (not reserved)", Ok(box.Ctl("show-reserve", "d0")).StdOut);
            Stop(second);
        }

        // The clearing persisted.
        using (DaemonProcess third = box.StartForeground())
        {
            Assert.Contains("d0: (empty)", Ok(box.Ctl("show-config", "d0")).StdOut);
            Assert.Contains("d0: (empty: every MAC allowed)", Ok(box.Ctl("show-macmask", "d0")).StdOut);
            Assert.Contains("d0: (not reserved)", Ok(box.Ctl("show-reserve", "d0")).StdOut);
            string row = Ok(box.CtlInInitiatorNs("discover", box.Net!.InitiatorIf)).StdOut
                .Split('\n').Single(l => l.StartsWith("7.0 ", StringComparison.Ordinal));
            Assert.DoesNotContain(ConfigString, row);
            Stop(third);
        }
    }

    [RootFact]
    public void StateOfADevice_RemovedByAReloadAndAddedBackByAnother_ComesBack()
    {
        using Sandbox box = NewSandbox();
        string d0 = Sandbox.Device("d0", Path.Combine(box.Dir, "d0.img"), 7, 0);
        string d1 = Sandbox.Device("d1", Path.Combine(box.Dir, "d1.img"), 7, 1);
        using DaemonProcess daemon = box.StartForeground();
        InNetNs.Run(box.Net!.InitiatorNs, () =>
        {
            using var client = new AoeClient(box.Net.InitiatorIf);
            AoeTarget t = client.DiscoverUntilFound(x => x.Slot == 1, identify: false).Single(x => x.Slot == 1);
            Assert.False(AoeRequests.ForceSetConfig(client, t, ConfigString).IsError);
            return 0;
        });

        box.WriteConfig(d0);
        Assert.Contains("d1: removed", Ok(box.Ctl("reload")).StdOut);
        box.WriteConfig(d0 + d1);
        Assert.Contains("d1: added", Ok(box.Ctl("reload")).StdOut);

        Assert.Contains($"d1: \"{ConfigString}\"", Ok(box.Ctl("show-config", "d1")).StdOut);
        Stop(daemon);
    }

    [RootFact]
    public void CorruptStateFile_IsReportedAndIgnored_TheDaemonStarts_AndOtherDevicesKeepTheirState()
    {
        using var box = new Sandbox(network: false);
        box.WriteConfig(
            Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0) +
            Sandbox.Device("d1", box.CreateImage("d1", 1), 7, 1));
        Directory.CreateDirectory(box.StateDir);
        string corrupt = Path.Combine(box.StateDir, "d0.state");
        File.WriteAllText(corrupt, "this is not a ggaoed state file\n\u0001\u0002garbage\n");
        // A valid file for d1, as the daemon writes it ("ok" in hex).
        File.WriteAllText(Path.Combine(box.StateDir, "d1.state"), "ggaoed-state 1\nconfig 6f6b\n");

        using DaemonProcess daemon = box.StartForeground();

        Assert.Contains("corrupt state file", daemon.StdErr);
        Assert.Contains(corrupt, daemon.StdErr);
        Assert.Contains("d0", daemon.StdErr);
        string config = Ok(box.Ctl("show-config")).StdOut;
        Assert.Contains("d0: (empty)", config);
        Assert.Contains("d1: \"ok\"", config);
        Stop(daemon);
    }

    [RootFact]
    public void ShowCommands_WithAPatternMatchingNoDevice_Fail_NamingThePattern()
    {
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0));
        using DaemonProcess daemon = box.StartForeground();

        foreach (string command in new[] { "show-config", "show-macmask", "show-reserve", "clear-config", "clear-macmask", "clear-reserve", "stats", "clear-stats" })
        {
            ToolResult r = box.Ctl(command, "nosuch*");
            Assert.True(r.ExitCode == 1, $"{command}: exit {r.ExitCode}:\n{r.Output}");
            Assert.Contains("nosuch*", r.StdErr);
        }
        Stop(daemon);
    }

    [RootFact]
    public void ClearCommands_WithoutAnArgument_AreRefusedAsUsageErrors()
    {
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0));
        using DaemonProcess daemon = box.StartForeground();

        foreach (string command in new[] { "clear-config", "clear-macmask", "clear-reserve" })
        {
            ToolResult r = box.Ctl(command);
            Assert.True(r.ExitCode == 2, $"{command}: exit {r.ExitCode}:\n{r.Output}");
            Assert.Contains("'*'", r.StdErr);
        }
        Stop(daemon);
    }
}
