using System;

namespace Ggaoed.Protocol;

/// <summary>
/// A fixed-capacity, insertion-ordered set of MAC addresses backed by a preallocated array, for the
/// AoE Mac Mask List and reserve list: edits on the receive path never allocate.
/// Lookups are linear; with at most a few dozen entries that beats hashing.
/// </summary>
public sealed class MacList
{
    private readonly MacAddress[] _items;

    public MacList(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _items = new MacAddress[capacity];
    }

    public int Capacity => _items.Length;
    public int Count { get; private set; }
    public bool IsEmpty => Count == 0;
    public bool IsFull => Count == _items.Length;

    public MacAddress this[int index] =>
        (uint)index < (uint)Count ? _items[index] : throw new ArgumentOutOfRangeException(nameof(index));

    public ReadOnlySpan<MacAddress> AsSpan() => _items.AsSpan(0, Count);

    public bool Contains(MacAddress mac)
    {
        for (int i = 0; i < Count; i++)
        {
            if (_items[i] == mac)
                return true;
        }
        return false;
    }

    /// <summary>Adds the address; true if it is present afterwards (already there counts), false if full.</summary>
    public bool TryAdd(MacAddress mac)
    {
        if (Contains(mac))
            return true;
        if (IsFull)
            return false;
        _items[Count++] = mac;
        return true;
    }

    /// <summary>Removes the address, keeping the order of the others; true if it was present.</summary>
    public bool Remove(MacAddress mac)
    {
        for (int i = 0; i < Count; i++)
        {
            if (_items[i] == mac)
            {
                Array.Copy(_items, i + 1, _items, i, Count - i - 1);
                Count--;
                return true;
            }
        }
        return false;
    }

    public void Clear() => Count = 0;

    /// <summary>Same addresses in the same order.</summary>
    public bool SequenceEqual(MacList other) => AsSpan().SequenceEqual(other.AsSpan());

    internal void CopyFrom(MacList other)
    {
        other.AsSpan().CopyTo(_items);
        Count = other.Count;
    }
}
