using System;
using System.Collections.Generic;
using System.Text;

namespace Ggaoed.Daemon;

/// <summary>Plain-text tables for people (stats, monitor, discover): columns two spaces apart, each as
/// wide as its widest cell, no trailing blanks.</summary>
internal static class TextTable
{
    /// <summary>Appends <paramref name="rows"/> (the first is the header); the first
    /// <paramref name="leftAligned"/> columns are left-aligned, the rest (numbers) right-aligned.</summary>
    public static StringBuilder Append(StringBuilder sb, List<string[]> rows, int leftAligned = int.MaxValue)
    {
        int columns = 0;
        foreach (string[] r in rows)
            columns = Math.Max(columns, r.Length);
        int[] width = new int[columns];
        foreach (string[] r in rows)
            for (int c = 0; c < r.Length; c++)
                width[c] = Math.Max(width[c], r[c].Length);
        foreach (string[] r in rows)
        {
            for (int c = 0; c < r.Length; c++)
            {
                int pad = width[c] - r[c].Length;
                if (c >= leftAligned)
                    sb.Append(' ', pad).Append(r[c]);
                else
                    sb.Append(r[c]).Append(' ', pad);
                sb.Append("  ");
            }
            // An empty last cell (a config string) must not leave blanks at the end of the line.
            int end = sb.Length;
            while (end > 0 && sb[end - 1] == ' ')
                end--;
            sb.Length = end;
            sb.Append('\n');
        }
        return sb;
    }
}
