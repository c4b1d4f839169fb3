using System;

namespace Ggaoed.Storage;

/// <summary>Why queued requests are not going to the kernel (the one blocked state of an engine).</summary>
public enum GateState : byte
{
    /// <summary>Requests go when the merge window allows (at once with merge-delay 0).</summary>
    Open,

    /// <summary>The kernel refused more (EAGAIN, EBUSY) while I/O is in flight: the next completion reopens.</summary>
    KernelBusy,

    /// <summary>The kernel refused more with nothing in flight (no completion will come): retry at <see cref="SubmitGate.RetryAt"/>.</summary>
    RetryLater,

    /// <summary>
    /// Every queued request waits behind an earlier one it overlaps (or a flush behind earlier
    /// requests): nothing can go until a completion, and an arrival may bring something that can.
    /// </summary>
    AllDeferred,

    /// <summary>The engine failed for good (fail-stop): nothing goes to the kernel again.</summary>
    Stopped,
}

/// <summary>
/// Decides which queued requests may go to the kernel now; pure (no syscalls: the caller passes the
/// time). Owns the merge planner and the engine's one <see cref="GateState"/>.
///
/// merge-delay semantics: with merge-delay 0 queued requests go at every SubmitPending. Otherwise they
/// go when merge-delay has passed since the LAST arrival (the burst is over), or max-delay since the
/// OLDEST queued arrival (no request waits longer than that for merging), or when no slot is free
/// (nothing more can arrive to merge with).
/// </summary>
internal sealed class SubmitGate
{
    /// <summary>After a refusal with nothing in flight no completion will wake us: retry after 1 ms.</summary>
    public const long RetryNanos = 1_000_000;

    private readonly long _mergeDelay;
    private readonly long _maxDelay;
    private long _lastArrival;
    private long _oldestArrival;

    public SubmitGate(int capacity, long mergeDelayNanos, long maxDelayNanos, MergeLimits limits)
    {
        _mergeDelay = Math.Max(0, mergeDelayNanos);
        _maxDelay = Math.Max(_mergeDelay, maxDelayNanos);
        Merger = new RequestMerger(capacity, limits);
    }

    public RequestMerger Merger { get; }

    public GateState State { get; private set; }

    /// <summary>When <see cref="GateState.RetryLater"/> ends (CLOCK_MONOTONIC ns).</summary>
    public long RetryAt { get; private set; } = long.MaxValue;

    /// <summary>True when the decisions below need the current time (callers skip the clock otherwise).</summary>
    public bool NeedsClock => _mergeDelay > 0 || State == GateState.RetryLater;

    /// <summary>Arrivals are timed only for merge-delay.</summary>
    public bool TimesArrivals => _mergeDelay > 0;

    /// <summary>A request was queued (<paramref name="now"/> only matters with merge-delay).</summary>
    public void OnArrival(long now, bool firstQueued)
    {
        _lastArrival = now;
        if (firstQueued)
            _oldestArrival = now;
        if (State == GateState.AllDeferred)
            State = GateState.Open;
    }

    /// <summary>Something completed: the kernel has room again and deferred requests may be free to go.</summary>
    public void OnCompletion()
    {
        if (State is GateState.KernelBusy or GateState.RetryLater or GateState.AllDeferred)
            State = GateState.Open;
    }

    /// <summary>The kernel refused more; <paramref name="inFlight"/>: whether it holds I/O whose completion will reopen the gate.</summary>
    public void OnKernelBusy(long now, bool inFlight)
    {
        if (State == GateState.Stopped)
            return;
        State = inFlight ? GateState.KernelBusy : GateState.RetryLater;
        RetryAt = inFlight ? long.MaxValue : now + RetryNanos;
    }

    /// <summary>After a plan: requests left queued without a kernel refusal were all deferred.</summary>
    public void AfterPlan(int queuedLeft, long oldestQueuedArrival)
    {
        if (queuedLeft > 0 && State == GateState.Open)
            State = GateState.AllDeferred;
        _oldestArrival = oldestQueuedArrival;
    }

    public void Stop() => State = GateState.Stopped;

    /// <summary>True when the kernel may be offered work now (ops already prepared, or new ones).</summary>
    public bool KernelReady(long now)
    {
        if (State == GateState.RetryLater && now >= RetryAt)
            State = GateState.Open;
        return State is GateState.Open or GateState.AllDeferred;
    }

    /// <summary>True when queued requests may be planned now: the kernel is ready, something may go, and the merge window is over.</summary>
    public bool MayPlan(long now, int queued, int freeSlots)
    {
        if (queued == 0 || !KernelReady(now) || State == GateState.AllDeferred)
            return false;
        return _mergeDelay == 0 || freeSlots == 0 || now >= _lastArrival + _mergeDelay || now >= _oldestArrival + _maxDelay;
    }

    /// <summary>
    /// When SubmitPending must run again although no fd became readable (CLOCK_MONOTONIC ns):
    /// <see cref="long.MinValue"/> = due now, <see cref="long.MaxValue"/> = never (nothing queued, or
    /// only a completion can help, which the eventfd reports).
    /// </summary>
    public long NextDeadline(int queued, int freeSlots)
    {
        if (queued == 0)
            return long.MaxValue;
        switch (State)
        {
            case GateState.RetryLater:
                return RetryAt;
            case GateState.Open:
                if (_mergeDelay == 0 || freeSlots == 0)
                    return long.MinValue;
                return Math.Min(_lastArrival + _mergeDelay, _oldestArrival + _maxDelay);
            default:
                return long.MaxValue;
        }
    }
}
