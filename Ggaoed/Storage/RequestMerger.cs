using System;

namespace Ggaoed.Storage;

/// <summary>
/// Pure merge planner: the requests of ONE device (queued and in flight) in, an iocb plan out. No
/// syscalls and no allocation after construction; the plan lives in buffers owned by this object and
/// is valid until the next <see cref="Plan"/>.
///
/// Rules, in this order:
/// <list type="number">
/// <item>Ordering. Two requests conflict when their sector ranges overlap and at least one is a write.
/// Of a conflicting pair the later one (an in-flight request always counts as earlier; otherwise the
/// larger <see cref="IoRequest.Sequence"/>) is deferred: it stays queued and is planned again after the
/// earlier one completed. The kernel may execute the iocbs of one io_submit, and in-flight iocbs, in
/// any order, so this is the only way a later write to a sector is guaranteed to land after an earlier
/// one, and a read to see the writes that arrived before it. A deferred request still defers the
/// requests after it that conflict with it, so arrival order is kept transitively. Overlapping reads
/// never conflict.</item>
/// <item>Flush is a barrier for what came before it: it is planned only when no request (of any kind,
/// queued or in flight) with a smaller sequence is active. Requests that arrived after a flush do not
/// wait for it (being made durable early is harmless).</item>
/// <item>Merging. The remaining requests of one direction are sorted by the explicit key
/// (LBA, input index) and a run of exactly adjacent ones (next LBA == previous end) becomes one op,
/// capped by <see cref="MergeLimits"/>. Duplicates and overlapping reads are never merged (not
/// adjacent). Output order: read ops, then write ops, each in LBA order, then flushes.</item>
/// </list>
/// </summary>
public sealed class RequestMerger
{
    // Sort key = (LBA << IndexBits) | input index: one ulong, so the sort is a plain integer sort (a
    // strict total order; no comparer to get wrong) and ties between equal LBAs go by input index.
    // AoE LBAs have 48 bits (LBA48), leaving 16 bits; 15 keep the key below 2^63.
    private const int IndexBits = 15;
    private const ulong IndexMask = (1UL << IndexBits) - 1;
    private const ulong MaxLba = (1UL << 48) - 1;

    /// <summary>Most requests one plan can take (the input index must fit the sort key).</summary>
    public const int MaxCapacity = 1 << IndexBits;

    private readonly ulong[] _keys;
    private readonly bool[] _deferred;
    private readonly PlannedOp[] _ops;
    private readonly int[] _slots;
    private readonly MergeLimits _limits;
    private int _opCount;
    private int _slotCount;
    private int _deferredCount;

