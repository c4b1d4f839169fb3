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
                DiscoveredTarget t = client.DiscoverUntilFound(x => x.Shelf == 7 && x.Slot == 0, identify: false).Single(x => x.Shelf == 7 && x.Slot == 0);

                AoeRequests.Reply set = AoeRequests.ForceSetConfig(client, t, ConfigString);
                Assert.False(set.IsError, "config force-set refused: error " + set.Error);
                AoeRequests.Reply mask = AoeRequests.AddToMaskList(client, t, client.Mac);
                Assert.False(mask.IsError, "mask edit refused: error " + mask.Error);
                Assert.Equal(0, mask.Frame[AoeWire.HeaderLength + 2]); // merror
                AoeRequests.Reply reserve = AoeRequests.Reserve(client, t, client.Mac);
                Assert.False(reserve.IsError, "reserve refused: error " + reserve.Error);
                return DiscoveredTarget.FormatMac(client.Mac);
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
            DiscoveredTarget t = client.DiscoverUntilFound(x => x.Slot == 1, identify: false).Single(x => x.Slot == 1);
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
    public void FailedStateSave_IsLoggedAndCounted_TheChangeIsStillAnswered_AndTheNextChangeSavesAgain()
    {
        using Sandbox box = NewSandbox();
        // The state directory cannot be created or written: a file sits where it should be (ENOTDIR for
        // every save, like a directory that went away).
        File.WriteAllText(box.StateDir, "not a directory");
        using DaemonProcess daemon = box.StartForeground();

        void Set(string value) => InNetNs.Run(box.Net!.InitiatorNs, () =>
        {
            using var client = new AoeClient(box.Net.InitiatorIf);
            DiscoveredTarget t = client.DiscoverUntilFound(x => x.Shelf == 7 && x.Slot == 0, identify: false).Single(x => x.Shelf == 7 && x.Slot == 0);
            AoeRequests.Reply set = AoeRequests.ForceSetConfig(client, t, value);
            Assert.False(set.IsError, "config force-set refused: error " + set.Error);
            return 0;
        });

        Set("first");
        long failures = WaitForCounter(box, "state_save_failures", n => n >= 1);
        Assert.True(failures >= 1);
        Assert.Contains("cannot save AoE state", daemon.StdErr);
        Assert.Contains("kept in memory", daemon.StdErr);
        Assert.Contains("d0: \"first\"", Ok(box.Ctl("show-config")).StdOut);
        Assert.False(daemon.HasExited);

        File.Delete(box.StateDir);
        Directory.CreateDirectory(box.StateDir);
        Set("second");
        string file = Path.Combine(box.StateDir, "d0.state");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // The file lands on the worker thread; the reactor logs the recovery when it hears of it.
        while (!(File.Exists(file) && File.ReadAllText(file).Contains(Convert.ToHexStringLower("second"u8))
                 && daemon.StdErr.Contains("saved to " + file + " again")))
        {
            Assert.True(clock.Elapsed < Sandbox.StartTimeout, "the state was not saved after the directory came back:\n" + daemon.StdErr);
            System.Threading.Thread.Sleep(50);
        }
        Stop(daemon);
    }

    /// <summary>Polls the device counter d0.NAME (stats --json) until it satisfies the condition.</summary>
    private static long WaitForCounter(Sandbox box, string name, Func<long, bool> done)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            using JsonDocument json = JsonDocument.Parse(Ok(box.Ctl("stats", "--json", "d0")).StdOut);
            long value = json.RootElement.GetProperty("devices")[0].GetProperty(name).GetInt64();
            if (done(value) || clock.Elapsed > Sandbox.StartTimeout)
                return value;
            System.Threading.Thread.Sleep(50);
        }
    }

    /// <summary>A ggaoed 1.1 "&lt;dev&gt;.config" file: magic, length, 1024 bytes of data (little-endian host).</summary>
    private static byte[] LegacyConfig(string value)
    {
        var file = new byte[1032];
        BitConverter.GetBytes(0x38A0BFAEu).CopyTo(file, 0);
        BitConverter.GetBytes((uint)value.Length).CopyTo(file, 4);
        System.Text.Encoding.ASCII.GetBytes(value).CopyTo(file, 8);
        return file;
    }

    /// <summary>A ggaoed 1.1 MAC list file: magic, count, 255 entries of 6 bytes + 2 of padding.</summary>
    private static byte[] LegacyMacList(params byte[][] macs)
    {
        var file = new byte[2048];
        BitConverter.GetBytes(0xE92A716Bu).CopyTo(file, 0);
        BitConverter.GetBytes((uint)macs.Length).CopyTo(file, 4);
        for (int i = 0; i < macs.Length; i++)
            macs[i].CopyTo(file, 8 + 8 * i);
        return file;
    }

    [RootFact]
    public void GgaoedOneOneStateFiles_AreImportedOnFirstStart_LeftUntouched_AndACorruptMaskClosesTheDevice()
    {
        using Sandbox box = NewSandbox();
        Directory.CreateDirectory(box.StateDir);
        byte[] mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
        var files = new (string Name, byte[] Bytes)[]
        {
            ("d0.config", LegacyConfig("from 1.1")),
            ("d0.reserve", LegacyMacList(mac)),
            ("d1.config", LegacyConfig("cut short")[..500]),       // truncated: ignored, starts empty
            ("d1.mac_mask", [.. LegacyMacList(mac)[..4].Select(b => (byte)~b), .. LegacyMacList(mac)[4..]]), // wrong magic
        };
        foreach ((string name, byte[] bytes) in files)
            File.WriteAllBytes(Path.Combine(box.StateDir, name), bytes);

        using (DaemonProcess daemon = box.StartForeground())
        {
            string config = Ok(box.Ctl("show-config")).StdOut;
            Assert.Contains("d0: \"from 1.1\"", config);
            Assert.Contains("d1: (empty)", config);
            Assert.Contains("d0: 02:11:22:33:44:55", Ok(box.Ctl("show-reserve", "d0")).StdOut);
            Assert.Contains("imported ggaoed 1.1 state", daemon.StdErr);
            Assert.Contains("d1.config", daemon.StdErr);
            Assert.Contains("clear-macmask d1", daemon.StdErr);

            // d1's mask could not be read: it admits no one, never everyone, until an admin clears it.
            int[] visible = InNetNs.Run(box.Net!.InitiatorNs, () =>
            {
                using var client = new AoeClient(box.Net.InitiatorIf);
                return client.DiscoverUntilFound(x => x.Shelf == 7 && x.Slot == 0, identify: false)
                    .Where(x => x.Shelf == 7).Select(x => (int)x.Slot).Distinct().ToArray();
            });
            Assert.Equal([0], visible);
            Ok(box.Ctl("clear-macmask", "d1"));
            InNetNs.Run(box.Net!.InitiatorNs, () =>
            {
                using var client = new AoeClient(box.Net.InitiatorIf);
                client.DiscoverUntilFound(x => x.Shelf == 7 && x.Slot == 1, identify: false);
                return 0;
            });
            Stop(daemon);
        }
        // The old files are left exactly as they were; the state lives in our files from now on.
        foreach ((string name, byte[] bytes) in files)
            Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(box.StateDir, name)));
        Assert.Contains(Convert.ToHexStringLower("from 1.1"u8), File.ReadAllText(Path.Combine(box.StateDir, "d0.state")));
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
