using System;

namespace Ggaoed.Daemon.Config;

/// <summary>
/// Shell-style patterns for interface names, as fnmatch(3) without flags: <c>*</c> any run of characters,
/// <c>?</c> one character, <c>[abc]</c>, <c>[a-z]</c>, <c>[!a-z]</c> (or <c>[^a-z]</c>) one character from a
/// set, <c>\x</c> a literal x. Interface names are short (IFNAMSIZ is 16), so the simple backtracking match
/// is plenty.
/// </summary>
public static class GlobPattern
{
    public static bool HasWildcards(ReadOnlySpan<char> pattern) => pattern.IndexOfAny("*?[\\") >= 0;

    /// <summary>Null when the pattern is well formed, else what is wrong with it.</summary>
    public static string? Validate(ReadOnlySpan<char> pattern)
    {
        for (int i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] == '\\')
            {
                if (++i >= pattern.Length)
                    return "pattern ends with a lone backslash";
            }
            else if (pattern[i] == '[')
            {
                int end = FindClassEnd(pattern, i);
                if (end < 0)
                    return "'[' without a matching ']'";
                i = end;
            }
        }
        return null;
    }

    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> name)
    {
        int p = 0, n = 0;
        int starP = -1, starN = 0;
        while (n < name.Length)
        {
            if (p < pattern.Length)
            {
                char c = pattern[p];
                if (c == '*')
                {
                    starP = p++;
                    starN = n;
                    continue;
                }
                if (c == '?')
                {
                    p++;
                    n++;
                    continue;
                }
                if (c == '[')
                {
                    int end = FindClassEnd(pattern, p);
                    if (end > 0 && ClassMatches(pattern[(p + 1)..end], name[n]))
                    {
                        p = end + 1;
                        n++;
                        continue;
                    }
                    if (end < 0 && name[n] == '[')
                    {
                        // An unterminated '[' is an ordinary character, as in fnmatch.
                        p++;
                        n++;
                        continue;
                    }
                }
                else
                {
                    if (c == '\\' && p + 1 < pattern.Length)
                        c = pattern[++p];
                    if (c == name[n])
                    {
                        p++;
                        n++;
                        continue;
                    }
                }
            }
            if (starP < 0)
                return false;
            // Backtrack: let the last '*' swallow one more character.
            p = starP + 1;
            n = ++starN;
        }
        while (p < pattern.Length && pattern[p] == '*')
            p++;
        return p == pattern.Length;
    }

    /// <summary>Index of the ']' closing the class that starts at <paramref name="open"/>, or -1.</summary>
    private static int FindClassEnd(ReadOnlySpan<char> pattern, int open)
    {
        int i = open + 1;
        if (i < pattern.Length && (pattern[i] == '!' || pattern[i] == '^'))
            i++;
        // A ']' right after the opening (or after the negation) is a member, not the end.
        if (i < pattern.Length && pattern[i] == ']')
            i++;
        for (; i < pattern.Length; i++)
        {
            if (pattern[i] == '\\')
                i++;
            else if (pattern[i] == ']')
                return i;
        }
        return -1;
    }

    private static bool ClassMatches(ReadOnlySpan<char> set, char c)
    {
        bool negate = set.Length > 0 && (set[0] == '!' || set[0] == '^');
        if (negate)
            set = set[1..];
        bool hit = false;
        for (int i = 0; i < set.Length; i++)
        {
            char lo = set[i];
            if (lo == '\\' && i + 1 < set.Length)
                lo = set[++i];
            char hi = lo;
            if (i + 2 < set.Length && set[i + 1] == '-')
            {
                hi = set[i + 2];
                if (hi == '\\' && i + 3 < set.Length)
                    hi = set[++i + 2];
                i += 2;
            }
            if (c >= lo && c <= hi)
                hit = true;
        }
        return hit != negate;
    }
}
