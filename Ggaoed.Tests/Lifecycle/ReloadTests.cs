using System;
using System.Collections.Generic;
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
/// Reload of the real daemon (issue 5), by SIGHUP and by `ggaoectl reload`: devices are added, removed
/// and changed while an unchanged device carries pipelined and verified I/O that must not notice; a
/// broken file is refused and the old configuration keeps serving.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class ReloadTests
{
    private const ushort Shelf = 7;

    public enum Trigger
    {
        Sighup,
        Ctl,
    }

    private sealed class Images(Sandbox box)
    {
        public readonly string D0 = box.CreateImage("d0", 16);
        public readonly string D1 = box.CreateImage("d1", 1);
        public readonly string D2 = box.CreateImage("d2", 1);
        public readonly string D3 = box.CreateImage("d3", 1);
    }

    private static string Devices(Images img, bool afterReload, bool d3ReadOnly)
    {
        string s = Sandbox.Device("d0", img.D0, Shelf, 0);
        if (!afterReload)
            s += Sandbox.Device("d1", img.D1, Shelf, 1);
        else
            s += Sandbox.Device("d2", img.D2, Shelf, 2);
        s += Sandbox.Device("d3", img.D3, Shelf, 3, d3ReadOnly ? "read-only = true\n" : "read-only = false\n");
        return s;
    }

    /// <summary>Reloads and returns what the daemon reported (ctl) or logged (SIGHUP).</summary>
    private static string Reload(Sandbox box, DaemonProcess daemon, Trigger how, bool expectOk = true)
    {
        if (how == Trigger.Ctl)
        {
            ToolResult r = box.Ctl("reload");
            if (expectOk)
                Assert.True(r.ExitCode == 0, $"ggaoectl reload exited {r.ExitCode}:\n{r.Output}");
            else
                Assert.True(r.ExitCode != 0, $"ggaoectl reload of a broken file exited 0:\n{r.Output}");
            return r.Output;
        }
        int logged = daemon.StdErr.Length;
        int before = Count(daemon.StdErr, expectOk ? "configuration reloaded from" : "reload refused");
        daemon.Signal(Libc.SIGHUP);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Count(daemon.StdErr, expectOk ? "configuration reloaded from" : "reload refused") == before)
        {
            Assert.True(clock.Elapsed < Sandbox.StartTimeout, "no reload logged after SIGHUP:\n" + daemon.StdErr);
            Assert.False(daemon.HasExited, "the daemon exited on SIGHUP:\n" + daemon.Output);
            System.Threading.Thread.Sleep(50);
        }
        // Only what this reload logged.
        return daemon.StdErr[logged..];
    }

    private static int Count(string text, string what)
    {
        int n = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal))
            n++;
        return n;
    }

    private static string[] DeviceNames(Sandbox box)
    {
        ToolResult r = box.Ctl("stats", "--json");
        Assert.True(r.ExitCode == 0, r.Output);
        using JsonDocument j = JsonDocument.Parse(r.StdOut);
        return j.RootElement.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("name").GetString()!).OrderBy(n => n).ToArray();
    }

    [RootTheory]
    [InlineData(Trigger.Sighup)]
    [InlineData(Trigger.Ctl)]
    public void Reload_AddsRemovesAndChangesDevices_WhileIoInFlightOnAnUnchangedDeviceCompletesIntact(Trigger how)
    {
        using var box = new Sandbox(network: true);
        var img = new Images(box);
        box.WriteConfig(Devices(img, afterReload: false, d3ReadOnly: false));
        using DaemonProcess daemon = box.StartForeground();
        VethPair net = box.Net!;

        // d0 (e7.0) stays as it is and carries I/O through the reload: a 32-deep random-write pipeline
        // over its first 8 MiB, and writers that verify every block they write above that.
        using (var load = new Workload(net, Shelf, 0, pipelineLbas: 16384, verifiedFirstLba: 16384))
        {
            load.Start();
            load.WaitForProgress(TimeSpan.FromSeconds(60));
            long opsBefore = System.Threading.Interlocked.Read(ref load.VerifiedOps);

            box.WriteConfig(Devices(img, afterReload: true, d3ReadOnly: true));
            string report = Reload(box, daemon, how);

            Assert.Contains("d1: removed", report);
            Assert.Contains("d2: added", report);
            Assert.Contains("d3: updated", report);
            Assert.DoesNotContain("d0:", report.Replace("[d0]", ""));
            // Keep the load going a little after the reload as well.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (System.Threading.Interlocked.Read(ref load.VerifiedOps) < opsBefore + 40 && clock.Elapsed < TimeSpan.FromSeconds(60))
                System.Threading.Thread.Sleep(20);
            load.Stop();

            Assert.True(load.Pipeline.Completed > 0, "the pipeline completed nothing");
            Assert.True(load.Pipeline.Errors == 0,
                $"pipelined I/O failed across the reload: {load.Pipeline.Errors} errors ({load.Pipeline.AtaErrors} ATA, {load.Pipeline.AoeErrors} AoE, {load.Pipeline.TimedOut} timed out) of {load.Pipeline.Completed}");
            Assert.True(load.Mismatches == 0, $"{load.Mismatches} verified blocks read back wrong, first: {load.FirstMismatch}");
            Assert.True(load.VerifiedOps > opsBefore, "no verified I/O after the reload");

            Assert.Equal(new[] { "d0", "d2", "d3" }, DeviceNames(box));
            InNetNs.Run(net.InitiatorNs, () =>
            {
                using var client = new AoeClient(net.InitiatorIf);
                List<DiscoveredTarget> targets = client.DiscoverUntil(found => found.Count >= 3);
                Assert.Equal(new[] { "7.0", "7.2", "7.3" }, targets.Select(t => t.Address).ToArray());
                var data = new byte[1024];
                data.AsSpan().Fill(0x5A);
                DiscoveredTarget d2 = targets.Single(t => t.Slot == 2);
                client.Write(d2, 8, data);
                var back = new byte[1024];
                client.Read(d2, 8, back);
                Assert.Equal(data, back);
                DiscoveredTarget d3 = targets.Single(t => t.Slot == 3);
                Assert.Throws<AtaErrorException>(() => client.Write(d3, 0, data));
                return 0;
            });

            // read-only back to false needs the device reopened read-write; it must then take writes.
            box.WriteConfig(Devices(img, afterReload: true, d3ReadOnly: false));
            string second = Reload(box, daemon, how);
            Assert.Contains("d3: reopened", second);
            InNetNs.Run(net.InitiatorNs, () =>
            {
                using var client = new AoeClient(net.InitiatorIf);
                DiscoveredTarget d3 = client.DiscoverUntilFound(t => t.Slot == 3).Single(t => t.Slot == 3);
                client.Write(d3, 0, new byte[1024]);
                return 0;
            });

            daemon.Signal(Libc.SIGTERM);
            Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
            long onDisk = load.CountFileMismatches(img.D0, out string? first);
            Assert.True(onDisk == 0, $"{onDisk} blocks in the backing file differ from what was last written, first: {first}");
        }
        Assert.DoesNotContain("error", daemon.StdErr.Replace("errors", ""), StringComparison.OrdinalIgnoreCase);
    }

    [RootFact]
    public void Reload_ReopeningADeviceUnderLoad_NewQueueLength_LosesNoRequestAndNoAcknowledgedWrite()
    {
        using var box = new Sandbox(network: true);
        var img = new Images(box);
        box.WriteConfig(Sandbox.Device("d0", img.D0, Shelf, 0, "queue-length = 64\n"));
        using DaemonProcess daemon = box.StartForeground();
        using var load = new Workload(box.Net!, Shelf, 0, pipelineLbas: 16384, verifiedFirstLba: 16384);
        load.Start();
        load.WaitForProgress(TimeSpan.FromSeconds(60));
        long opsBefore = System.Threading.Interlocked.Read(ref load.VerifiedOps);

        box.WriteConfig(Sandbox.Device("d0", img.D0, Shelf, 0, "queue-length = 32\n"));
        string report = Reload(box, daemon, Trigger.Ctl);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (System.Threading.Interlocked.Read(ref load.VerifiedOps) < opsBefore + 40 && clock.Elapsed < TimeSpan.FromSeconds(60))
            System.Threading.Thread.Sleep(20);
        load.Stop();

        Assert.Contains("d0: reopened", report);
        Assert.True(load.Pipeline.Errors == 0,
            $"pipelined I/O failed across the reopen: {load.Pipeline.Errors} errors ({load.Pipeline.AtaErrors} ATA, {load.Pipeline.AoeErrors} AoE, {load.Pipeline.TimedOut} timed out)");
        Assert.True(load.Mismatches == 0, $"{load.Mismatches} blocks read back wrong, first: {load.FirstMismatch}");
        using (JsonDocument j = JsonDocument.Parse(box.Ctl("stats", "--json").StdOut))
            Assert.Equal(32, j.RootElement.GetProperty("devices")[0].GetProperty("queue_length").GetInt32());
        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
        long bad = load.CountFileMismatches(img.D0, out string? first);
        Assert.True(bad == 0, $"{bad} acknowledged writes are not in the backing file, first: {first}");
    }

    [RootFact]
    public void Reload_RemovingADeviceUnderLoad_LetsItsInFlightIoFinish_AndKeepsServingTheOthers()
    {
        using var box = new Sandbox(network: true);
        var img = new Images(box);
        string d0 = Sandbox.Device("d0", img.D0, Shelf, 0);
        box.WriteConfig(d0 + Sandbox.Device("d1", img.D1, Shelf, 1));
        using DaemonProcess daemon = box.StartForeground();
        using var load = new Workload(box.Net!, Shelf, 1, pipelineLbas: 1024, verifiedFirstLba: 1024, blocksPerWriter: 32);
        load.Start();
        load.WaitForProgress(TimeSpan.FromSeconds(60));

        box.WriteConfig(d0);
        string report = Reload(box, daemon, Trigger.Ctl);
        // From here on e7.1 no longer answers: the initiators give up on it.
        load.Stop(targetGone: true);

        Assert.Contains("d1: removed", report);
        Assert.True(daemon.WaitForStdErr("d1: no longer exported", TimeSpan.FromSeconds(30)), "d1 was never closed:\n" + daemon.StdErr);
        Assert.True(load.Mismatches == 0, $"{load.Mismatches} blocks read back wrong, first: {load.FirstMismatch}");
        Assert.Equal(new[] { "d0" }, DeviceNames(box));
        InNetNs.Run(box.Net!.InitiatorNs, () =>
        {
            using var client = new AoeClient(box.Net.InitiatorIf);
            DiscoveredTarget t = client.DiscoverUntil(found => found.Count > 0).Single();
            Assert.Equal(0, t.Slot);
            client.Write(t, 0, new byte[1024]);
            return 0;
        });
        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
        long bad = load.CountFileMismatches(img.D1, out string? first);
        Assert.True(bad == 0, $"{bad} acknowledged writes to the removed device are not in its file, first: {first}");
    }

    [RootFact]
    public void Reload_ReadsTheFileOffTheLoop_TheDaemonServesWhileTheReadWaits()
    {
        using var box = new Sandbox(network: true);
        var img = new Images(box);
        box.WriteConfig(Devices(img, afterReload: false, d3ReadOnly: false));
        using DaemonProcess daemon = box.StartForeground();
        string config = File.ReadAllText(box.ConfigPath);

        // A configuration file whose read does not finish until we say so (a FIFO with no writer yet):
        // like a file on a hung NFS mount, or a by-UUID scan of a slow disk.
        File.Delete(box.ConfigPath);
        Sh.Run($"mkfifo {box.ConfigPath}");
        var reload = System.Threading.Tasks.Task.Run(() => box.Ctl("reload"));

        // Meanwhile the daemon answers its control socket and AoE at once.
        var stats = System.Threading.Tasks.Task.Run(() => box.Ctl("stats"));
        Assert.True(stats.Wait(TimeSpan.FromSeconds(30)), "ggaoectl stats hung while a reload was reading the file");
        Assert.Equal(0, stats.Result.ExitCode);
        Assert.Equal(new[] { "7.0", "7.1", "7.3" }, InNetNs.Run(box.Net!.InitiatorNs, () =>
        {
            using var client = new AoeClient(box.Net.InitiatorIf);
            return client.DiscoverUntil(found => found.Count >= 3, identify: false).Select(t => t.Address).ToArray();
        }));
        Assert.False(reload.IsCompleted, "the reload answered before its file could be read");

        File.WriteAllText(box.ConfigPath, config); // the reader on the worker takes it and sees EOF
        Assert.True(reload.Wait(TimeSpan.FromSeconds(60)), "the reload never finished");
        Assert.True(reload.Result.ExitCode == 0, reload.Result.Output);
        Assert.Contains("reloaded:", reload.Result.StdOut);
        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }

    [RootTheory]
    [InlineData(Trigger.Sighup)]
    [InlineData(Trigger.Ctl)]
    public void Reload_OfABrokenFile_IsRefusedWithFileLineAndKey_AndTheOldConfigurationKeepsServing(Trigger how)
    {
        using var box = new Sandbox(network: true);
        var img = new Images(box);
        box.WriteConfig(Devices(img, afterReload: false, d3ReadOnly: false));
        using DaemonProcess daemon = box.StartForeground();
        string[] before = DeviceNames(box);

        // The good change (d1 -> d2) must not be half-applied with the bad line.
        box.WriteConfig(Devices(img, afterReload: true, d3ReadOnly: false) + "[d9]\npath = " + img.D1 + "\nshelf = 7\nslot = 9\nread-only = strange\n");
        int badLine = Array.IndexOf(File.ReadAllLines(box.ConfigPath), "read-only = strange") + 1;
        string report = Reload(box, daemon, how, expectOk: false);

        Assert.Contains($"{box.ConfigPath}:{badLine}: read-only:", report);
        Assert.Contains("reload refused", report);
        Assert.False(daemon.HasExited, "the daemon died on a broken reload:\n" + daemon.Output);
        Assert.Equal(before, DeviceNames(box));
        // Still serving I/O with the old configuration, d1 included.
        InNetNs.Run(box.Net!.InitiatorNs, () =>
        {
            using var client = new AoeClient(box.Net.InitiatorIf);
            List<DiscoveredTarget> targets = client.DiscoverUntil(found => found.Count >= 3);
            Assert.Equal(new[] { "7.0", "7.1", "7.3" }, targets.Select(t => t.Address).ToArray());
            var data = new byte[1024];
            client.Write(targets[1], 0, data);
            client.Read(targets[0], 0, data);
            return 0;
        });

        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }
}
