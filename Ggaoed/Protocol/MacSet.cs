using System;

namespace Ggaoed.Protocol;

/// <summary>
/// An immutable set of MAC addresses from the configuration (accept, deny, admin-accept lists):
/// sorted once, then binary-searched on the receive path without allocating.
/// </summary>
/// <remarks>
/// A list that may be absent is held as <c>MacSet?</c>: <c>null</c> means "no such list", while
/// <see cref="Empty"/> is a list that names nobody. The two must stay apart: an accept list whose
/// names all failed to resolve has to admit nobody (fail closed), not everyone.
/// </remarks>
public sealed class MacSet
{
    private readonly ulong[] _values;

    /// <summary>The set that contains no address.</summary>
    public static readonly MacSet Empty = new(ReadOnlySpan<MacAddress>.Empty);

    /// <summary>The given addresses; duplicates collapse.</summary>
    public MacSet(ReadOnlySpan<MacAddress> macs)
    {
        var values = new ulong[macs.Length];
        for (int i = 0; i < macs.Length; i++)
            values[i] = macs[i].Value;
        Array.Sort(values);
        int distinct = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (distinct == 0 || values[distinct - 1] != values[i])
                values[distinct++] = values[i];
        }
        _values = distinct == values.Length ? values : values.AsSpan(0, distinct).ToArray();
    }

    public int Count => _values.Length;
    public bool IsEmpty => _values.Length == 0;

    public bool Contains(MacAddress mac) => Array.BinarySearch(_values, mac.Value) >= 0;

    /// <summary>The addresses in ascending order (status output, tests).</summary>
    public MacAddress this[int index] => new(_values[index]);
}
