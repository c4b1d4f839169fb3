using System;
using System.Collections.Generic;

namespace Ggaoed.Daemon.Config;

/// <summary>One <c>key = value</c> line. <see cref="RawValue"/> is trimmed but still escaped.</summary>
internal sealed record KeyFileEntry(string Key, string RawValue, int Line);

/// <summary>One <c>[group]</c> with its entries in file order.</summary>
internal sealed class KeyFileGroup
{
    public KeyFileGroup(string name, int line)
    {
        Name = name;
        Line = line;
    }

    public string Name { get; }
    public int Line { get; }
    public List<KeyFileEntry> Entries { get; } = new();

    public KeyFileEntry? Find(string key)
    {
        foreach (KeyFileEntry e in Entries)
            if (e.Key == key)
                return e;
        return null;
    }
}

/// <summary>
/// A parsed key file: groups in file order, the syntax errors, and the warnings about keys and groups
/// given twice.
/// </summary>
internal sealed class KeyFileDocument
{
    public KeyFileDocument(string fileName) => FileName = fileName;

    public string FileName { get; }
    public List<KeyFileGroup> Groups { get; } = new();
    public List<ConfigDiagnostic> Errors { get; } = new();
    public List<ConfigDiagnostic> Warnings { get; } = new();
}

/// <summary>
/// Reads the GKeyFile syntax that ggaoed 1.1 configuration files use, by hand (no GLib, no reflection):
/// <c>[group]</c> headers, <c>key = value</c> lines, <c>#</c> comment lines and blank lines. Every group and
/// key keeps its line number so that every later complaint can point at the line to fix.
/// </summary>
/// <remarks>
/// A key given twice in a group keeps the last value and a group given twice is merged into the first,
/// as GLib (and so ggaoed 1.1) does, so every file 1.1 read still loads; but each is a warning, because
/// silently picking one of two values is how configuration mistakes go unnoticed.
/// </remarks>
internal static class KeyFileParser
{
    public static KeyFileDocument Parse(string text, string fileName)
    {
        var doc = new KeyFileDocument(fileName);
        var groupsByName = new Dictionary<string, KeyFileGroup>(StringComparer.Ordinal);
        KeyFileGroup? current = null;
        bool afterBrokenHeader = false;
        int lineNo = 0;
        int pos = 0;
        // A UTF-8 byte order mark is tolerated, as GLib does.
        if (text.Length > 0 && text[0] == '\uFEFF')
            pos = 1;
        while (pos <= text.Length)
        {
            int end = text.IndexOf('\n', pos);
            if (end < 0)
                end = text.Length;
            lineNo++;
            ReadOnlySpan<char> line = text.AsSpan(pos, end - pos);
            pos = end + 1;
            if (line.Length > 0 && line[^1] == '\r')
                line = line[..^1];
            ReadOnlySpan<char> trimmed = line.Trim();
            if (trimmed.IsEmpty || trimmed[0] == '#')
                continue;

            if (trimmed[0] == '[')
            {
                int close = trimmed.IndexOf(']');
                if (close < 0 || !trimmed[(close + 1)..].Trim().IsEmpty)
                {
                    doc.Errors.Add(new ConfigDiagnostic(fileName, lineNo, null,
                        "syntax error: a group header must look like [name] and stand alone on its line"));
                    current = null;
                    afterBrokenHeader = true;
                    continue;
                }
                string name = trimmed[1..close].Trim().ToString();
                if (name.Length == 0 || name.IndexOf('[') >= 0)
                {
                    doc.Errors.Add(new ConfigDiagnostic(fileName, lineNo, null,
                        "syntax error: a group name must not be empty or contain '['"));
                    current = null;
                    afterBrokenHeader = true;
                    continue;
                }
                if (groupsByName.TryGetValue(name, out KeyFileGroup? earlier))
                {
                    doc.Warnings.Add(new ConfigDiagnostic(fileName, lineNo, "[" + name + "]",
                        "group is already defined at line " + Num(earlier.Line)
                        + "; its keys are merged into that group (as ggaoed 1.1 did): merge the two groups into one"));
                    current = earlier;
                    afterBrokenHeader = false;
                    continue;
                }
                current = new KeyFileGroup(name, lineNo);
                afterBrokenHeader = false;
                groupsByName.Add(name, current);
                doc.Groups.Add(current);
                continue;
            }

            int eq = trimmed.IndexOf('=');
            if (eq < 0)
            {
                doc.Errors.Add(new ConfigDiagnostic(fileName, lineNo, null,
                    "syntax error: expected [group], key = value, or a # comment"));
                continue;
            }
            string key = trimmed[..eq].TrimEnd().ToString();
            string value = trimmed[(eq + 1)..].Trim().ToString();
            if (key.Length == 0)
            {
                doc.Errors.Add(new ConfigDiagnostic(fileName, lineNo, null, "syntax error: missing key name before '='"));
                continue;
            }
            if (current == null)
            {
                // After a broken group header the keys belong to nothing; one error for the
                // header is enough.
                if (!afterBrokenHeader)
                    doc.Errors.Add(new ConfigDiagnostic(fileName, lineNo, key,
                        "key is outside any group: put it under [defaults] or under a device group"));
                continue;
            }
            KeyFileEntry? dup = current.Find(key);
            if (dup != null)
            {
                doc.Warnings.Add(new ConfigDiagnostic(fileName, lineNo, key,
                    "key is already set at line " + Num(dup.Line) + " in [" + current.Name
                    + "]; this later value wins (as in ggaoed 1.1): keep only one"));
                current.Entries.Remove(dup);
            }
            current.Entries.Add(new KeyFileEntry(key, value, lineNo));
        }
        return doc;
    }

    private static string Num(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
