using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.RegularExpressions;
using Ggaoed.Ctl;
using Ggaoed.Initiator;
using Xunit;

namespace Ggaoed.Tests.Ctl;

/// <summary>ggaoectl's own logic, without a daemon: monitor's arguments and arithmetic, discover's table.</summary>
public class MonitorCommandTests
{
    [Theory]
    [InlineData(new[] { "1", "dacc" }, 1.0, long.MaxValue, new[] { "dacc" })]              // ggaoed 1.1's form
    [InlineData(new[] { "5" }, 5.0, long.MaxValue, new string[0])]
    [InlineData(new[] { "dacc", "eth*" }, 1.0, long.MaxValue, new[] { "dacc", "eth*" })]   // names only
    [InlineData(new[] { "-i", "0.5", "-n", "3" }, 0.5, 3L, new string[0])]                 // -i/-n as before
    [InlineData(new[] { "-n", "2", "0.2", "d*", "eth0" }, 0.2, 2L, new[] { "d*", "eth0" })]
    [InlineData(new[] { "-i", "2", "7" }, 2.0, long.MaxValue, new[] { "7" })]              // with -i a number is a name
    [InlineData(new[] { "d0", "3" }, 1.0, long.MaxValue, new[] { "d0", "3" })]             // only the first argument can be the interval
    public void Parse_Accepts11sFormAndOptions(string[] args, double interval, long count, string[] names)
    {
        MonitorCommand.Options o = MonitorCommand.Parse(args);
        Assert.Equal(interval, o.IntervalSeconds);
        Assert.Equal(count, o.Count);
        Assert.Equal(names, o.Names);
    }

    [Theory]
    [InlineData("-i", "never")]
    [InlineData("-i")]
    [InlineData("0")]
    [InlineData("-n", "0")]
    [InlineData("-n", "x")]
    [InlineData("-i", "1", "-i", "2")]
    [InlineData("--frobnicate")]
    public void Parse_RefusesBadArguments_SayingWhy(params string[] args)
    {
        FormatException e = Assert.Throws<FormatException>(() => MonitorCommand.Parse(args));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    [Fact]
    public void Rates_SvctmIsServiceTimePerCompletedRequest_AvgqszIsTheDepthIntegralOverTime()
    {
        var before = new Dictionary<string, long>
        {
            ["completed_requests"] = 100, ["service_time_us"] = 50_000, ["queue_depth_sum_us"] = 2_000_000,
            ["read_sectors"] = 10, ["queue_depth"] = 9,
        };
        var after = new Dictionary<string, long>
        {
            ["completed_requests"] = 300, ["service_time_us"] = 150_000, ["queue_depth_sum_us"] = 6_000_000,
            ["read_sectors"] = 4106, ["queue_depth"] = 4,
        };
        var r = new CounterRates(before, after, seconds: 2);
        Assert.Equal(0.5, r.ServiceTimeMs(), 9);       // 100 000 us over 200 requests
        Assert.Equal(2.0, r.AverageQueueSize(), 9);    // 4 000 000 request-us over 2 000 000 us
        Assert.Equal(1024.0, r.PerSecond("read_sectors") / 2, 9);
        Assert.Equal(4, r.Now("queue_depth"));
        // Nothing completed: no time per request rather than a division by zero.
        Assert.Equal(0, new CounterRates(before, before, 1).ServiceTimeMs());
    }

    private const string RawBefore =
        "device.d0.read_requests 10\ndevice.d0.read_sectors 20\ndevice.d0.write_requests 0\ndevice.d0.write_sectors 0\n" +
        "device.d0.completed_requests 10\ndevice.d0.service_time_us 1000\ndevice.d0.queue_depth_sum_us 0\ndevice.d0.queue_depth 0\n" +
        "device.my.disk.read_requests 0\n" +
        "interface.eth0.frames_in 100\ninterface.eth0.bytes_in 0\n" +
        "daemon.turns 5\n";

    private const string RawAfter =
        "device.d0.read_requests 110\ndevice.d0.read_sectors 420\ndevice.d0.write_requests 50\ndevice.d0.write_sectors 100\n" +
        "device.d0.completed_requests 160\ndevice.d0.service_time_us 76000\ndevice.d0.queue_depth_sum_us 3000000\ndevice.d0.queue_depth 3\n" +
        "device.my.disk.read_requests 4\n" +
        "interface.eth0.frames_in 300\ninterface.eth0.bytes_in 204800\n" +
        "device.late.read_requests 1\n" +
        "daemon.turns 50\n";

    [Fact]
    public void RawSample_GroupsLinesByOwner_DotsInNamesIncluded()
    {
        var s = new RawSample(RawBefore, 0);
        Assert.Equal(new[] { ("device", "d0"), ("device", "my.disk"), ("interface", "eth0"), ("daemon", "") },
            s.Owners.Select(o => (o.Scope, o.Name)).ToArray());
        Assert.Equal(20, s.Owners[0].Counters["read_sectors"]);
        Assert.Equal(5, s.Owners[3].Counters["turns"]);
    }

    [Fact]
    public void Report_IsAnIostatLikeTable_PerDeviceAndInterface()
    {
        string report = MonitorCommand.FormatReport(new RawSample(RawBefore, 1_000), new RawSample(RawAfter, 3_000), new DateTime(2026, 1, 2, 3, 4, 5));
        string[] lines = report.Split('\n');
        Assert.Equal("03:04:05", lines[0]);
        string[] header = Words(lines[1]);
        Assert.Equal(new[] { "device", "r/s", "rkB/s", "w/s", "wkB/s", "merged/s", "imm/s", "err/s", "stall/s", "avgqsz", "svctm", "depth" }, header);
        string[] d0 = Words(lines.Single(l => l.StartsWith("d0 ", StringComparison.Ordinal)));
        string Cell(string column) => d0[Array.IndexOf(header, column)];
        Assert.Equal("50.0", Cell("r/s"));        // 100 reads in 2 s
        Assert.Equal("100.0", Cell("rkB/s"));     // 400 sectors = 200 KiB in 2 s
        Assert.Equal("25.0", Cell("w/s"));
        Assert.Equal("25.0", Cell("wkB/s"));
        Assert.Equal("1.50", Cell("avgqsz"));     // 3 s of requests in 2 s
        Assert.Equal("0.500", Cell("svctm"));     // 75 ms over 150 requests
        Assert.Equal("3", Cell("depth"));
        Assert.Contains(lines, l => l.StartsWith("my.disk ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("late", StringComparison.Ordinal)); // no earlier sample yet
        string[] ifHeader = Words(lines.Single(l => l.StartsWith("interface ", StringComparison.Ordinal)));
        string[] eth0 = Words(lines.Single(l => l.StartsWith("eth0 ", StringComparison.Ordinal)));
        Assert.Equal("100.0", eth0[Array.IndexOf(ifHeader, "rx/s")]);
        Assert.Equal("100.0", eth0[Array.IndexOf(ifHeader, "rxkB/s")]);
        Assert.DoesNotContain("turns", report);
        // Numbers are right-aligned under their headers.
        Assert.Equal(lines[1].IndexOf("svctm", StringComparison.Ordinal) + "svctm".Length,
            lines.Single(l => l.StartsWith("d0 ", StringComparison.Ordinal)).IndexOf("0.500", StringComparison.Ordinal) + "0.500".Length);
    }

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Discover_PrintsNoTableWhenNothingAnswered()
    {
        Assert.Equal("", DiscoverCommand.FormatTable(new List<DiscoveredTarget>(), 1500));
    }
}
