using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Ggaoed.Daemon;

/// <summary>One owner's counters as read for one report, baseline already subtracted, in table order.</summary>
internal sealed class CounterOwner(string name, long[] values)
{
    public string Name { get; } = name;
    public long[] Values { get; } = values;
    /// <summary>Cells of the text summary between the name and the counters (one per <see cref="CounterSection.SummaryInfo"/>).</summary>
    public string[] SummaryInfo { get; init; } = [];
    /// <summary>Prometheus labels after the scope's own (<c>device="d0"</c>).</summary>
    public (string Name, string Value)[] Labels { get; init; } = [];
    /// <summary>Facts that are words, not numbers (the storage engine): in metrics the labels of the
    /// scope's info family, ggaoed_SCOPE_info{...} 1, as Prometheus exporters do for build info.</summary>
    public (string Name, string Value)[] InfoLabels { get; init; } = [];
    /// <summary>JSON fields written after "name" and before the counters (what the owner is, not what it counted).</summary>
    public Action<Utf8JsonWriter>? JsonInfo { get; init; }
}

/// <summary>The owners of one scope shown in a report.</summary>
internal sealed class CounterSection(ICounterScope scope, List<CounterOwner> owners, string[]? summaryInfo = null)
{
    public ICounterScope Scope { get; } = scope;
    public List<CounterOwner> Owners { get; } = owners;
    /// <summary>Headers of the summary cells between the name and the counters (e.g. "target", "mode").</summary>
    public string[] SummaryInfo { get; } = summaryInfo ?? [];
}

/// <summary>
/// clear-stats without resetting anything: the values each owner had when it was cleared, subtracted
/// from what it has now. Keyed by the owner object (weakly, so a device or interface that goes away
/// takes its baseline with it): a device reopened by a reload or an interface reopened for a new MTU
/// is a new owner whose counters start from zero anyway.
/// </summary>
internal sealed class CounterBaselines
{
    private readonly ConditionalWeakTable<object, long[]> _baselines = new();

    /// <summary>The counters of <paramref name="owner"/> as they are now, minus its baseline (gauges as they are).</summary>
    public long[] Read<TOwner>(CounterScope<TOwner> scope, TOwner owner) where TOwner : class
    {
        long[] values = scope.ReadAll(owner);
        if (_baselines.TryGetValue(owner, out long[]? baseline))
            for (int i = 0; i < values.Length; i++)
                values[i] -= baseline[i];
        return values;
    }

    /// <summary>Makes every counter (not gauge) of <paramref name="owner"/> read zero from now on.</summary>
    public void Clear<TOwner>(CounterScope<TOwner> scope, TOwner owner) where TOwner : class
    {
        long[] now = scope.ReadAll(owner);
        ReadOnlySpan<CounterDefinition> defs = scope.Definitions;
        for (int i = 0; i < now.Length; i++)
            if (defs[i].Kind == CounterKind.Gauge)
                now[i] = 0;
        _baselines.AddOrUpdate(owner, now);
    }
}

/// <summary>
/// The four formats of the counters, all generated from <see cref="CounterTable"/>'s definitions and the
/// values of one read, so they always list the same counters: text (a summary table of the counters that
/// have a column, then every counter per owner), JSON, the raw "scope.owner.counter value" lines that
/// ggaoectl monitor diffs, and the Prometheus text exposition format (version 0.0.4).
/// </summary>
internal static class CounterReport
{
    /// <summary>Text is wrapped to this width in the per-owner details.</summary>
    private const int TextWidth = 100;

    public static string Text(IReadOnlyList<CounterSection> sections)
    {
        var sb = new StringBuilder();
        foreach (CounterSection s in sections)
            if (s.Owners.Count > 0 && HasColumns(s.Scope))
            {
                if (sb.Length > 0)
                    sb.Append('\n');
                Summary(sb, s);
            }
        foreach (CounterSection s in sections)
            foreach (CounterOwner o in s.Owners)
                Details(sb.Append('\n'), s.Scope, o);
        return sb.ToString();
    }

    private static bool HasColumns(ICounterScope scope)
    {
        foreach (CounterDefinition d in scope.Definitions)
            if (d.Column != null)
                return true;
        return false;
    }

    /// <summary>One row per owner: its name, its info cells, then the counters that have a column.</summary>
    private static void Summary(StringBuilder sb, CounterSection s)
    {
        ReadOnlySpan<CounterDefinition> defs = s.Scope.Definitions;
        var header = new List<string> { s.Scope.Name };
        header.AddRange(s.SummaryInfo);
        var columns = new List<int>();
        for (int i = 0; i < defs.Length; i++)
            if (defs[i].Column is string c)
            {
                header.Add(c);
                columns.Add(i);
            }
        var rows = new List<string[]> { header.ToArray() };
        foreach (CounterOwner o in s.Owners)
        {
            var row = new List<string> { o.Name };
            row.AddRange(o.SummaryInfo);
            foreach (int i in columns)
                row.Add(Number(o.Values[i]));
            rows.Add(row.ToArray());
        }
        TextTable.Append(sb, rows);
    }