    public RequestMerger(int capacity, MergeLimits limits)
    {
        if (capacity < 1 || capacity > MaxCapacity)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "must be 1.." + MaxCapacity);
        _limits = limits.MaxIovecs == 0 ? MergeLimits.Default : limits;
        Capacity = capacity;
        _keys = new ulong[capacity];
        _deferred = new bool[capacity];
        _ops = new PlannedOp[capacity];
        _slots = new int[capacity];
    }

    public int Capacity { get; }

    public MergeLimits Limits => _limits;

    /// <summary>The ops of the last plan.</summary>
    public ReadOnlySpan<PlannedOp> Ops => _ops.AsSpan(0, _opCount);

    /// <summary>All slots of the last plan; op <c>i</c> covers <c>PlanSlots.Slice(op.FirstSlot, op.SlotCount)</c>.</summary>
    public ReadOnlySpan<int> PlanSlots => _slots.AsSpan(0, _slotCount);

    /// <summary>The slots of one op of the last plan, in LBA (= iovec) order.</summary>
    public ReadOnlySpan<int> SlotsOf(in PlannedOp op) => _slots.AsSpan(op.FirstSlot, op.SlotCount);

    /// <summary>Queued requests the last plan left queued because of a conflict or a flush barrier.</summary>
    public int DeferredCount => _deferredCount;

    /// <summary>
    /// Plans every queued request of <paramref name="active"/> that may go to the kernel now. Returns the
    /// number of ops. Requests must have 1+ sectors (a flush: any), an LBA below 2^48, unique sequences.
    /// </summary>
    public int Plan(ReadOnlySpan<IoRequest> active)
    {
        int n = active.Length;
        if (n > Capacity)
            throw new ArgumentException("more requests than the planner's capacity", nameof(active));
        _opCount = 0;
        _slotCount = 0;
        _deferredCount = 0;

        int k = 0;
        for (int i = 0; i < n; i++)
        {
            _deferred[i] = false;
            ref readonly IoRequest r = ref active[i];
            if (r.Kind == IoKind.Flush)
                continue;
            if (r.Lba > MaxLba)
                throw new ArgumentException("LBA beyond 48 bits", nameof(active));
            _keys[k++] = (r.Lba << IndexBits) | (uint)i;
        }
        Span<ulong> keys = _keys.AsSpan(0, k);
        keys.Sort();

        MarkConflicts(active, keys);
        MarkBlockedFlushes(active);

        EmitRuns(active, keys, IoKind.Read);
        EmitRuns(active, keys, IoKind.Write);
        for (int i = 0; i < n; i++)
        {
            ref readonly IoRequest r = ref active[i];
            if (r.Kind == IoKind.Flush && !r.InFlight && !_deferred[i])
            {
                _slots[_slotCount] = r.Slot;
                _ops[_opCount++] = new PlannedOp(IoKind.Flush, 0, 0, _slotCount, 1);
                _slotCount++;
            }
        }

        for (int i = 0; i < n; i++)
            if (_deferred[i] && !active[i].InFlight)
                _deferredCount++;
        return _opCount;
    }

    private void MarkConflicts(ReadOnlySpan<IoRequest> active, ReadOnlySpan<ulong> keys)
    {
        // Sorted by start: every interval that overlaps keys[a] and starts at or after it follows it
        // directly, so the inner loop stops at the first one starting at or beyond its end. Cost: n plus
        // the number of overlapping pairs.
        for (int a = 0; a < keys.Length; a++)
        {
            int ia = (int)(keys[a] & IndexMask);
            ref readonly IoRequest ra = ref active[ia];
            ulong end = ra.EndLba;
            for (int b = a + 1; b < keys.Length; b++)
            {
                int ib = (int)(keys[b] & IndexMask);
                ref readonly IoRequest rb = ref active[ib];
                if (rb.Lba >= end)
                    break;
                if (ra.Kind == IoKind.Read && rb.Kind == IoKind.Read)
                    continue;
                if (ra.InFlight && rb.InFlight)
                    continue;
                int later;
                if (ra.InFlight)
                    later = ib;
                else if (rb.InFlight)
                    later = ia;
                else
                    later = ra.Sequence < rb.Sequence ? ib : ia;
                _deferred[later] = true;
            }
        }
    }

    private void MarkBlockedFlushes(ReadOnlySpan<IoRequest> active)
    {
        for (int f = 0; f < active.Length; f++)
        {
            ref readonly IoRequest flush = ref active[f];
            if (flush.Kind != IoKind.Flush || flush.InFlight)
                continue;
            for (int i = 0; i < active.Length; i++)
            {
                if (i != f && active[i].Sequence < flush.Sequence)
                {
                    _deferred[f] = true;
                    break;
                }
            }
        }
    }

    private void EmitRuns(ReadOnlySpan<IoRequest> active, ReadOnlySpan<ulong> keys, IoKind kind)
    {
        int open = -1; // index in _ops of the op still accepting slots
        ulong openEnd = 0;
        long openBytes = 0;
        int openCount = 0;
        for (int a = 0; a < keys.Length; a++)
        {
            int i = (int)(keys[a] & IndexMask);
            ref readonly IoRequest r = ref active[i];
            if (r.Kind != kind || r.InFlight || _deferred[i])
                continue;
            long bytes = (long)r.Sectors * Sector.Size;
            if (open >= 0 && r.Lba == openEnd && openCount < _limits.MaxIovecs && openBytes + bytes <= _limits.MaxBytes)
            {
                openEnd = r.EndLba;
                openBytes += bytes;
                openCount++;
            }
            else
            {
                Close(open, kind, openBytes, openCount);
                open = _opCount++;
                _ops[open] = new PlannedOp(kind, (long)(r.Lba * Sector.Size), 0, _slotCount, 0);
                openEnd = r.EndLba;
                openBytes = bytes;
                openCount = 1;
            }
            _slots[_slotCount++] = r.Slot;
        }
        Close(open, kind, openBytes, openCount);
    }

    private void Close(int op, IoKind kind, long bytes, int count)
    {
        if (op < 0)
            return;
        ref PlannedOp o = ref _ops[op];
        o = new PlannedOp(kind, o.Offset, bytes, o.FirstSlot, count);
    }
}
