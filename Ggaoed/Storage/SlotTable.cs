using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>Where one request is in its life. Only these transitions exist:
/// Free → Acquired → Queued → InFlight → Completed → Free, plus Acquired → Free (never enqueued) and
/// Queued → Completed (failed without reaching the kernel).</summary>
public enum SlotState : byte
{
    Free,

    /// <summary>Handed to the daemon, its buffer being filled.</summary>
    Acquired,

    /// <summary>Enqueued, not yet in the kernel.</summary>
    Queued,

    /// <summary>In an iocb or SQE the kernel owns.</summary>
    InFlight,

    /// <summary>Result delivered (or about to be), waiting for ReleaseSlot.</summary>
    Completed,
}

/// <summary>One request a device holds: everything the engine knows about it, in one place.</summary>
internal struct IoSlot
{
    public SlotState State;
    public IoKind Kind;
    public int Sectors;
    public ulong Lba;

    /// <summary>Arrival order, unique per engine (the merger keeps overlapping requests in this order).</summary>
    public long Sequence;

    /// <summary>CLOCK_MONOTONIC ns of the Enqueue (kept only with merge-delay, for max-delay).</summary>
    public long Arrival;

    /// <summary>A caller-owned buffer for the data (a TX frame), 0 = the slot's own buffer.</summary>
    public nint External;

    /// <summary>The next slot of the same kernel op (LBA order), -1 after the last.</summary>
    public int NextInOp;

    public readonly int Bytes => Sectors * Sector.Size;
}

/// <summary>
/// The requests of one device: a fixed table of <see cref="IoSlot"/>s, a free list, and one aligned
/// native buffer per slot (the kernel reads and writes them, so they never move). Tracks how many
/// slots are queued and in flight. No syscalls; no allocation after construction.
/// </summary>
internal sealed unsafe class SlotTable : IDisposable
{
    private readonly IoSlot[] _slots;
    private readonly int[] _free;
    private int _freeCount;
    private byte* _buffers;
    private readonly nuint _stride;

    /// <param name="slotBytes">Capacity of each buffer.</param>
    /// <param name="alignment">Every buffer starts on a multiple of this (a power of two).</param>
    public SlotTable(int length, int slotBytes, int alignment)
    {
        Length = length;
        SlotBytes = slotBytes;
        Alignment = alignment;
        _slots = new IoSlot[length];
        _free = new int[length];
        for (int i = 0; i < length; i++)
            _free[i] = length - 1 - i; // pop order 0, 1, 2...
        _freeCount = length;
        // Page alignment (not just the 512-byte O_DIRECT minimum) keeps a slot from sharing a page with
        // its neighbour, so direct I/O never pins a page another request is using.
        _stride = (nuint)((slotBytes + alignment - 1) / alignment * alignment);
        _buffers = (byte*)NativeMemory.AlignedAlloc(_stride * (nuint)length, (nuint)alignment);
        NativeMemory.Clear(_buffers, _stride * (nuint)length);
    }

    public int Length { get; }

    public int SlotBytes { get; }

    public int Alignment { get; }

    public int FreeCount => _freeCount;

    public int QueuedCount { get; private set; }

    public int InFlightCount { get; private set; }

    public ref IoSlot this[int slot] => ref _slots[slot];

    public bool TryAcquire(out int slot)
    {
        if (_freeCount == 0)
        {
            slot = -1;
            return false;
        }
        slot = _free[--_freeCount];
        _slots[slot].State = SlotState.Acquired;
        return true;
    }

    /// <summary>Acquired → Queued with the request's description.</summary>
    public void Queue(int slot, IoKind kind, ulong lba, int sectors, byte* external, long sequence, long arrival)
    {
        ref IoSlot s = ref Expect(slot, SlotState.Acquired);
        s.State = SlotState.Queued;
        s.Kind = kind;
        s.Lba = lba;
        s.Sectors = sectors;
        s.External = (nint)external;
        s.Sequence = sequence;
        s.Arrival = arrival;
        s.NextInOp = -1;
        QueuedCount++;
    }

