using System;
using System.Numerics;

namespace Ggaoed.Initiator;

/// <summary>
/// A log-linear histogram of non-negative values (here: Stopwatch ticks): 32 linear sub-buckets per
/// power of two, so any percentile is off by at most 1/32 (3 %). Fixed size (1,920 counters), so
/// recording never allocates.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBits = 5;
    private const int Sub = 1 << SubBits;
    private readonly long[] _counts = new long[Sub * 60];

    public long Count { get; private set; }
    public long Min { get; private set; } = long.MaxValue;
    public long Max { get; private set; }
    public long Sum { get; private set; }

    public double Mean => Count == 0 ? 0 : (double)Sum / Count;

    public void Record(long value)
    {
        if (value < 0)
            value = 0;
        _counts[IndexOf(value)]++;
        Count++;
        Sum += value;
        if (value < Min)
            Min = value;
        if (value > Max)
            Max = value;
    }

    public void Reset()
    {
        Array.Clear(_counts);
        Count = 0;
        Sum = 0;
        Min = long.MaxValue;
        Max = 0;
    }

    /// <summary>The value at percentile <paramref name="p"/> (0-100): the middle of its bucket, clamped to [Min, Max].</summary>
    public long Percentile(double p)
    {
        if (Count == 0)
            return 0;
        long rank = (long)Math.Ceiling(p / 100.0 * Count);
        if (rank < 1)
            rank = 1;
        if (rank >= Count)
            return Max; // the slowest request is known exactly
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
                return Math.Clamp(MiddleOf(i), Min, Max);
        }
        return Max;
    }

    internal static int IndexOf(long value)
    {
        if (value < Sub)
            return (int)value;
        int msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        int shift = msb - SubBits;
        return Sub * (shift + 1) + (int)((value >> shift) & (Sub - 1));
    }

    internal static long MiddleOf(int index)
    {
        if (index < Sub)
            return index;
        int shift = index / Sub - 1;
        long low = (long)(Sub + index % Sub) << shift;
        return low + ((1L << shift) >> 1);
    }
}
