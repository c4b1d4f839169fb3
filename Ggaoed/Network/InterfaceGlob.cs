using System;

namespace Ggaoed.Network;

/// <summary>
/// Shell-style matching of interface names against configured patterns (<c>eth*</c>, <c>vif*.0</c>,
/// <c>br?</c>, <c>eth[0-3]</c>, <c>tap[!x]*</c>): <c>*</c> any run of characters, <c>?</c> one character,
/// <c>[...]</c> one of a set or range, <c>[!...]</c> none of them. No escapes: interface names cannot
/// contain those characters anyway. Allocation-free. (The config layer has its own GlobPattern; the
/// lead will keep one.)
/// </summary>
internal static class InterfaceGlob
{
    public static bool HasWildcards(ReadOnlySpan<char> pattern) => pattern.IndexOfAny("*?[") >= 0;

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
                    // Remember where to resume if the rest fails: let the star swallow one more char.
                    starP = ++p;
                    starN = n;
                    continue;
                }
                if (c == '?')
                {
                    p++;
                    n++;
                    continue;
                }
                if (c == '[' && TryMatchSet(pattern, p, name[n], out int next, out bool inSet))
                {
                    if (inSet)
                    {
                        p = next;
                        n++;
                        continue;
                    }
                }
                else if (c == name[n])
                {
                    p++;
                    n++;
                    continue;
                }
            }
            if (starP < 0)
                return false;
            p = starP;
            n = ++starN;
        }
        while (p < pattern.Length && pattern[p] == '*')
            p++;
        return p == pattern.Length;
    }

    /// <summary>
    /// Matches one character against the set starting at pattern[open] == '['. Returns false when the
    /// bracket is not closed (then '[' is an ordinary character).
    /// </summary>
    private static bool TryMatchSet(ReadOnlySpan<char> pattern, int open, char ch, out int next, out bool matched)
    {
        int i = open + 1;
        bool negate = i < pattern.Length && (pattern[i] == '!' || pattern[i] == '^');
        if (negate)
            i++;
        bool found = false;
        bool first = true;
        while (i < pattern.Length && (pattern[i] != ']' || first))
        {
            first = false;
            char lo = pattern[i];
            if (i + 2 < pattern.Length && pattern[i + 1] == '-' && pattern[i + 2] != ']')
            {
                char hi = pattern[i + 2];
                if (ch >= lo && ch <= hi)
                    found = true;
                i += 3;
            }
            else
            {
                if (ch == lo)
                    found = true;
                i++;
            }
        }
        if (i >= pattern.Length)
        {
            next = open;
            matched = false;
            return false;
        }
        next = i + 1;
        matched = found != negate;
        return true;
    }
}
