using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ggaoed.Tests.Daemon;

/// <summary>
/// Reads one owner's counters back out of each of the four formats (text, JSON, raw, Prometheus), the
/// way a person, a script, ggaoectl monitor and a metrics collector would, so tests can compare them.
/// Independent of CounterReport: it parses the text, it does not call the generator.
/// </summary>
internal static partial class CounterFormats
{
    /// <summary>Fields of a JSON owner object that describe it rather than count anything.</summary>
    public static readonly string[] DeviceJsonInfo = ["name", "path", "shelf", "slot", "size_bytes", "read_only", "io_engine", "fault"];
    public static readonly string[] InterfaceJsonInfo = ["name", "mode", "fault"];

    /// <summary>The "name value" pairs under the line "<paramref name="heading"/>:" of text stats (e.g. "device d0").</summary>
    public static Dictionary<string, long> FromText(string text, string heading)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        string[] lines = text.Split('\n');
        int start = Array.IndexOf(lines, heading + ":");
        if (start < 0)
            throw new InvalidOperationException($"no '{heading}:' in the text output:\n{text}");
        for (int i = start + 1; i < lines.Length && lines[i].StartsWith("  ", StringComparison.Ordinal); i++)
        {
            string[] words = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length % 2 != 0)
                throw new InvalidOperationException("odd number of words in a details line: " + lines[i]);
            for (int w = 0; w < words.Length; w += 2)
                result.Add(words[w], long.Parse(words[w + 1], CultureInfo.InvariantCulture));
        }
        return result;
    }

    /// <summary>The numeric fields of one owner object, minus the ones in <paramref name="info"/>.</summary>
    public static Dictionary<string, long> FromJson(JsonElement owner, string[] info)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (JsonProperty p in owner.EnumerateObject())
            if (Array.IndexOf(info, p.Name) < 0)
                result.Add(p.Name, p.Value.GetInt64());
        return result;
    }

    /// <summary>The owner object named <paramref name="name"/> in the JSON array <paramref name="array"/>.</summary>
    public static JsonElement JsonOwner(JsonElement root, string array, string name)
    {
        foreach (JsonElement e in root.GetProperty(array).EnumerateArray())
            if (e.GetProperty("name").GetString() == name)
                return e;
        throw new InvalidOperationException($"no {array} entry '{name}' in:\n{root}");
    }

    /// <summary>The "PREFIXcounter value" lines of stats --raw (prefix e.g. "device.d0.").</summary>
    public static Dictionary<string, long> FromRaw(string text, string prefix)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int space = line.LastIndexOf(' ');
            string key = line[..space];
            if (key.StartsWith(prefix, StringComparison.Ordinal) && key.IndexOf('.', prefix.Length) < 0)
                result.Add(key[prefix.Length..], long.Parse(line[(space + 1)..], CultureInfo.InvariantCulture));
        }
        return result;
    }

    /// <summary>
    /// The samples of ggaoed_SCOPE_* whose labels include <paramref name="label"/>="<paramref name="value"/>",
    /// by counter name (the family name without its prefix and, for a counter, without _total).
    /// </summary>
    public static Dictionary<string, long> FromMetrics(string text, string scope, string label, string value)
    {
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        string prefix = "ggaoed_" + scope + "_";
        string wanted = label + "=\"" + value + "\"";
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            Match type = TypeLine().Match(line);
            if (type.Success)
            {
                types[type.Groups[1].Value] = type.Groups[2].Value;
                continue;
            }
            if (line.StartsWith('#'))
                continue;
            Match sample = SampleLine().Match(line);
            if (!sample.Success)
                throw new InvalidOperationException("not a sample line: " + line);
            string family = sample.Groups[1].Value;
            string labels = sample.Groups[2].Value;
            if (family == prefix + "info")
                continue; // the info family carries words as labels (the storage engine), not a counter
            if (!family.StartsWith(prefix, StringComparison.Ordinal) || !Regex.IsMatch(labels, @"[{,]" + Regex.Escape(wanted) + @"[,}]"))
                continue;
            string name = family[prefix.Length..];
            if (types[family] == "counter")
                name = name[..^"_total".Length];
            result.Add(name, long.Parse(sample.Groups[3].Value, CultureInfo.InvariantCulture));
        }
        return result;
    }

    [GeneratedRegex(@"^# TYPE (\S+) (counter|gauge)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (-?[0-9]+)$")]
    private static partial Regex SampleLine();
}
