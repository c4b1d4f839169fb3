using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ggaoed.Daemon;

/// <summary>
/// When to advertise (AOE-NOTES, ggaoed 1.1 facts: an unsolicited Query Config response): pure
/// scheduling, no clock and no I/O of its own, so tests drive it with a fake one. The daemon describes
/// every (device, interface) pair that exists in a pass (<see cref="BeginPass"/>, one
/// <see cref="Observe"/> per pair, <see cref="EndPass"/>) with what a Query Config response of that pair
/// shows (<typeparamref name="TState"/>: the size, the MAC and MTU it goes out with, the settings). A
/// pair that is new, or whose state differs from the last pass, is due; the daemon takes the due pairs
/// (<see cref="TakeDue"/>) when <see cref="NextDueNanos"/> comes and builds each frame from the state as
/// it is then, so a burst of changes goes out as one frame with the latest of them.
/// <para>Rate limit: a pair is advertised at most once per <see cref="MinIntervalNanos"/>. The first
/// change after a quiet spell goes at once; later ones within the interval wait for its end, coalesced.
/// A pair that disappears and comes back (a device removed and added again, an interface reopened for a
/// larger MTU) keeps its last send time for the interval, so flapping cannot make a flood.</para>
/// Keys compare by value (use names, not objects: a reopened device or interface is the same pair).
/// Single-threaded (the reactor's).
/// </summary>
internal sealed class Advertiser<TKey, TState>
    where TKey : IEquatable<TKey>
    where TState : IEquatable<TState>
{
    /// <summary>LastSentNanos of a pair never advertised.</summary>
    private const long Never = long.MinValue;

    private readonly Dictionary<TKey, Entry> _entries = new();
    private readonly List<TKey> _scratch = new();
    private int _pass;

    private struct Entry
    {
        public TState State;
        /// <summary>The pass that last observed the pair; older = the pair is gone.</summary>
        public int SeenInPass;
        public bool Pending;
        public long LastSentNanos;
    }

    public Advertiser(long minIntervalNanos)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minIntervalNanos);
        MinIntervalNanos = minIntervalNanos;
    }

    /// <summary>Least time between two advertisements of one pair.</summary>
    public long MinIntervalNanos { get; }

    /// <summary>Pairs remembered (present, pending, or gone within the interval); for tests.</summary>
    public int Count => _entries.Count;

    /// <summary>Starts a pass: every pair that still exists must be observed before <see cref="EndPass"/>.</summary>
    public void BeginPass() => _pass++;

    /// <summary>A pair that exists now, with its state: new or changed = due (subject to the rate limit).</summary>
    public void Observe(TKey key, TState state)
    {
        ref Entry e = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, key, out bool existed);
        if (!existed)
        {
            e.LastSentNanos = Never;
            e.Pending = true;
        }
        else if (e.SeenInPass < _pass - 1 || !e.State.Equals(state))
        {
            // Gone in the last pass and back now, or changed.
            e.Pending = true;
        }
        e.State = state;
        e.SeenInPass = _pass;
    }

    /// <summary>Ends a pass: pairs not observed in it are gone (never due; forgotten once their interval passed).</summary>
    public void EndPass()
    {
        foreach (TKey key in Keys())
        {
            ref Entry e = ref Find(key);
            if (e.SeenInPass != _pass)
                e.Pending = false;
        }
    }

    /// <summary>Advertise this pair again (a send that found no free TX frame): due after the interval.</summary>
    public void Retry(TKey key)
    {
        ref Entry e = ref Find(key);
        if (!Unsafe.IsNullRef(ref e) && e.SeenInPass == _pass)
            e.Pending = true;
    }

    /// <summary>
    /// When the next pair is due (CLOCK_MONOTONIC ns); <see cref="long.MinValue"/> = now (a pair never
    /// advertised), <see cref="long.MaxValue"/> = nothing pending.
    /// </summary>
    public long NextDueNanos
    {
        get
        {
            long next = long.MaxValue;
            foreach (Entry e in _entries.Values)
                if (e.Pending)
                    next = Math.Min(next, e.LastSentNanos == Never ? long.MinValue : e.LastSentNanos + MinIntervalNanos);
            return next;
        }
    }

    /// <summary>
    /// Adds to <paramref name="due"/> every pending pair whose interval has passed at <paramref name="nowNanos"/>,
    /// and counts them as sent now. Forgets gone pairs whose interval has passed. Returns how many were added.
    /// </summary>
    public int TakeDue(long nowNanos, List<TKey> due)
    {
        int n = 0;
        foreach (TKey key in Keys())
        {
            ref Entry e = ref Find(key);
            bool quiet = e.LastSentNanos == Never || nowNanos - e.LastSentNanos >= MinIntervalNanos;
            if (!quiet)
                continue;
            if (e.Pending)
            {
                e.Pending = false;
                e.LastSentNanos = nowNanos;
                due.Add(key);
                n++;
            }
            else if (e.SeenInPass != _pass)
            {
                _entries.Remove(key); // gone, and its interval is over: nothing left to limit
            }
        }
        return n;
    }

    /// <summary>A copy of the keys, so entries can change or go while the caller walks them.</summary>
    private List<TKey> Keys()
    {
        _scratch.Clear();
        _scratch.AddRange(_entries.Keys);
        return _scratch;
    }

    private ref Entry Find(TKey key) => ref CollectionsMarshal.GetValueRefOrNullRef(_entries, key);
}
