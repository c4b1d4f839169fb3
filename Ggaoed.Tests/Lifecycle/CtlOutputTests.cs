using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ggaoed.Daemon;
using Ggaoed.Initiator;
using Ggaoed.Native;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Daemon;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Every ggaoectl command's output against the real daemon after a known workload (issue 5): stats in
/// text and JSON, Prometheus metrics, monitor rates, clear-stats, and the exit statuses scripts rely on.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class CtlOutputTests
{
    private const int Writes = 6;
    private const int Reads = 4;
    private const int SectorsPerRequest = 2;

    private static ToolResult Ok(ToolResult r)
    {
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}:\n{r.Output}");
        return r;
    }

    /// <summary>A daemon serving d0 (e7.0) and d1 (e7.1); d0 got exactly <see cref="Writes"/> writes and <see cref="Reads"/> reads of 2 sectors.</summary>
    private static (Sandbox Box, DaemonProcess Daemon) StartWithKnownWorkload()
    {
        var box = new Sandbox(network: true);
        try
        {
            box.WriteConfig(
                Sandbox.Device("d0", box.CreateImage("d0", 4), 7, 0) +
                Sandbox.Device("d1", box.CreateImage("d1", 4), 7, 1));
            DaemonProcess daemon = box.StartForeground();
            InNetNs.Run(box.Net!.InitiatorNs, () =>
            {
                // A retransmitted write would be counted twice: wait long enough that a busy machine
                // never needs one.
                using var client = new AoeClient(box.Net.InitiatorIf)
                {
                    RequestTimeout = TimeSpan.FromSeconds(10),
                    MaxAttemptTimeout = TimeSpan.FromSeconds(10),
                };
                DiscoveredTarget t = client.DiscoverUntilFound(x => x.Slot == 0).Single(x => x.Slot == 0);
                var data = new byte[SectorsPerRequest * 512];
                for (int i = 0; i < Writes; i++)
                    client.Write(t, (ulong)(i * SectorsPerRequest), data);
                for (int i = 0; i < Reads; i++)
                    client.Read(t, (ulong)(i * SectorsPerRequest), data);
                Assert.Equal(0, client.Retransmits);
                return 0;
            });
            return (box, daemon);
        }
        catch
        {
            box.Dispose();
            throw;
        }
    }

    [RootFact]
    public void Stats_TextAndJson_CountTheKnownWorkload_PerDeviceAndInterface_AndClearStatsZeroesThem()
    {
        (Sandbox box, DaemonProcess daemon) = StartWithKnownWorkload();
        using (box)
        using (daemon)
        {
            // Text: a header and one row per device, then one row per interface.
            string text = Ok(box.Ctl("stats")).StdOut;
            string[] lines = text.Split('\n');
            Assert.StartsWith("device", lines[0]);
            string[] d0 = lines.Single(l => l.StartsWith("d0 ", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // device target reads read-sect writes write-sect merged iocbs errors qfull depth
            Assert.Equal("e7.0", d0[1]);
            Assert.Equal(new[] { Reads, Reads * SectorsPerRequest, Writes, Writes * SectorsPerRequest },
                d0[3..7].Select(int.Parse).ToArray());
            Assert.Equal("0", d0[9]);
            Assert.Equal("0", d0[11]);
            Assert.Contains(lines, l => l.StartsWith(box.Net!.TargetIf + " ", StringComparison.Ordinal));

            // JSON.
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("stats", "--json")).StdOut))
            {
                JsonElement dev = j.RootElement.GetProperty("devices").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "d0");
                Assert.Equal(7, dev.GetProperty("shelf").GetInt32());
                Assert.Equal(0, dev.GetProperty("slot").GetInt32());
                Assert.Equal(4L << 20, dev.GetProperty("size_bytes").GetInt64());
                Assert.False(dev.GetProperty("read_only").GetBoolean());
                Assert.Equal(Reads, dev.GetProperty("read_requests").GetInt64());
                Assert.Equal(Reads * SectorsPerRequest, dev.GetProperty("read_sectors").GetInt64());
                Assert.Equal(Writes, dev.GetProperty("write_requests").GetInt64());
                Assert.Equal(Writes * SectorsPerRequest, dev.GetProperty("write_sectors").GetInt64());
                Assert.Equal(0, dev.GetProperty("errors").GetInt64());
                Assert.Equal(0, dev.GetProperty("queue_depth").GetInt64());
                Assert.Equal(0, dev.GetProperty("queue_full_drops").GetInt64());
                JsonElement other = j.RootElement.GetProperty("devices").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "d1");
                Assert.Equal(0, other.GetProperty("read_requests").GetInt64() + other.GetProperty("write_requests").GetInt64());

                JsonElement ifc = j.RootElement.GetProperty("interfaces").EnumerateArray().Single();
                Assert.Equal(box.Net!.TargetIf, ifc.GetProperty("name").GetString());
                Assert.Equal(1500, ifc.GetProperty("mtu").GetInt32());
                Assert.Equal(2, ifc.GetProperty("sectors_per_request").GetInt32());
                // At least: the broadcast query, two IDENTIFYs (one per device), the reads and writes.
                long framesIn = ifc.GetProperty("frames_in").GetInt64();
                Assert.True(framesIn >= 1 + 2 + Writes + Reads, $"frames_in {framesIn}");
                Assert.True(ifc.GetProperty("frames_out").GetInt64() >= 2 + 2 + Writes + Reads);
                Assert.True(ifc.GetProperty("bytes_in").GetInt64() >= Writes * SectorsPerRequest * 512);
                Assert.True(ifc.GetProperty("bytes_out").GetInt64() >= Reads * SectorsPerRequest * 512);
                Assert.Equal(0, ifc.GetProperty("kernel_drops").GetInt64());
            }

            // Only the named devices; a pattern works as well.
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("--json", "stats", "d1")).StdOut))
                Assert.Equal(new[] { "d1" }, j.RootElement.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("name").GetString()).ToArray());

            Assert.Contains("2 device", Ok(box.Ctl("clear-stats")).StdOut);
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("stats", "--json")).StdOut))
            {
                foreach (JsonElement dev in j.RootElement.GetProperty("devices").EnumerateArray())
                    foreach (string counter in new[] { "read_requests", "read_sectors", "write_requests", "write_sectors", "merged_requests", "immediate_reads", "iocbs_submitted", "errors" })
                        Assert.True(dev.GetProperty(counter).GetInt64() == 0, $"{dev.GetProperty("name")}.{counter} = {dev.GetProperty(counter)} after clear-stats");
                JsonElement ifc = j.RootElement.GetProperty("interfaces")[0];
                Assert.Equal(0, ifc.GetProperty("frames_in").GetInt64());
                Assert.Equal(0, ifc.GetProperty("frames_out").GetInt64());
            }

            // Counting starts again from zero.
            InNetNs.Run(box.Net!.InitiatorNs, () =>
            {
                using var client = new AoeClient(box.Net.InitiatorIf);
                DiscoveredTarget t = client.DiscoverUntilFound(x => x.Slot == 0).Single(x => x.Slot == 0);
                client.Write(t, 0, new byte[1024]);
                return 0;
            });
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("stats", "--json", "d0")).StdOut))
                Assert.Equal(1, j.RootElement.GetProperty("devices")[0].GetProperty("write_requests").GetInt64());

            daemon.Signal(Libc.SIGTERM);
            Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
        }
    }

    private static readonly Regex HelpLine = new(@"^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$");
    private static readonly Regex TypeLine = new(@"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$");
    private static readonly Regex Sample = new(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\]|\\.)*"")(,[a-zA-Z_][a-zA-Z0-9_]*=""(?:[^""\\]|\\.)*"")*\})? (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[-+]Inf)$");

    [RootFact]
    public void Metrics_IsValidPrometheusText_WithCountersMatchingTheWorkload()
    {
        (Sandbox box, DaemonProcess daemon) = StartWithKnownWorkload();
        using (box)
        using (daemon)
        {
            string text = Ok(box.Ctl("metrics")).StdOut;
            Assert.EndsWith("\n", text);

            var types = new Dictionary<string, string>();
            var samples = new Dictionary<string, double>();
            string? help = null;
            foreach (string line in text.TrimEnd('\n').Split('\n'))
            {
                Match m;
                if ((m = HelpLine.Match(line)).Success)
                {
                    help = m.Groups[1].Value;
                }
                else if ((m = TypeLine.Match(line)).Success)
                {
                    string name = m.Groups[1].Value;
                    Assert.True(help == name, $"# TYPE {name} not right after its # HELP");
                    Assert.False(types.ContainsKey(name), "family declared twice: " + name);
                    types[name] = m.Groups[2].Value;
                    if (m.Groups[2].Value == "counter")
                        Assert.EndsWith("_total", name);
                }
                else
                {
                    m = Sample.Match(line);
                    Assert.True(m.Success, "not a valid exposition line: " + line);
                    string name = m.Groups[1].Value;
                    Assert.True(types.ContainsKey(name), "sample before its # TYPE: " + line);
                    string key = line[..line.LastIndexOf(' ')];
                    Assert.False(samples.ContainsKey(key), "duplicate sample " + key);
                    samples[key] = double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            const string d0 = "{device=\"d0\",target=\"e7.0\"}";
            const string d1 = "{device=\"d1\",target=\"e7.1\"}";
            Assert.Equal(Writes, samples["ggaoed_device_write_requests_total" + d0]);
            Assert.Equal(Writes * SectorsPerRequest, samples["ggaoed_device_write_sectors_total" + d0]);
            Assert.Equal(Reads, samples["ggaoed_device_read_requests_total" + d0]);
            Assert.Equal(Reads * SectorsPerRequest, samples["ggaoed_device_read_sectors_total" + d0]);
            Assert.Equal(0, samples["ggaoed_device_errors_total" + d0]);
            Assert.Equal(0, samples["ggaoed_device_queue_depth" + d0]);
            Assert.Equal("gauge", types["ggaoed_device_queue_depth"]);
            Assert.Equal(0, samples["ggaoed_device_write_requests_total" + d1]);
            string ifc = "{interface=\"" + box.Net!.TargetIf + "\"}";
            Assert.Equal(1500, samples["ggaoed_interface_mtu" + ifc]);

            // The interface counters agree with stats --json (nothing moved in between).
            using JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("stats", "--json")).StdOut);
            JsonElement port = j.RootElement.GetProperty("interfaces")[0];
            Assert.Equal(port.GetProperty("frames_in").GetInt64(), samples["ggaoed_interface_frames_in_total" + ifc]);
            Assert.Equal(port.GetProperty("frames_out").GetInt64(), samples["ggaoed_interface_frames_out_total" + ifc]);
            Assert.Equal(port.GetProperty("bytes_in").GetInt64(), samples["ggaoed_interface_bytes_in_total" + ifc]);

            daemon.Signal(Libc.SIGTERM);
            Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
        }
    }

    [RootFact]
    public void Monitor_PrintsOneIostatLikeTablePerInterval_ShowingTheLoadWhileItRuns()
    {
        using var box = new Sandbox(network: true);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 16), 7, 0));
        using DaemonProcess daemon = box.StartForeground();
        ToolResult r;
        using (var load = new Workload(box.Net!, 7, 0, pipelineLbas: 16384, verifiedFirstLba: 16384))
        {
            load.Start();
            load.WaitForProgress(TimeSpan.FromSeconds(60));
            r = box.Ctl("monitor", "-n", "2", "-i", "0.2");
            load.Stop();
            Assert.Equal(0, load.Pipeline.Errors);
        }

        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}:\n{r.Output}");
        string[] lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Count(l => Regex.IsMatch(l, @"^\d\d:\d\d:\d\d$")));
        Assert.Equal(2, lines.Count(l => l.StartsWith(box.Net!.TargetIf + " ", StringComparison.Ordinal)));
        string[] header = Words(lines.First(l => l.StartsWith("device ", StringComparison.Ordinal)));
        foreach (string column in new[] { "r/s", "rkB/s", "w/s", "wkB/s", "err/s", "avgqsz", "svctm", "depth" })
            Assert.Contains(column, header);
        string[][] d0 = lines.Where(l => l.StartsWith("d0 ", StringComparison.Ordinal)).Select(Words).ToArray();
        Assert.Equal(2, d0.Length);
        double Cell(string[] row, string column) => double.Parse(row[Array.IndexOf(header, column)], System.Globalization.CultureInfo.InvariantCulture);
        // The workload writes all the time: some interval saw writes, their kilobytes, requests in service and a time per request.
        Assert.Contains(d0, row => Cell(row, "w/s") > 0 && Cell(row, "wkB/s") > 0 && Cell(row, "avgqsz") > 0 && Cell(row, "svctm") > 0);

        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    [RootFact]
    public void StatsMonitorAndClearStats_TakeNamesAndGlobsOfDevicesAndInterfaces()
    {
        (Sandbox box, DaemonProcess daemon) = StartWithKnownWorkload();
        using (box)
        using (daemon)
        {
            string ifname = box.Net!.TargetIf;

            // stats IFACE: that interface, and no device.
            string text = Ok(box.Ctl("stats", ifname)).StdOut;
            Assert.StartsWith("interface ", text);
            Assert.Contains("\n" + ifname + " ", text);
            Assert.Contains("\ninterface " + ifname + ":\n", text);
            Assert.DoesNotContain(text.Split('\n'), l => l.StartsWith("device", StringComparison.Ordinal) || l.StartsWith("d0", StringComparison.Ordinal));
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("--json", "stats", ifname)).StdOut))
            {
                Assert.Equal(0, j.RootElement.GetProperty("devices").GetArrayLength());
                Assert.Equal(ifname, j.RootElement.GetProperty("interfaces")[0].GetProperty("name").GetString());
                Assert.True(j.RootElement.GetProperty("interfaces")[0].GetProperty("frames_in").GetInt64() > 0);
            }
            // A glob over both kinds of names, and one over devices only.
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("--json", "stats", "d*", ifname[..2] + "*")).StdOut))
            {
                Assert.Equal(new[] { "d0", "d1" }, j.RootElement.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("name").GetString()).ToArray());
                Assert.Equal(1, j.RootElement.GetProperty("interfaces").GetArrayLength());
            }
            ToolResult none = box.Ctl("stats", "d0", "nosuch*");
            Assert.Equal(1, none.ExitCode);
            Assert.Contains("no device or interface matches 'nosuch*'", none.StdErr);

            // monitor in ggaoed 1.1's form (interval first, then names), bounded by -n.
            ToolResult m = box.Ctl("monitor", "0.2", "d1", ifname, "-n", "1");
            Assert.True(m.ExitCode == 0, $"exit {m.ExitCode}:\n{m.Output}");
            string[] lines = m.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains(lines, l => l.StartsWith("d1 ", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.StartsWith("d0 ", StringComparison.Ordinal));
            Assert.Contains(lines, l => l.StartsWith(ifname + " ", StringComparison.Ordinal));
            m = box.Ctl("monitor", "-i", "0.2", "-n", "1", "d?");
            Assert.True(m.ExitCode == 0, m.Output);
            lines = m.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, lines.Count(l => Regex.IsMatch(l, "^d[01] ")));
            Assert.DoesNotContain(lines, l => l.StartsWith("interface", StringComparison.Ordinal));
            ToolResult bad = box.Ctl("monitor", "1", "nosuch", "-n", "1");
            Assert.True(bad.ExitCode == 1, $"exit {bad.ExitCode}:\n{bad.Output}");
            Assert.Contains("nosuch", bad.StdErr);

            // clear-stats IFACE clears that interface only.
            Assert.Contains("0 device(s) and 1 interface(s)", Ok(box.Ctl("clear-stats", ifname)).StdOut);
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("--json", "stats")).StdOut))
            {
                Assert.Equal(0, j.RootElement.GetProperty("interfaces")[0].GetProperty("frames_in").GetInt64());
                Assert.Equal(Writes, CounterFormats.JsonOwner(j.RootElement, "devices", "d0").GetProperty("write_requests").GetInt64());
            }

            daemon.Signal(Libc.SIGTERM);
            Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
        }
    }

    /// <summary>Every format of one read of the counters: text, JSON, raw, Prometheus.</summary>
    private static (string Text, JsonDocument Json, string Raw, string Metrics) AllFormats(Sandbox box, params string[] names)
        => (Ok(box.Ctl(["stats", .. names])).StdOut,
            JsonDocument.Parse(Ok(box.Ctl(["--json", "stats", .. names])).StdOut),
            Ok(box.Ctl(["stats", "--raw", .. names])).StdOut,
            Ok(box.Ctl(["metrics", .. names])).StdOut);

    /// <summary>One device's and one interface's counters, as each of the four formats shows them.</summary>
    private static Dictionary<string, long>[] PerFormat((string Text, JsonDocument Json, string Raw, string Metrics) f, string scope, string name)
    {
        bool device = scope == "device";
        return
        [
            CounterFormats.FromText(f.Text, scope + " " + name),
            CounterFormats.FromJson(CounterFormats.JsonOwner(f.Json.RootElement, device ? "devices" : "interfaces", name),
                device ? CounterFormats.DeviceJsonInfo : CounterFormats.InterfaceJsonInfo),
            CounterFormats.FromRaw(f.Raw, scope + "." + name + "."),
            CounterFormats.FromMetrics(f.Metrics, scope, scope, name),
        ];
    }

    private static readonly string[] FormatNames = ["text", "json", "raw", "metrics"];

    [RootFact]
    public void AllFourFormats_ListTheSameCounters_ForADeviceAndAnInterface()
    {
        (Sandbox box, DaemonProcess daemon) = StartWithKnownWorkload();
        using (box)
        using (daemon)
        {
            var f = AllFormats(box);
            using (f.Json)
            {
                foreach ((string scope, string name, ICounterScope table) in new (string, string, ICounterScope)[]
                         { ("device", "d0", CounterTable.Device), ("interface", box.Net!.TargetIf, CounterTable.Interface) })
                {
                    string[] expected = table.Definitions.ToArray().Select(d => d.Name).Order().ToArray();
                    Dictionary<string, long>[] formats = PerFormat(f, scope, name);
                    for (int i = 0; i < formats.Length; i++)
                        Assert.True(expected.SequenceEqual(formats[i].Keys.Order()),
                            $"{scope} {name}: {FormatNames[i]} lists {string.Join(' ', formats[i].Keys.Order())}\nthe table has {string.Join(' ', expected)}");
                }
                // The known workload in every format (nothing ran between the four reads).
                foreach (Dictionary<string, long> d0 in PerFormat(f, "device", "d0"))
                {
                    Assert.Equal(Writes, d0["write_requests"]);
                    Assert.Equal(Reads * SectorsPerRequest, d0["read_sectors"]);
                    Assert.True(d0["completed_requests"] >= Writes + Reads, "completed_requests " + d0["completed_requests"]);
                    Assert.True(d0["service_time_us"] > 0);
                    Assert.True(d0["queue_depth_sum_us"] > 0);
                    Assert.Equal(0, d0["queue_stalls"] + d0["queue_over"] + d0["errors"]);
                }
            }

            daemon.Signal(Libc.SIGTERM);
            Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
        }
    }

    [RootFact]
    public void ClearStats_ZeroesEveryCounterOfTheNamedDeviceAndInterface_InEveryFormat()
    {
        (Sandbox box, DaemonProcess daemon) = StartWithKnownWorkload();
        using (box)
        using (daemon)
        {
            string ifname = box.Net!.TargetIf;
            InNetNs.Run(box.Net.InitiatorNs, () =>
            {
                using var client = new AoeClient(box.Net.InitiatorIf);
                // A query for a shelf nobody exports (the interface's no_device_frames), and a read past the
                // end of d0 (an IDNF reply): counters outside the I/O path that clear-stats must cover too.
                client.Discover(TimeSpan.FromMilliseconds(200), shelf: 99, slot: 0);
                DiscoveredTarget t = client.DiscoverUntilFound(x => x.Slot == 0).Single(x => x.Slot == 0);
                Assert.Throws<AtaErrorException>(() => client.Read(t, 8192, new byte[512]));
                return 0;
            });
            using (JsonDocument j = JsonDocument.Parse(Ok(box.Ctl("--json", "stats")).StdOut))
                Assert.True(CounterFormats.JsonOwner(j.RootElement, "interfaces", ifname).GetProperty("no_device_frames").GetInt64() > 0);

            Assert.Contains("1 device(s) and 1 interface(s)", Ok(box.Ctl("clear-stats", "d0", ifname)).StdOut);

            var f = AllFormats(box);
            using (f.Json)
            {
                foreach ((string scope, string name, ICounterScope table) in new (string, string, ICounterScope)[]
                         { ("device", "d0", CounterTable.Device), ("interface", ifname, CounterTable.Interface) })
                {
                    Dictionary<string, long>[] formats = PerFormat(f, scope, name);
                    foreach (CounterDefinition d in table.Definitions)
                        for (int i = 0; i < formats.Length; i++)
                            if (d.Kind == CounterKind.Counter)
                                Assert.True(formats[i][d.Name] == 0, $"{scope} {name}: {d.Name} = {formats[i][d.Name]} in {FormatNames[i]} after clear-stats");
                    Assert.True(PerFormat(f, "interface", ifname).All(p => p["mtu"] == 1500), "clear-stats changed a gauge");
                }
                // d1 was not named: it keeps what it counted (at least the IDENTIFY of discovery).
                Assert.True(PerFormat(f, "device", "d1").All(p => p["aoe_requests"] > 0));
            }

            daemon.Signal(Libc.SIGTERM);
            Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
        }
    }

    [RootFact]
    public void ErrorReplies_BeforeAndAfterIo_AreEachCountedOnce_InEveryFormat()
    {
        using var box = new Sandbox(network: true);
        string image = box.CreateImage("d0", 4);
        box.WriteConfig(Sandbox.Device("d0", image, 7, 0));
        using DaemonProcess daemon = box.StartForeground();
        InNetNs.Run(box.Net!.InitiatorNs, () =>
        {
            using var client = new AoeClient(box.Net.InitiatorIf) { RequestTimeout = TimeSpan.FromSeconds(10), MaxAttemptTimeout = TimeSpan.FromSeconds(10) };
            DiscoveredTarget t = client.DiscoverUntilFound(x => x.Slot == 0).Single(x => x.Slot == 0);
            // Before any I/O: IDNF for a read past the end (4 MiB = 8192 sectors), ABRT for an unknown ATA command.
            Assert.Throws<AtaErrorException>(() => client.Read(t, 8192, new byte[512]));
            Assert.Throws<AtaErrorException>(() => client.Execute(t, 0xFF, false, 0, 0, ReadOnlySpan<byte>.Empty, Span<byte>.Empty));
            // After I/O: the file shrinks under the daemon, so a read inside the advertised size comes back short (EIO).
            using (var fs = new FileStream(image, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
                fs.SetLength(1 << 20);
            Assert.Throws<AtaErrorException>(() => client.Read(t, 4096, new byte[512]));
            Assert.Equal(0, client.Retransmits);
            return 0;
        });

        var f = AllFormats(box);
        using (f.Json)
        {
            Dictionary<string, long>[] formats = PerFormat(f, "device", "d0");
            for (int i = 0; i < formats.Length; i++)
            {
                Dictionary<string, long> d0 = formats[i];
                string where = FormatNames[i];
                Assert.True(d0["io_errors"] == 1, $"{where}: io_errors {d0["io_errors"]}");
                Assert.True(d0["ata_error_replies"] == 3, $"{where}: ata_error_replies {d0["ata_error_replies"]}");
                Assert.True(d0["aoe_error_replies"] == 0, $"{where}: aoe_error_replies {d0["aoe_error_replies"]}");
                Assert.True(d0["errors"] == 3, $"{where}: errors {d0["errors"]}");
            }
            // The summary table's errors column.
            string[] header = Words(f.Text.Split('\n')[0]);
            string[] row = Words(f.Text.Split('\n').Single(l => l.StartsWith("d0 ", StringComparison.Ordinal)));
            Assert.Equal("3", row[Array.IndexOf(header, "errors")]);
        }

        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }

    [RootFact]
    public void ExitStatuses_UnknownCommandIsTwo_NoDaemonIsThree_WithAClearMessage()
    {
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0));

        // Nobody listening: every daemon command says so and exits 3.
        foreach (string command in new[] { "stats", "metrics", "reload", "show-config", "clear-stats" })
        {
            ToolResult down = ToolProcess.Run(box.Binary, "ctl", "-c", box.ConfigPath, command);
            Assert.True(down.ExitCode == 3, $"{command}: exit {down.ExitCode}:\n{down.Output}");
            Assert.Contains(box.ControlSocket, down.StdErr);
            Assert.Contains("is ggaoed running", down.StdErr);
        }
        ToolResult monitor = box.Ctl("monitor", "-n", "1");
        Assert.Equal(3, monitor.ExitCode);

        using DaemonProcess daemon = box.StartForeground();
        ToolResult unknown = box.Ctl("frobnicate");
        Assert.True(unknown.ExitCode == 2, $"exit {unknown.ExitCode}:\n{unknown.Output}");
        Assert.Contains("frobnicate", unknown.StdErr);
        Assert.Contains("usage: ggaoectl", unknown.StdErr);
        ToolResult badOption = box.Ctl("--frobnicate", "stats");
        Assert.Equal(2, badOption.ExitCode);
        ToolResult none = ToolProcess.Run(box.Binary, "ctl");
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("no command", none.StdErr);
        ToolResult badMonitor = box.Ctl("monitor", "-i", "never");
        Assert.Equal(2, badMonitor.ExitCode);

        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }

    [RootFact]
    public void Ggaoectl_InvokedThroughASymlink_BehavesLikeGgaoedCtl_AndReadsTheSocketFromTheConfig()
    {
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0));
        string ggaoectl = Path.Combine(box.Dir, "ggaoectl");
        File.CreateSymbolicLink(ggaoectl, box.Binary);
        using DaemonProcess daemon = box.StartForeground();

        ToolResult viaLink = ToolProcess.Run(ggaoectl, "-c", box.ConfigPath, "--json", "show-config");
        ToolResult viaCtl = ToolProcess.Run(box.Binary, "ctl", "-c", box.ConfigPath, "--json", "show-config");

        Assert.True(viaLink.ExitCode == 0, viaLink.Output);
        Assert.Equal(viaCtl.StdOut, viaLink.StdOut);
        using (JsonDocument j = JsonDocument.Parse(viaLink.StdOut))
            Assert.Equal("d0", j.RootElement[0].GetProperty("device").GetString());
        Assert.Contains("d0", Ok(ToolProcess.Run(ggaoectl, "-s", box.ControlSocket, "stats")).StdOut);
        ToolResult version = ToolProcess.Run(ggaoectl, "--version");
        Assert.Equal(0, version.ExitCode);
        Assert.StartsWith("ggaoectl ", version.StdOut);
        ToolResult help = ToolProcess.Run(ggaoectl, "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("usage: ggaoectl", help.StdOut);
        Assert.Equal(2, ToolProcess.Run(ggaoectl, "frobnicate").ExitCode);
        // Under its own name it is the client, never the daemon: no daemon option works there.
        Assert.Equal(2, ToolProcess.Run(ggaoectl, "-f").ExitCode);

        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }
}
