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

/// <summary>A parsed key file: groups in file order plus the syntax problems found on the way.</summary>
internal sealed class KeyFileDocument
{
    public KeyFileDocument(string fileName) => FileName = fileName;

    public string FileName { get; }
    public List<KeyFileGroup> Groups { get; } = new();
    public List<ConfigDiagnostic> Errors { get; } = new();
}

/// <summary>
/// Reads the GKeyFile syntax that ggaoed 1.1 configuration files use, by hand (no GLib, no reflection):
/// <c>[group]</c> headers, <c>key = value</c> lines, <c>#</c> comment lines and blank lines. Every group and
/// key keeps its line number so that every later complaint can point at the line to fix.
/// </summary>
/// <remarks>
/// Deliberately stricter than GLib in two places, because silently picking one of two values is how
/// configuration mistakes go unnoticed: a key given twice in a group and a group given twice are errors
/// (GLib keeps the last value and merges groups).
/// </remarks>
internal static class KeyFileParser
{
    public static KeyFileDocument Parse(string text, string fileName)
    {
        var doc = new KeyFileDocument(fileName);
        var groupsByName = new Dictionary<string, KeyFileGroup>(StringComparer.Ordinal);
        KeyFileGroup? current = null;
        bool currentIsDuplicate = false;
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
                    currentIsDuplicate = true;
                    continue;
                }
                string name = trimmed[1..close].Trim().ToString();
                if (name.Length == 0 || name.IndexOf('[') >= 0)
                {
                    doc.Errors.Add(new ConfigDiagnostic(fileName, lineNo, null,
                        "syntax error: a group name must not be empty or contain '['"));
                    current = null;
                    currentIsDuplicate = true;
                    continue;
                }
                if (groupsByName.TryGetValue(name, out KeyFileGroup? earlier))
                {
                    doc.Errors.Add(new ConfigDiagnostic(fileName, lineNo, "[" + name + "]",
                        "group is already defined at line " + earlier.Line.ToString(System.Globalization.CultureInfo.InvariantCulture)
                        + ": merge the two groups into one"));
                    current = null;
                    currentIsDuplicate = true;
                    continue;
                }
                current = new KeyFileGroup(name, lineNo);
                currentIsDuplicate = false;
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
                // After a broken or duplicate group header the keys belong to nothing; one error for the
                // header is enough.
                if (!currentIsDuplicate)
                    doc.Errors.Add(new ConfigDiagnostic(fileName, lineNo, key,
                        "key is outside any group: put it under [defaults] or under a device group"));
                continue;
            }
            KeyFileEntry? dup = current.Find(key);
            if (dup != null)
            {
                doc.Errors.Add(new ConfigDiagnostic(fileName, lineNo, key,
                    "key is already set at line " + dup.Line.ToString(System.Globalization.CultureInfo.InvariantCulture)
                    + " in [" + current.Name + "]: keep only one"));
                continue;
            }
            current.Entries.Add(new KeyFileEntry(key, value, lineNo));
        }
        return doc;
    }
}
