using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>Which kernel interface an engine drives.</summary>
public enum EngineKind : byte
{
    /// <summary>Linux native AIO (io_submit): asynchronous for O_DIRECT only.</summary>
    Aio,

    /// <summary>io_uring: asynchronous for buffered and direct I/O.</summary>
    IoUring,
}

/// <summary>How reads may be answered at once, bypassing the queue (<see cref="StorageEngine.TryReadNow"/>).</summary>
public enum ImmediateReadMode : byte
{
    /// <summary>Never: every read goes through the kernel queue (O_DIRECT on a disk).</summary>
    None,

    /// <summary>
    /// A buffered store: preadv2(RWF_NOWAIT), which copies what the page cache holds and fails with
    /// EAGAIN instead of waiting for the disk; a miss goes through the queue.
    /// </summary>
    NoWait,

    /// <summary>
    /// A file on a memory file system (tmpfs, ramfs, hugetlbfs): a plain pread, a memory copy with no
    /// disk behind it (tmpfs refuses RWF_NOWAIT with EOPNOTSUPP).
    /// </summary>
    InMemory,
}

/// <summary>Construction parameters of one device's engine.</summary>
public readonly struct EngineOptions
{
    /// <summary>Queue slots = requests the device holds at once (config <c>queue-length</c>).</summary>
    public int QueueLength { get; init; }

    /// <summary>Largest request in bytes, the capacity of each slot buffer (MTU 9000: 17 × 512 = 8704).</summary>
    public int SlotBytes { get; init; }

    /// <summary>Config <c>merge-delay</c> in nanoseconds; 0 submits every loop turn.</summary>
    public long MergeDelayNanos { get; init; }

    /// <summary>Config <c>max-delay</c> in nanoseconds; values below <see cref="MergeDelayNanos"/> act as it.</summary>
    public long MaxDelayNanos { get; init; }

    /// <summary>Merge caps; default(MergeLimits) means <see cref="MergeLimits.Default"/>.</summary>
    public MergeLimits Limits { get; init; }

    /// <summary>
    /// Set when the reactor registers <see cref="StorageEngine.EventFd"/> with EPOLLIN | EPOLLET:
    /// every eventfd write then raises a new edge, so reaping need not read the eventfd and saves that
    /// syscall per reap. Leave false for level-triggered registration, where the counter must be read
    /// to stop epoll from reporting it again.
    /// </summary>
    public bool EdgeTriggeredEventFd { get; init; }

    /// <summary>Whether and how <see cref="StorageEngine.TryReadNow"/> may serve reads (see <see cref="ImmediateReadMode"/>).</summary>
    public ImmediateReadMode ImmediateReads { get; init; }

    /// <summary>
    /// The store is a buffered file or device on a disk (no O_DIRECT, not a memory file system): a read
    /// the page cache cannot serve makes whoever submits it start the disk I/O (readahead, a VM exit per
    /// request on a virtio disk). The io_uring engine hands such reads to its workers (IOSQE_ASYNC) so
    /// that work stays off the reactor.
    /// </summary>
    public bool BufferedStore { get; init; }

    /// <summary>
    /// Every write is durable before its completion is delivered: RWF_DSYNC on each write (per-I/O
    /// O_DSYNC; for O_DIRECT it also flushes the disk's cache). Flushes stay datasync ops.
    /// </summary>
    public bool WriteThrough { get; init; }

    /// <summary>
    /// Where the exported window starts in the store, in bytes (config offset × 512, vblade -o): added
    /// to every I/O, so LBA 0 of the device is this byte of the file or disk.
    /// </summary>
    public long BaseOffsetBytes { get; init; }
}

/// <summary>One finished request: its slot and the result (bytes, 0 for a flush, or -errno).</summary>
public readonly struct IoCompletion(int slot, int result)
{
    public int Slot { get; } = slot;

    /// <summary>The request's byte count on success (0 for a flush) or -errno (what a short transfer left
    /// uncovered: -ENODATA for a read, which hit the end of the store, -EIO for a write).</summary>
    public int Result { get; } = result;
}

