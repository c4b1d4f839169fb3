using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Threading;
using Ggaoed.Daemon;

namespace Ggaoed.Ctl;

/// <summary>
/// <c>ggaoectl monitor [INTERVAL] [NAME...] [-i SECONDS] [-n COUNT]</c>: polls <c>stats --raw</c> and
/// prints rates per device and interface, in the manner of <c>iostat -x</c>. The first argument is the
/// interval when it is a number (ggaoed 1.1's form); names are devices or interfaces, globs allowed.
/// </summary>
internal static class MonitorCommand
{
    public const string Usage = "usage: ggaoectl monitor [SECONDS] [DEVICE|INTERFACE|PATTERN...] [-i SECONDS] [-n COUNT]";

    /// <summary>What to watch, how often, how many reports (<see cref="long.MaxValue"/>: until interrupted).</summary>
    internal sealed record Options(double IntervalSeconds, long Count, string[] Names);

    /// <summary>Parses the arguments after "monitor"; throws <see cref="FormatException"/> with the reason.</summary>
    internal static Options Parse(string[] args)
    {
        double? interval = null;
        long count = long.MaxValue;
        var names = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "-i")
            {
                if (interval != null)
                    throw new FormatException("the interval is given twice");
                interval = Seconds(CtlArgs.Value(args, ref i));
            }
            else if (a == "-n")
            {
                string v = CtlArgs.Value(args, ref i);
                if (!long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count <= 0)
                    throw new FormatException($"-n needs a positive count, not '{v}'");
            }
            else if (a.StartsWith('-'))
                throw new FormatException($"unknown option '{a}'");
            else if (names.Count == 0 && interval == null && double.TryParse(a, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                interval = Seconds(a);
            else
                names.Add(a);
        }
        return new Options(interval ?? 1, count, names.ToArray());
    }

    private static double Seconds(string s)
    {
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v > 0) || v > 86400)
            throw new FormatException($"the interval must be a number of seconds in (0, 86400], not '{s}'");
        return v;
    }

    public static int Run(string socket, string[] args)
    {
        Options o;
        try
        {
            o = Parse(args);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"ggaoectl monitor: {e.Message}\n{Usage}");
            return CtlMain.ExitUsage;
        }
        var request = new List<string> { "stats", "--raw" };
        request.AddRange(o.Names);
        RawSample? previous = null;
        for (long report = 0; report <= o.Count; report++)
        {
            if (!ControlClient.TryCall(socket, request.ToArray(), out bool ok, out string reply))
            {
                Console.Error.WriteLine("ggaoectl: " + reply);
                return CtlMain.ExitUnreachable;
            }
            if (!ok)
            {
                Console.Error.Write("ggaoectl: " + reply + (reply.EndsWith('\n') ? "" : "\n"));
                return CtlMain.ExitFailed;
            }
            var current = new RawSample(reply, Environment.TickCount64);
            if (previous != null)
            {
                Console.Out.Write(FormatReport(previous, current, DateTime.Now));
                Console.Out.Flush();
            }
            previous = current;
            if (report < o.Count)
                Thread.Sleep(TimeSpan.FromSeconds(o.IntervalSeconds));
        }
        return CtlMain.ExitOk;
    }

    /// <summary>A time stamp line, then a table of devices and a table of interfaces (those present in both samples).</summary>
    internal static string FormatReport(RawSample before, RawSample after, DateTime now)
    {
        double seconds = Math.Max(0.001, (after.TakenAtMs - before.TakenAtMs) / 1000.0);
        var sb = new StringBuilder();
        sb.Append(now.ToString("HH:mm:ss", CultureInfo.InvariantCulture)).Append('\n');
        var devices = new List<string[]> { Header(CounterTable.Device.Name, DeviceColumns) };
        var interfaces = new List<string[]> { Header(CounterTable.Interface.Name, InterfaceColumns) };
        foreach (RawSample.Owner owner in after.Owners)
        {
            if (!before.TryFind(owner.Scope, owner.Name, out RawSample.Owner old))
                continue;
            var r = new CounterRates(old.Counters, owner.Counters, seconds);
            if (owner.Scope == CounterTable.Device.Name)
                devices.Add(Row(owner.Name, DeviceColumns, r));
            else if (owner.Scope == CounterTable.Interface.Name)
                interfaces.Add(Row(owner.Name, InterfaceColumns, r));
        }
        if (devices.Count > 1)
            TextTable.Append(sb, devices, leftAligned: 1);
        if (interfaces.Count > 1)
            TextTable.Append(sb, interfaces, leftAligned: 1);
        return sb.Append('\n').ToString();
    }

    /// <summary>A column of the report: its header and how its cell comes from the rates.</summary>
    private readonly record struct Column(string Header, Func<CounterRates, string> Cell);

    // Like iostat -x: requests and kB per second each way, then what a disk admin looks at next.
    private static readonly Column[] DeviceColumns =
    [
        new("r/s", r => Rate(r.PerSecond("read_requests"))),
        new("rkB/s", r => Rate(r.PerSecond("read_sectors") / 2)),
        new("w/s", r => Rate(r.PerSecond("write_requests"))),
        new("wkB/s", r => Rate(r.PerSecond("write_sectors") / 2)),
        new("merged/s", r => Rate(r.PerSecond("merged_requests"))),
        new("imm/s", r => Rate(r.PerSecond("immediate_reads"))),
        new("err/s", r => Rate(r.PerSecond("errors"))),
        new("stall/s", r => Rate(r.PerSecond("queue_stalls"))),
        new("avgqsz", r => r.AverageQueueSize().ToString("0.00", CultureInfo.InvariantCulture)),
        new("svctm", r => r.ServiceTimeMs().ToString("0.000", CultureInfo.InvariantCulture)),
        new("depth", r => r.Now("queue_depth").ToString(CultureInfo.InvariantCulture)),
    ];

    private static readonly Column[] InterfaceColumns =
    [
        new("rx/s", r => Rate(r.PerSecond("frames_in"))),
        new("rxkB/s", r => Rate(r.PerSecond("bytes_in") / 1024)),
        new("tx/s", r => Rate(r.PerSecond("frames_out"))),
        new("txkB/s", r => Rate(r.PerSecond("bytes_out") / 1024)),
        new("drops/s", r => Rate(r.PerSecond("kernel_drops"))),
    ];

    private static string[] Header(string first, Column[] columns)
    {
        var cells = new string[columns.Length + 1];
        cells[0] = first;
        for (int i = 0; i < columns.Length; i++)
            cells[i + 1] = columns[i].Header;
        return cells;
    }

    private static string[] Row(string name, Column[] columns, CounterRates r)
    {
        var cells = new string[columns.Length + 1];
        cells[0] = name;
        for (int i = 0; i < columns.Length; i++)
            cells[i + 1] = columns[i].Cell(r);
        return cells;
    }

    private static string Rate(double v) => v.ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>Every counter name the monitor reads (a test checks that the counter table has them).</summary>
    internal static readonly string[] CountersUsed =
    [
        "read_requests", "read_sectors", "write_requests", "write_sectors", "merged_requests", "immediate_reads",
        "errors", "queue_stalls", "queue_depth", "completed_requests", "service_time_us", "queue_depth_sum_us",
        "frames_in", "bytes_in", "frames_out", "bytes_out", "kernel_drops",
    ];
}