    /// <summary>Queued → InFlight.</summary>
    public void MarkInFlight(int slot)
    {
        Expect(slot, SlotState.Queued).State = SlotState.InFlight;
        QueuedCount--;
        InFlightCount++;
    }

    /// <summary>Queued or InFlight → Completed.</summary>
    public void MarkCompleted(int slot)
    {
        ref IoSlot s = ref _slots[slot];
        if (s.State == SlotState.InFlight)
            InFlightCount--;
        else if (s.State == SlotState.Queued)
            QueuedCount--;
        else
            ThrowBadSlot(slot);
        s.State = SlotState.Completed;
    }

    /// <summary>Completed or Acquired → Free.</summary>
    public void Release(int slot)
    {
        if ((uint)slot >= (uint)Length || (_slots[slot].State != SlotState.Completed && _slots[slot].State != SlotState.Acquired))
            ThrowBadSlot(slot);
        _slots[slot].State = SlotState.Free;
        _free[_freeCount++] = slot;
    }

    public SlotState StateOf(int slot)
    {
        if ((uint)slot >= (uint)Length)
            ThrowBadSlot(slot);
        return _slots[slot].State;
    }

    public byte* Pointer(int slot)
    {
        if ((uint)slot >= (uint)Length)
            ThrowBadSlot(slot);
        return _buffers + (nuint)slot * _stride;
    }

    /// <summary>Where the kernel moves the slot's data: the caller's buffer if it gave one, else the slot's own.</summary>
    public byte* DataPointer(int slot) => _slots[slot].External != 0 ? (byte*)_slots[slot].External : Pointer(slot);

    /// <summary>The queued and in-flight requests, as the merge planner sees them; returns how many.</summary>
    public int CollectActive(IoRequest[] into)
    {
        int n = 0;
        for (int s = 0; s < Length; s++)
        {
            ref IoSlot slot = ref _slots[s];
            if (slot.State is SlotState.Queued or SlotState.InFlight)
                into[n++] = new IoRequest(s, slot.Kind, slot.Lba, slot.Sectors, slot.Sequence, slot.State == SlotState.InFlight);
        }
        return n;
    }

    /// <summary>The earliest arrival of a queued request, <see cref="long.MaxValue"/> with none.</summary>
    public long OldestQueuedArrival()
    {
        long oldest = long.MaxValue;
        for (int s = 0; s < Length; s++)
            if (_slots[s].State == SlotState.Queued && _slots[s].Arrival < oldest)
                oldest = _slots[s].Arrival;
        return oldest;
    }

    /// <summary>
    /// Describes an op's data from byte <paramref name="skip"/> on (the part a short transfer left)
    /// as iovecs, following the slots' <see cref="IoSlot.NextInOp"/> chain; returns how many it wrote.
    /// </summary>
    public int FillIovecs(int firstSlot, long skip, iovec* iov)
    {
        int n = 0;
        for (int s = firstSlot; s >= 0; s = _slots[s].NextInOp)
        {
            long bytes = _slots[s].Bytes;
            if (skip >= bytes)
            {
                skip -= bytes;
                continue;
            }
            iov[n].iov_base = DataPointer(s) + skip;
            iov[n].iov_len = (nuint)(bytes - skip);
            skip = 0;
            n++;
        }
        return n;
    }

    /// <summary>
    /// No finalizer on purpose: the kernel may still write into the buffers while requests are in
    /// flight, so the engine frees them only when it knows none is (see the engines' Dispose).
    /// </summary>
    public void Dispose()
    {
        NativeMemory.AlignedFree(_buffers);
        _buffers = null;
    }

    private ref IoSlot Expect(int slot, SlotState state)
    {
        if ((uint)slot >= (uint)Length || _slots[slot].State != state)
            ThrowBadSlot(slot);
        return ref _slots[slot];
    }

    [DoesNotReturn]
    public static void ThrowBadSlot(int slot)
        => throw new InvalidOperationException("slot " + slot + " is not in the state this call needs (engine contract violated)");
}
