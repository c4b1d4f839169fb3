using System;
using System.Collections.Generic;
using System.Text;

namespace Ggaoed.Daemon.Config;

/// <summary>
/// Typed views of GKeyFile values: escapes, lists, booleans. Each method returns null on success or
/// a short explanation of what is wrong (the caller adds file, line and key).
/// </summary>
internal static class KeyFileValues
{
    /// <summary>
    /// Undoes the GKeyFile escapes <c>\s \n \t \r \\</c>. Inside lists <c>\,</c> and <c>\;</c> stand for a
    /// literal separator.
    /// </summary>
    public static string? Unescape(ReadOnlySpan<char> raw, bool inList, out string value)
    {
        if (raw.IndexOf('\\') < 0)
        {
            value = raw.ToString();
            return null;
        }
        var sb = new StringBuilder(raw.Length);
        for (int i = 0; i < raw.Length; i++)
        {
            char c = raw[i];
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            if (i + 1 >= raw.Length)
            {
                value = "";
                return "value ends with a lone backslash: write \\\\ for a backslash";
            }
            char n = raw[++i];
            switch (n)
            {
                case 's': sb.Append(' '); break;
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case ',' or ';' when inList: sb.Append(n); break;
                default:
                    value = "";
                    return "unknown escape \\" + n + ": only \\s \\n \\t \\r \\\\ (and \\, \\; in lists) are allowed";
            }
        }
        value = sb.ToString();
        return null;
    }

    /// <summary>
    /// Splits a list on unescaped <c>,</c> or <c>;</c> (ggaoed 1.1 files use commas, GLib's own default is
    /// the semicolon). Elements are trimmed; empty elements (e.g. after a trailing separator) are dropped.
    /// </summary>
    public static string? SplitList(string raw, List<string> into)
    {
        int start = 0;
        for (int i = 0; i <= raw.Length; i++)
        {
            if (i < raw.Length)
            {
                char c = raw[i];
                if (c == '\\')
                {
                    i++;
                    continue;
                }
                if (c != ',' && c != ';')
                    continue;
            }
            int end = Math.Min(i, raw.Length);
            ReadOnlySpan<char> part = raw.AsSpan(start, end - start).Trim();
            start = i + 1;
            if (part.IsEmpty)
                continue;
            string? err = Unescape(part, inList: true, out string item);
            if (err != null)
                return err;
            into.Add(item);
        }
        return null;
    }

    /// <summary>GKeyFile booleans: <c>true</c>/<c>false</c>, also <c>1</c>/<c>0</c>.</summary>
    public static string? ParseBool(string value, out bool result)
    {
        switch (value)
        {
            case "true" or "1": result = true; return null;
            case "false" or "0": result = false; return null;
            default:
                result = false;
                return "'" + value + "' is not a boolean: use true or false";
        }
    }
}
