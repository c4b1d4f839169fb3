using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ggaoed.Ctl;
using Ggaoed.Daemon;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Daemon;

/// <summary>
/// The counter table and the formats generated from it, without a daemon: the real table's rows with
/// made-up values go through every format and come back out with the same names and values.
/// The daemon end to end is in Lifecycle/CtlOutputTests.
/// </summary>
public class CounterTableTests
{
    private static readonly ICounterScope[] Scopes = [CounterTable.Device, CounterTable.Interface, CounterTable.Daemon];

    private static string[] Names(ICounterScope scope) => scope.Definitions.ToArray().Select(d => d.Name).ToArray();

    [Fact]
    public void EveryCounterName_IsUniqueInItsScope_LowerSnakeCase_AndHasUnitAndHelp()
    {
        foreach (ICounterScope scope in Scopes)
        {
            string[] names = Names(scope);
            Assert.Equal(names.Length, names.Distinct().Count());
            foreach (CounterDefinition d in scope.Definitions)
            {
                Assert.Matches("^[a-z][a-z0-9_]*$", d.Name);
                Assert.False(string.IsNullOrWhiteSpace(d.Unit), d.Name + " has no unit");
                Assert.EndsWith(".", d.Help);
            }
        }
    }

    [Fact]
    public void CtlManPage_DocumentsEveryCounter_WithItsUnit()
    {
        string man = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "man", "ggaoectl.8"));
        foreach (ICounterScope scope in Scopes)
            foreach (CounterDefinition d in scope.Definitions)
                Assert.True(Regex.IsMatch(man, @"(?m)^\.BR " + Regex.Escape(d.Name) + @" "" \(" + Regex.Escape(d.Unit.Replace("-", @"\-"))),
                    $"{scope.Name} counter {d.Name} ({d.Unit}) is not listed in ggaoectl(8)");
    }

    [Fact]
    public void Monitor_ReadsOnlyCountersTheTableHas()
    {
        var known = Names(CounterTable.Device).Concat(Names(CounterTable.Interface)).ToHashSet();
        foreach (string name in MonitorCommand.CountersUsed)
            Assert.Contains(name, known);
        Assert.Equal(CounterKind.Gauge, CounterTable.Device.Definitions.ToArray().Single(d => d.Name == "queue_depth").Kind);
    }

    /// <summary>Owners with distinct values per counter (so a value shown under the wrong name is caught).</summary>
    private static List<CounterSection> Sample()
    {
        static long[] Values(ICounterScope scope, int seed) => Enumerable.Range(0, scope.Definitions.Length).Select(i => (long)(seed * 1000 + i)).ToArray();
        return
        [
            new(CounterTable.Device,
                [
                    new CounterOwner("d0", Values(CounterTable.Device, 1)) { SummaryInfo = ["e7.0"], Labels = [("target", "e7.0")] },
                    new CounterOwner("d.1", Values(CounterTable.Device, 2)) { SummaryInfo = ["e7.1"], Labels = [("target", "e7.1")] },
                ], ["target"]),
            new(CounterTable.Interface, [new CounterOwner("eth0", Values(CounterTable.Interface, 3)) { SummaryInfo = ["ring"], JsonInfo = w => w.WriteString("mode", "ring") }], ["mode"]),
            new(CounterTable.Daemon, [new CounterOwner("ggaoed", Values(CounterTable.Daemon, 4))]),
        ];
    }

    [Fact]
    public void AllFourFormats_ListEveryCounterOfTheTable_WithTheSameValues()
    {
        List<CounterSection> report = Sample();
        string text = CounterReport.Text(report);
        string raw = CounterReport.Raw(report);
        string metrics = CounterReport.Metrics(report);
        using JsonDocument json = JsonDocument.Parse(CounterReport.Json(report));

        foreach ((CounterSection section, int index, string heading, string rawPrefix, string jsonArray, string[] info) in new[]
                 {
                     (report[0], 0, "device d0", "device.d0.", "devices", CounterFormats.DeviceJsonInfo),
                     (report[0], 1, "device d.1", "device.d.1.", "devices", CounterFormats.DeviceJsonInfo),
                     (report[1], 0, "interface eth0", "interface.eth0.", "interfaces", CounterFormats.InterfaceJsonInfo),
                 })
        {
            CounterOwner owner = section.Owners[index];
            var expected = new Dictionary<string, long>();
            for (int i = 0; i < owner.Values.Length; i++)
                expected.Add(section.Scope.Definitions[i].Name, owner.Values[i]);
            Assert.Equal(expected, CounterFormats.FromText(text, heading));
            Assert.Equal(expected, CounterFormats.FromRaw(raw, rawPrefix));
            Assert.Equal(expected, CounterFormats.FromJson(CounterFormats.JsonOwner(json.RootElement, jsonArray, owner.Name), info));
            Assert.Equal(expected, CounterFormats.FromMetrics(metrics, section.Scope.Name, section.Scope.Name, owner.Name));
        }
        var daemon = new Dictionary<string, long>();
        for (int i = 0; i < CounterTable.Daemon.Definitions.Length; i++)
            daemon.Add(CounterTable.Daemon.Definitions[i].Name, report[2].Owners[0].Values[i]);
        Assert.Equal(daemon, CounterFormats.FromText(text, "daemon"));
        Assert.Equal(daemon, CounterFormats.FromRaw(raw, "daemon."));
        Assert.Equal(daemon, CounterFormats.FromJson(json.RootElement.GetProperty("daemon"), []));
        Assert.Contains("\nggaoed_daemon_turns_total 4000\n", metrics);
    }

    [Fact]
    public void TextSummary_HasTheColumnsOfTheTable_InTableOrder_ThenTheDetails()
    {
        string text = CounterReport.Text(Sample());
        string[] lines = text.Split('\n');
        Assert.Equal("device target reads read-sect writes write-sect merged iocbs errors qfull depth", Squeeze(lines[0]));
        Assert.StartsWith("d0 e7.0 1000 1001 1002 1003 1005 ", Squeeze(lines[1]));
        Assert.Equal("", lines[3]);
        Assert.Equal("interface mode mtu frames-in frames-out kernel-drops tx-full", Squeeze(lines[4]));
        Assert.StartsWith("eth0 ring 3000 3004 3006 ", Squeeze(lines[5]));
        Assert.Contains("\ndevice d0:\n  read_requests ", text);
        Assert.DoesNotContain(" \n", text);
        Assert.True(lines.All(l => l.Length <= 100), "a line is wider than 100 columns:\n" + text);
    }

    private static string Squeeze(string line) => Regex.Replace(line.Trim(), " +", " ");

    [Fact]
    public void Metrics_DeclareEachFamilyOnce_CountersEndInTotal_GaugesDoNot()
    {
        string metrics = CounterReport.Metrics(Sample());
        Assert.Contains("# TYPE ggaoed_device_read_requests_total counter\n", metrics);
        Assert.Contains("# TYPE ggaoed_device_queue_depth gauge\n", metrics);
        Assert.Contains("# TYPE ggaoed_interface_mtu gauge\n", metrics);
        Assert.Contains("ggaoed_device_errors_total{device=\"d.1\",target=\"e7.1\"} ", metrics);
        string[] families = metrics.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(families.Length, families.Distinct().Count());
        Assert.Equal(Scopes.Sum(s => s.Definitions.Length), families.Length);
    }

    private sealed class Owner
    {
        public long Count;
        public long Level;
    }

    [Fact]
    public void ClearBaselines_ZeroEveryCounter_KeepGauges_AndCountingGoesOn()
    {
        var scope = new CounterScope<Owner>("thing", "things", single: false,
        [
            new("count", CounterKind.Counter, "events", "Events.", o => o.Count),
            new("level", CounterKind.Gauge, "items", "Items now.", o => o.Level),
        ]);
        var baselines = new CounterBaselines();
        var a = new Owner { Count = 10, Level = 3 };
        var b = new Owner { Count = 7, Level = 2 };
        Assert.Equal([10L, 3L], baselines.Read(scope, a));

        baselines.Clear(scope, a);
        Assert.Equal([0L, 3L], baselines.Read(scope, a));
        Assert.Equal([7L, 2L], baselines.Read(scope, b));
        a.Count += 5;
        a.Level = 1;
        Assert.Equal([5L, 1L], baselines.Read(scope, a));
        baselines.Clear(scope, a);
        Assert.Equal([0L, 1L], baselines.Read(scope, a));
    }
}