/// <summary>
/// One device's storage engine, as the daemon sees it whatever the kernel interface: a table of
/// request slots (<see cref="SlotTable"/>), a pure <see cref="SubmitGate"/> deciding what may go to
/// the kernel, and, in the subclass, a writer for that interface's request format (iocb or SQE) and its
/// syscalls. Driven by the single-threaded reactor; nothing allocates after construction.
///
/// Reactor contract, per loop turn:
/// <list type="number">
/// <item>For each request frame: <see cref="TryAcquireSlot"/> (false: queue full, drop and count the
/// frame, the initiator retransmits); for writes copy the payload into <see cref="SlotBuffer"/>;
/// <see cref="Enqueue"/>.</item>
/// <item>When <see cref="EventFd"/> is readable: <see cref="Reap"/>, then for each returned
/// <see cref="IoCompletion"/> send the reply (a read's data is in the slot buffer) and
/// <see cref="ReleaseSlot"/>. Completions flow one way: the engine hands them out as data and never
/// calls the daemon.</item>
/// <item>At the end of the turn: <see cref="SubmitPending"/> (everything that may go, in one syscall),
/// then <see cref="Reap"/> again when <see cref="HasCompletions"/> (requests the kernel finished
/// inside the submit), then arm the timerfd to <see cref="NextDeadlineNanos"/> (CLOCK_MONOTONIC,
/// absolute) unless it is <see cref="long.MaxValue"/>; when it fires, call SubmitPending again.</item>
/// </list>
///
/// Tokens: the kernel's user data (iocb.aio_data, sqe.user_data) = (generation &lt;&lt; 32) | op index.
/// The generation of an op index changes every time it is reused, so a completion for an op we no
/// longer track is counted and ignored.
/// </summary>
public abstract unsafe class StorageEngine : IDisposable
{
    private ulong _deviceSectors;
    private readonly long _baseOffset;
    private readonly IoOp[] _ops;
    private readonly int[] _freeOps;
    private int _freeOpCount;
    private readonly IoRequest[] _active;
    private readonly IoCompletion[] _done;
    private int _doneCount;
    private bool _doneReturned;
    private long _nextSequence;
    private int _writesOutstanding;
    private ImmediateReadMode _immediate;

    private protected readonly int Fd;
    private protected readonly SlotTable Slots;
    private protected readonly SubmitGate Gate;
    private protected readonly bool EdgeTriggered;
    /// <summary>
    /// Writes carry RWF_DSYNC: their completion means the data is durable (the device's write cache is
    /// off). Read when an op is prepared, so a change (SET FEATURES from an initiator) applies to the
    /// writes submitted after it.
    /// </summary>
    public bool WriteThrough { get; set; }
    private protected readonly bool BufferedStore;

    /// <summary>
    /// Iovecs of the ops prepared by one SubmitPending (each slot is in at most one op, so the queue
    /// length is enough). Both kernels copy them when they take the op (AIO in io_submit; io_uring with
    /// IORING_FEAT_SUBMIT_STABLE when it consumes the SQE), so the arena is reused once they did.
    /// </summary>
    private protected iovec* Iovecs;
    private protected int IovecsUsed;

    /// <summary>Ops the kernel holds (or will take from the ring).</summary>
    private protected int InFlightOps;

    /// <summary>Buffers stay allocated at Dispose when the kernel may still use them (fail-stop).</summary>
    private protected bool LeakBuffersOnDispose;

    public StorageCounters Counters;