    /// <summary>"device d0:" then every counter as "name value" pairs, as many to a line as fit.</summary>
    private static void Details(StringBuilder sb, ICounterScope scope, CounterOwner o)
    {
        ReadOnlySpan<CounterDefinition> defs = scope.Definitions;
        sb.Append(scope.Name);
        if (!scope.Single)
            sb.Append(' ').Append(o.Name);
        sb.Append(":\n");
        int nameWidth = 0, valueWidth = 0;
        for (int i = 0; i < defs.Length; i++)
        {
            nameWidth = Math.Max(nameWidth, defs[i].Name.Length);
            valueWidth = Math.Max(valueWidth, Number(o.Values[i]).Length);
        }
        int pair = nameWidth + 1 + valueWidth;
        int perLine = Math.Max(1, (TextWidth - 2) / (pair + 3));
        for (int i = 0; i < defs.Length; i++)
        {
            sb.Append(i % perLine == 0 ? "  " : "   ");
            string v = Number(o.Values[i]);
            sb.Append(defs[i].Name).Append(' ', nameWidth - defs[i].Name.Length + 1 + valueWidth - v.Length).Append(v);
            if (i % perLine == perLine - 1 || i == defs.Length - 1)
                sb.Append('\n');
        }
    }

    /// <summary>Runs <paramref name="write"/> against an indented JSON writer and returns the text.</summary>
    public static string JsonText(Action<Utf8JsonWriter> write)
    {
        var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            write(w);
        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length) + "\n";
    }

    /// <param name="extra">Writes more members of the top-level object after the counters (or null).</param>
    public static string Json(IReadOnlyList<CounterSection> sections, Action<Utf8JsonWriter>? extra = null) => JsonText(w =>
    {
        w.WriteStartObject();
        foreach (CounterSection s in sections)
        {
            if (s.Scope.Single)
            {
                foreach (CounterOwner o in s.Owners)
                {
                    w.WriteStartObject(s.Scope.JsonKey);
                    JsonCounters(w, s.Scope, o);
                    w.WriteEndObject();
                }
                continue;
            }
            w.WriteStartArray(s.Scope.JsonKey);
            foreach (CounterOwner o in s.Owners)
            {
                w.WriteStartObject();
                w.WriteString("name", o.Name);
                o.JsonInfo?.Invoke(w);
                JsonCounters(w, s.Scope, o);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        extra?.Invoke(w);
        w.WriteEndObject();
    });

    private static void JsonCounters(Utf8JsonWriter w, ICounterScope scope, CounterOwner o)
    {
        ReadOnlySpan<CounterDefinition> defs = scope.Definitions;
        for (int i = 0; i < defs.Length; i++)
            w.WriteNumber(defs[i].Name, o.Values[i]);
    }

    /// <summary>"device.d0.read_requests 4": scope, owner (none for the daemon), counter, value.</summary>
    public static string Raw(IReadOnlyList<CounterSection> sections)
    {
        var sb = new StringBuilder();
        foreach (CounterSection s in sections)
        {
            ReadOnlySpan<CounterDefinition> defs = s.Scope.Definitions;
            foreach (CounterOwner o in s.Owners)
            {
                string prefix = s.Scope.Single ? s.Scope.Name + "." : s.Scope.Name + "." + o.Name + ".";
                for (int i = 0; i < defs.Length; i++)
                    sb.Append(prefix).Append(defs[i].Name).Append(' ').Append(Number(o.Values[i])).Append('\n');
            }
        }
        return sb.ToString();
    }

    /// <summary>The Prometheus family name of a counter: ggaoed_SCOPE_NAME, plus _total for a counter.</summary>
    public static string MetricName(ICounterScope scope, CounterDefinition d)
        => "ggaoed_" + scope.Name + "_" + d.Name + (d.Kind == CounterKind.Counter ? "_total" : "");

    public static string Metrics(IReadOnlyList<CounterSection> sections)
    {
        var sb = new StringBuilder();
        foreach (CounterSection s in sections)
        {
            ReadOnlySpan<CounterDefinition> defs = s.Scope.Definitions;
            for (int i = 0; i < defs.Length; i++)
            {
                string name = MetricName(s.Scope, defs[i]);
                sb.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(defs[i].Help)).Append(" [").Append(defs[i].Unit).Append("]\n");
                sb.Append("# TYPE ").Append(name).Append(defs[i].Kind == CounterKind.Counter ? " counter\n" : " gauge\n");
                foreach (CounterOwner o in s.Owners)
                {
                    sb.Append(name);
                    if (!s.Scope.Single)
                    {
                        sb.Append('{').Append(s.Scope.Name).Append("=\"").Append(EscapeLabel(o.Name)).Append('"');
                        foreach ((string label, string value) in o.Labels)
                            sb.Append(',').Append(label).Append("=\"").Append(EscapeLabel(value)).Append('"');
                        sb.Append('}');
                    }
                    sb.Append(' ').Append(Number(o.Values[i])).Append('\n');
                }
            }
            InfoFamily(sb, s);
        }
        return sb.ToString();
    }

    /// <summary>ggaoed_SCOPE_info{scope="name",...} 1 for the owners that have info labels.</summary>
    private static void InfoFamily(StringBuilder sb, CounterSection s)
    {
        bool any = false;
        foreach (CounterOwner o in s.Owners)
            any |= o.InfoLabels.Length > 0;
        if (!any || s.Scope.Single)
            return;
        string name = "ggaoed_" + s.Scope.Name + "_info";
        sb.Append("# HELP ").Append(name).Append(" Always 1; the labels describe the ").Append(s.Scope.Name).Append(".\n");
        sb.Append("# TYPE ").Append(name).Append(" gauge\n");
        foreach (CounterOwner o in s.Owners)
        {
            if (o.InfoLabels.Length == 0)
                continue;
            sb.Append(name).Append('{').Append(s.Scope.Name).Append("=\"").Append(EscapeLabel(o.Name)).Append('"');
            foreach ((string label, string value) in o.InfoLabels)
                sb.Append(',').Append(label).Append("=\"").Append(EscapeLabel(value)).Append('"');
            sb.Append("} 1\n");
        }
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string EscapeLabel(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private static string EscapeHelp(string help) => help.Replace("\\", "\\\\").Replace("\n", "\\n");
}