/// <summary>
/// The rates between two samples of one owner's counters. svctm and avgqsz follow iostat: the time per
/// completed request, and the time integral of the queue depth divided by the time.
/// </summary>
internal readonly struct CounterRates(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after, double seconds)
{
    public long Delta(string counter) => Value(after, counter) - Value(before, counter);

    public double PerSecond(string counter) => Delta(counter) / seconds;

    /// <summary>A gauge's value in the later sample.</summary>
    public long Now(string gauge) => Value(after, gauge);

    /// <summary>Milliseconds from acceptance to completion per request completed in the interval; 0 when none completed.</summary>
    public double ServiceTimeMs()
    {
        long completed = Delta("completed_requests");
        return completed > 0 ? Delta("service_time_us") / 1000.0 / completed : 0;
    }

    /// <summary>Requests in service on average over the interval.</summary>
    public double AverageQueueSize() => Delta("queue_depth_sum_us") / (seconds * 1e6);

    private static long Value(IReadOnlyDictionary<string, long> counters, string name)
        => counters.TryGetValue(name, out long v) ? v : 0;
}

/// <summary>
/// One reply of <c>stats --raw</c>: lines "scope.owner.counter value" ("scope.counter value" for the
/// daemon), grouped by owner in the order the daemon sent them.
/// </summary>
internal sealed class RawSample
{
    internal readonly record struct Owner(string Scope, string Name, Dictionary<string, long> Counters);

    private readonly List<Owner> _owners = new();

    public RawSample(string text, long takenAtMs)
    {
        TakenAtMs = takenAtMs;
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int space = line.LastIndexOf(' ');
            int firstDot = line.IndexOf('.');
            if (space < 0 || firstDot < 0 || !long.TryParse(line.AsSpan(space + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
                continue;
            string key = line.Substring(0, space);
            int lastDot = key.LastIndexOf('.');
            string scope = key.Substring(0, firstDot);
            string name = lastDot > firstDot ? key.Substring(firstDot + 1, lastDot - firstDot - 1) : "";
            string counter = key.Substring(lastDot + 1);
            if (!TryFind(scope, name, out Owner owner))
            {
                owner = new Owner(scope, name, new Dictionary<string, long>(StringComparer.Ordinal));
                _owners.Add(owner);
            }
            owner.Counters[counter] = value;
        }
    }

    public long TakenAtMs { get; }
    public IReadOnlyList<Owner> Owners => _owners;

    public bool TryFind(string scope, string name, out Owner owner)
    {
        // Lines come grouped by owner: the last one is nearly always it.
        for (int i = _owners.Count - 1; i >= 0; i--)
        {
            Owner o = _owners[i];
            if (o.Scope == scope && o.Name == name)
            {
                owner = o;
                return true;
            }
        }
        owner = default;
        return false;
    }
}