    /// <param name="fd">The backing store's descriptor (not owned).</param>
    /// <param name="deviceSectors">Size in 512-byte sectors; requests beyond it are a caller bug.</param>
    /// <param name="logicalBlockSize">O_DIRECT alignment of the store; buffers are aligned to max(4096, it).</param>
    private protected StorageEngine(int fd, ulong deviceSectors, int logicalBlockSize, EngineOptions options)
    {
        if (options.QueueLength < 1 || options.QueueLength > RequestMerger.MaxCapacity)
            throw new ArgumentOutOfRangeException(nameof(options), options.QueueLength, "queue-length must be 1.." + RequestMerger.MaxCapacity);
        if (options.SlotBytes < Sector.Size)
            throw new ArgumentOutOfRangeException(nameof(options), options.SlotBytes, "slot size must hold one sector");
        if (logicalBlockSize < Sector.Size || (logicalBlockSize & (logicalBlockSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(logicalBlockSize), logicalBlockSize, "must be a power of two >= 512");

        int n = options.QueueLength;
        Fd = fd;
        _deviceSectors = deviceSectors;
        _baseOffset = options.BaseOffsetBytes;
        EdgeTriggered = options.EdgeTriggeredEventFd;
        WriteThrough = options.WriteThrough;
        BufferedStore = options.BufferedStore;
        _immediate = options.ImmediateReads;
        Gate = new SubmitGate(n, options.MergeDelayNanos, options.MaxDelayNanos, options.Limits);
        _ops = new IoOp[n];
        _freeOps = new int[n];
        for (int i = 0; i < n; i++)
            _freeOps[i] = n - 1 - i;
        _freeOpCount = n;
        _active = new IoRequest[n];
        _done = new IoCompletion[n];
        Slots = new SlotTable(n, options.SlotBytes, Math.Max(4096, logicalBlockSize));
        Iovecs = (iovec*)NativeMemory.AllocZeroed((nuint)n, (nuint)sizeof(iovec));
    }

    public abstract EngineKind Kind { get; }

    /// <summary>Readable when completions are waiting: add it to epoll (EPOLLIN) and call <see cref="Reap"/>.</summary>
    public abstract int EventFd { get; }

    public int QueueLength => Slots.Length;

    /// <summary>Capacity of each slot buffer in bytes.</summary>
    public int SlotBytes => Slots.SlotBytes;

    /// <summary>Every slot buffer starts on a multiple of this (max(4096, logical block size)).</summary>
    public int BufferAlignment => Slots.Alignment;

    /// <summary>Requests enqueued or in the kernel (the device's current queue depth).</summary>
    public int QueueDepth => Slots.QueuedCount + Slots.InFlightCount;

    public int QueuedCount => Slots.QueuedCount;

    public int InFlightCount => Slots.InFlightCount;

    public int FreeSlotCount => Slots.FreeCount;

    /// <summary>Why submissions stopped; <see cref="GateState.Open"/> when they flow.</summary>
    public GateState GateState => Gate.State;

    /// <summary>Set once the engine failed for good (fail-stop): why. Every request since is answered with -EIO.</summary>
    public string? FailureReason { get; private set; }

    /// <summary>Takes a free slot, or returns false when queue-length requests are held already.</summary>
    public bool TryAcquireSlot(out int slot) => Slots.TryAcquire(out slot);

    /// <summary>The slot's buffer (<see cref="SlotBytes"/> long, aligned to <see cref="BufferAlignment"/>).</summary>
    public Span<byte> SlotBuffer(int slot) => new(Slots.Pointer(slot), Slots.SlotBytes);

    public byte* SlotPointer(int slot) => Slots.Pointer(slot);

    /// <summary>
    /// Queues an acquired slot. For writes the data must already be in the slot buffer; the request
    /// covers the first sectors × 512 bytes. The daemon checks the LBA range (ATA IDNF) before this.
    /// </summary>
    public void Enqueue(int slot, IoKind kind, ulong lba, int sectors) => Enqueue(slot, kind, lba, sectors, null);

    /// <summary>
    /// Queues an acquired slot whose data lives in <paramref name="buffer"/> instead of the slot buffer
    /// (null: the slot buffer), e.g. a read straight into a TX ring frame's payload. The caller keeps
    /// that memory valid and untouched until the completion is delivered. With O_DIRECT it must be
    /// aligned to the store's logical block size (the kernel fails the request with EINVAL otherwise);
    /// buffered stores take any alignment. Its length is sectors × 512 (not limited by SlotBytes).
    /// </summary>
    public void Enqueue(int slot, IoKind kind, ulong lba, int sectors, byte* buffer)
    {
        if (Slots.StateOf(slot) != SlotState.Acquired)
            SlotTable.ThrowBadSlot(slot);
        if (kind == IoKind.Flush)
        {
            lba = 0;
            sectors = 0;
        }
        else if (!IsOnDevice(lba, sectors) || (buffer == null && (long)sectors * Sector.Size > Slots.SlotBytes))
        {
            ThrowBadRequest(lba, sectors);
        }

        long now = Gate.TimesArrivals ? Now() : 0;
        bool first = Slots.QueuedCount == 0;
        Slots.Queue(slot, kind, lba, sectors, buffer, _nextSequence++, now);
        if (kind != IoKind.Read)
            _writesOutstanding++;
        Gate.OnArrival(now, first);
        if (Gate.State == GateState.Stopped)
        {
            FinishSlot(slot, -(int)Errno.EIO);
            SignalEventFd();
        }
    }

    /// <summary>The slot's request is queued or in the kernel: its completion is still to come.</summary>
    public bool IsPending(int slot) => Slots.StateOf(slot) is SlotState.Queued or SlotState.InFlight;

    /// <summary>
    /// True when <see cref="TryReadNow"/> may serve reads: <see cref="EngineOptions.ImmediateReads"/>
    /// allows it and no write or flush is queued or in flight.
    /// </summary>
    public bool CanReadNow => _immediate != ImmediateReadMode.None && _writesOutstanding == 0 && Gate.State != GateState.Stopped;

    /// <summary>
    /// Serves a read at once into <paramref name="destination"/> (sectors × 512 bytes), bypassing the
    /// queue, only when <see cref="CanReadNow"/>, and never waiting for a disk: a buffered store is read
    /// with RWF_NOWAIT (pages not cached: false, and the caller queues the read, which waits in the
    /// kernel, not here), a memory file system with a plain pread. Waiting for no write or flush keeps
    /// the order an initiator can rely on: a read issued after a write was answered sees that write,
    /// and a read never overtakes a write still queued here. Returns false, touching no counters but
    /// <see cref="StorageCounters.ImmediateReadMisses"/> or <see cref="StorageCounters.ImmediateReadFallbacks"/>,
    /// when the data was not cached, or the read failed or came back short (an I/O error, a store
    /// truncated under us): the caller then queues it, and its completion reports any error the usual way.
    /// </summary>
    public bool TryReadNow(ulong lba, int sectors, Span<byte> destination)
    {
        if (!CanReadNow)
            return false;
        if (!IsOnDevice(lba, sectors))
            ThrowBadRequest(lba, sectors);
        int length = sectors * Sector.Size;
        if (destination.Length < length)
            ThrowBadRequest(lba, sectors);
        bool noWait = _immediate == ImmediateReadMode.NoWait;
        int r;
        fixed (byte* p = destination)
            r = ReadNow(p, length, _baseOffset + (long)(lba * Sector.Size), noWait);
        if (r == length)
        {
            Counters.ImmediateReads++;
            CountSuccess(IoKind.Read, sectors);
            return true;
        }
        if (noWait && (r == -(int)Errno.EAGAIN || (r > 0 && r < length)))
        {
            // Not (all) cached: the queue waits for the disk instead of the reactor.
            Counters.ImmediateReadMisses++;
            return false;
        }
        if (noWait && r == -(int)Errno.EOPNOTSUPP)
            _immediate = ImmediateReadMode.None; // a file system that cannot tell: never ask again
        Counters.ImmediateReadFallbacks++;
        return false;
    }

    /// <summary>
    /// Gives a slot back: after its completion was delivered (and the reply sent), or an acquired slot
    /// that was never enqueued.
    /// </summary>
    public void ReleaseSlot(int slot) => Slots.Release(slot);

    /// <summary>True when SubmitPending has work: queued requests, or prepared ops the kernel has not taken yet.</summary>
    public bool HasQueued => Slots.QueuedCount > 0 || KernelBacklog > 0;

    /// <summary>True when finished requests wait for <see cref="Reap"/> (e.g. ones the kernel did inside SubmitPending).</summary>
    public bool HasCompletions => !_doneReturned && _doneCount > 0;

    /// <summary>
    /// When SubmitPending must run again although no fd became readable (CLOCK_MONOTONIC ns):
    /// the merge-delay / max-delay deadline, or a retry after the kernel refused work;
    /// <see cref="long.MinValue"/> = due now; <see cref="long.MaxValue"/> = no deadline (nothing
    /// queued, or waiting for a completion, which the eventfd reports). See <see cref="SubmitGate"/>.
    /// </summary>
    public long NextDeadlineNanos
    {
        get
        {
            if (KernelBacklog > 0)
            {
                return Gate.State switch
                {
                    GateState.Open or GateState.AllDeferred => long.MinValue,
                    GateState.RetryLater => Gate.RetryAt,
                    _ => long.MaxValue,
                };
            }
            return Gate.NextDeadline(Slots.QueuedCount, Slots.FreeCount);
        }
    }

    /// <summary>
    /// Hands everything that may go now to the kernel in one syscall (merged where adjacent). Returns
    /// the number of requests submitted. Requests refused by the kernel with an error complete with
    /// -errno (delivered by the next <see cref="Reap"/>; the eventfd is signalled).
    /// </summary>
    public abstract int SubmitPending();

    /// <summary>
    /// Collects finished requests: everything the kernel completed since the last call, plus requests
    /// that failed without reaching it. A merged op is split back into its requests: on a full transfer
    /// all succeed; on a short one the requests fully covered succeed and the rest get -ENODATA (a read:
    /// the end of the store) or -EIO (a write); on an error
    /// all get -errno. The span is valid until the next Reap or SubmitPending; its slots stay owned by
    /// the caller until <see cref="ReleaseSlot"/>.
    /// </summary>
    public ReadOnlySpan<IoCompletion> Reap()
    {
        BeginHarvest();
        ReapKernel();
        _doneReturned = true;
        return new ReadOnlySpan<IoCompletion>(_done, 0, _doneCount);
    }

    public abstract void Dispose();

    // ---- for the kernel-specific subclasses ----------------------------------------------------------

    /// <summary>Ops prepared for the kernel that it has not taken yet (io_uring: SQEs after EAGAIN, resubmissions).</summary>
    private protected virtual int KernelBacklog => 0;

    private protected abstract void ReapKernel();

    private protected abstract long Now();

    /// <summary>The immediate read syscall: preadv2(RWF_NOWAIT) or pread.</summary>
    private protected abstract int ReadNow(byte* buffer, int length, long offset, bool noWait);

    private protected abstract void SignalEventFd();

    /// <summary>Called once by <see cref="FailStop"/> after the gate closed, before requests are failed.</summary>
    private protected virtual void OnFailStop()
    {
    }

    private protected ref IoOp Op(int o) => ref _ops[o];

    private protected ulong Token(int o) => ((ulong)_ops[o].Generation << 32) | (uint)o;

    /// <summary>Finds the in-flight op a completion token names; false (and counted) for a stale or foreign one.</summary>
    private protected bool TryResolve(ulong token, out int o)
    {
        o = (int)(uint)token;
        uint generation = (uint)(token >> 32);
        if ((uint)o >= (uint)_ops.Length || !_ops[o].InFlight || _ops[o].Generation != generation)
        {
            Counters.StaleCompletions++;
            return false;
        }
        return true;
    }

    /// <summary>
    /// Plans the queued requests if the gate allows: false when it does not; else true with the number
    /// of ops in <see cref="SubmitGate.Merger"/> (0 when every queued request was deferred). Call
    /// <see cref="AfterPlan"/> once the ops went to the kernel.
    /// </summary>
    private protected bool TryPlan(out int opCount)
    {
        long now = Gate.NeedsClock ? Now() : 0;
        if (!Gate.MayPlan(now, Slots.QueuedCount, Slots.FreeCount))
        {
            opCount = 0;
            return false;
        }
        int n = Slots.CollectActive(_active);
        opCount = Gate.Merger.Plan(new ReadOnlySpan<IoRequest>(_active, 0, n));
        return true;
    }

    /// <summary>After a SubmitPending: requests still queued without a kernel refusal were deferred by the planner.</summary>
    private protected void AfterPlan()
        => Gate.AfterPlan(Slots.QueuedCount, Gate.TimesArrivals && Slots.QueuedCount > 0 ? Slots.OldestQueuedArrival() : long.MaxValue);

    /// <summary>Takes an op index for a planned op and chains its slots (LBA order); the slots stay queued.</summary>
    private protected int StartOp(in PlannedOp planned, ReadOnlySpan<int> slots)
    {
        int o = _freeOps[--_freeOpCount];
        ref IoOp op = ref _ops[o];
        op.Generation++;
        op.InFlight = false;
        op.Kind = planned.Kind;
        op.FirstSlot = slots[0];
        op.SlotCount = slots.Length;
        op.Offset = _baseOffset + planned.Offset;
        op.Bytes = planned.Bytes;
        op.Done = 0;
        op.Attempts = 0;
        for (int j = 0; j < slots.Length; j++)
            Slots[slots[j]].NextInOp = j + 1 < slots.Length ? slots[j + 1] : -1;
        return o;
    }

    /// <summary>The kernel took (or owns, in its ring) the op: its slots are in flight.</summary>
    private protected int MarkOpInFlight(int o)
    {
        ref IoOp op = ref _ops[o];
        op.InFlight = true;
        InFlightOps++;
        if (op.SlotCount > 1)
            Counters.MergedRequests += op.SlotCount;
        for (int s = op.FirstSlot; s >= 0; s = Slots[s].NextInOp)
            Slots.MarkInFlight(s);
        return op.SlotCount;
    }

    /// <summary>An op the kernel did not take: its slots stay queued and are planned again.</summary>
    private protected void ReturnOp(int o) => _freeOps[_freeOpCount++] = o;

    /// <summary>
    /// Finishes an op: requests wholly inside the first <paramref name="covered"/> bytes succeed, the
    /// others get <paramref name="error"/> (negative); a flush gets <paramref name="error"/> (0 = success).
    /// </summary>
    private protected void FinishOp(int o, long covered, int error)
    {
        ref IoOp op = ref _ops[o];
        if (op.InFlight)
        {
            op.InFlight = false;
            InFlightOps--;
        }
        _freeOps[_freeOpCount++] = o;
        long offset = 0;
        for (int s = op.FirstSlot; s >= 0;)
        {
            int next = Slots[s].NextInOp;
            int result;
            if (op.Kind == IoKind.Flush)
            {
                result = error;
            }
            else
            {
                int bytes = Slots[s].Bytes;
                offset += bytes;
                result = offset <= covered ? bytes : error;
            }
            FinishSlot(s, result);
            s = next;
        }
        Gate.OnCompletion();
    }

    /// <summary>Delivers one request's result with the next Reap.</summary>
    private protected void FinishSlot(int slot, int result)
    {
        IoKind kind = Slots[slot].Kind;
        Slots.MarkCompleted(slot);
        if (kind != IoKind.Read)
            _writesOutstanding--;
        if (result < 0)
            Counters.Errors++;
        else
            CountSuccess(kind, Slots[slot].Sectors);
        BeginHarvest();
        _done[_doneCount++] = new IoCompletion(slot, result);
    }

    /// <summary>
    /// Stops the engine for good: nothing goes to the kernel again, every queued and in-flight request
    /// is answered with -EIO now (a late kernel completion for one of them is stale and ignored), and so
    /// is every request enqueued later. The buffers are never freed (the kernel may still use them).
    /// </summary>
    private protected void FailStop(string reason)
    {
        if (Gate.State == GateState.Stopped)
            return;
        Gate.Stop();
        FailureReason = reason;
        LeakBuffersOnDispose = InFlightOps > 0;
        OnFailStop();
        for (int o = 0; o < _ops.Length; o++)
            if (_ops[o].InFlight)
                FinishOp(o, 0, -(int)Errno.EIO);
        for (int s = 0; s < Slots.Length; s++)
            if (Slots[s].State == SlotState.Queued)
                FinishSlot(s, -(int)Errno.EIO);
        SignalEventFd();
    }

    /// <summary>Frees what the base owns (call last from Dispose, after the kernel let go of every buffer).</summary>
    private protected void FreeBase()
    {
        if (!LeakBuffersOnDispose)
            Slots.Dispose();
        NativeMemory.Free(Iovecs);
        Iovecs = null;
    }

    private void BeginHarvest()
    {
        if (_doneReturned)
        {
            _doneCount = 0;
            _doneReturned = false;
        }
    }

    private void CountSuccess(IoKind kind, int sectors)
    {
        switch (kind)
        {
            case IoKind.Read:
                Counters.ReadRequests++;
                Counters.ReadSectors += sectors;
                break;
            case IoKind.Write:
                Counters.WriteRequests++;
                Counters.WriteSectors += sectors;
                break;
            default:
                Counters.Flushes++;
                break;
        }
    }

    /// <summary>At least one sector, all of them inside the device.</summary>
    private bool IsOnDevice(ulong lba, int sectors)
        => sectors >= 1 && lba <= _deviceSectors && (ulong)sectors <= _deviceSectors - lba;

    /// <summary>
    /// The exported size in sectors, which the bounds check uses. It follows the store when the daemon
    /// re-reads its size (a grown or shrunk file or disk); requests already queued keep going (the
    /// protocol engine checked them against the size they arrived under).
    /// </summary>
    public ulong DeviceSectors
    {
        get => _deviceSectors;
        set => _deviceSectors = value;
    }

    /// <summary>
    /// The result of the requests a short transfer left uncovered. A read comes back short only at the
    /// end of the file or disk: the store shrank after the protocol engine checked the request against
    /// its size, and those sectors no longer exist. -ENODATA, which the daemon answers with ATA IDNF,
    /// as it answers a request past the end caught before any I/O (AoeEngine.MapIoError); an
    /// unreadable sector is -EIO and UNC. A short write is -EIO.
    /// </summary>
    private protected static int ShortTransferError(IoKind kind)
        => kind == IoKind.Read ? -(int)Errno.ENODATA : -(int)Errno.EIO;

    [DoesNotReturn]
    private protected static void ThrowErrno(string call, int negativeErrno)
        => throw new StorageException(call + " failed: " + ErrnoText.Describe(-negativeErrno), -negativeErrno);

    [DoesNotReturn]
    private static void ThrowBadRequest(ulong lba, int sectors)
        => throw new ArgumentOutOfRangeException(nameof(sectors), "request lba " + lba + " sectors " + sectors + " is outside the device or the slot buffer");
}

/// <summary>One kernel op (an iocb or SQE): a run of adjacent requests, or a flush.</summary>
internal struct IoOp
{
    public uint Generation;
    public bool InFlight;
    public IoKind Kind;
    public int FirstSlot;
    public int SlotCount;

    /// <summary>Byte offset in the store, and total bytes (0 for a flush).</summary>
    public long Offset;
    public long Bytes;

    /// <summary>Bytes already transferred (io_uring resubmits the rest of a short transfer).</summary>
    public long Done;

    /// <summary>Resubmissions after -EAGAIN / -EINTR results without progress (bounded).</summary>
    public int Attempts;
}

/// <summary>
/// What both engines do the same way through their kernel seam: the eventfd the reactor watches, the
/// clock, and the syscalls behind <see cref="StorageEngine.TryReadNow"/>.
/// </summary>
public abstract unsafe class StorageEngine<TKernel> : StorageEngine where TKernel : struct, IStorageKernel
{
    private protected TKernel Kernel;
    private int _eventFd;

    private protected StorageEngine(TKernel kernel, int fd, ulong deviceSectors, int logicalBlockSize, EngineOptions options)
        : base(fd, deviceSectors, logicalBlockSize, options)
    {
        Kernel = kernel;
        _eventFd = Kernel.CreateEventFd();
        if (_eventFd < 0)
        {
            int error = _eventFd;
            FreeShared();
            ThrowErrno("eventfd", error);
        }
    }

    public sealed override int EventFd => _eventFd;

    /// <summary>Resets the eventfd's counter, which only a level-triggered registration needs (see <see cref="EngineOptions.EdgeTriggeredEventFd"/>).</summary>
    private protected void ReadEventFdIfLevelTriggered()
    {
        if (!EdgeTriggered)
            Kernel.ReadEventFd(_eventFd);
    }

    private protected sealed override long Now() => Kernel.NowNanos();

    private protected sealed override int ReadNow(byte* buffer, int length, long offset, bool noWait)
        => noWait ? Kernel.ReadNoWait(Fd, buffer, length, offset) : Kernel.Read(Fd, buffer, length, offset);

    private protected sealed override void SignalEventFd() => Kernel.SignalEventFd(_eventFd);

    /// <summary>Closes the eventfd and frees what the base owns: the last step of Dispose, or of a constructor that failed.</summary>
    private protected void FreeShared()
    {
        if (_eventFd >= 0)
        {
            Kernel.Close(_eventFd);
            _eventFd = -1;
        }
        FreeBase();
    }
}
