using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>Receives finished requests from <see cref="AioEngine{TKernel}.ReapCompletions{THandler}"/>.</summary>
public interface ICompletionHandler
{
    /// <summary>
    /// <paramref name="result"/> is the request's byte count on success (0 for a flush) or -errno
    /// (a short transfer is reported as -EIO). For a read the data is in the slot buffer. The slot stays
    /// owned by the caller until <see cref="AioEngine{TKernel}.ReleaseSlot"/>, which may be called from
    /// here. Do not call SubmitPending or Reap from here.
    /// </summary>
    void OnCompleted(int slot, int result);
}

/// <summary>Construction parameters of one device's engine.</summary>
public readonly struct AioEngineOptions
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
    /// Set when the reactor registers <see cref="AioEngine{TKernel}.EventFd"/> with EPOLLIN | EPOLLET:
    /// every completion then raises a new edge (each eventfd write wakes epoll), so reaping need not
    /// read the eventfd and saves that syscall per reap. Leave false for level-triggered registration,
    /// where the counter must be read to stop epoll from reporting it again.
    /// </summary>
    public bool EdgeTriggeredEventFd { get; init; }

    /// <summary>
    /// Allow <see cref="AioEngine{TKernel}.TryReadNow"/>: set only for stores whose reads the kernel
    /// does synchronously anyway: buffered stores (no O_DIRECT) and files on memory file systems.
    /// Linux AIO is asynchronous for O_DIRECT alone: a buffered read runs to the end inside io_submit
    /// (fs/aio.c aio_read calls the file's read_iter synchronously, waiting for the page cache), so a
    /// plain pread blocks the reactor no longer than the AIO path already does, and saves the iocb,
    /// the completion and, for the daemon, a copy (it reads straight into the TX frame).
    /// </summary>
    public bool ImmediateReads { get; init; }
}

/// <summary>
/// Kernel AIO for ONE device, driven by the single-threaded reactor. Owns an io context sized to the
/// queue length, an eventfd that becomes readable when iocbs complete (IOCB_FLAG_RESFD), one aligned
/// native buffer per queue slot, and preallocated iocb/iovec/io_event arrays. Nothing allocates after
/// construction.
///
/// Reactor contract, per loop turn:
/// <list type="number">
/// <item>For each request frame: <see cref="TryAcquireSlot"/> (false: queue full, drop and count the
/// frame, the initiator retransmits); for writes copy the payload into <see cref="SlotBuffer"/>;
/// <see cref="Enqueue"/>.</item>
/// <item>When <see cref="EventFd"/> is readable (register it for EPOLLIN; with EPOLLET set
/// <see cref="AioEngineOptions.EdgeTriggeredEventFd"/> to save a read per reap):
/// <see cref="ReapCompletions{THandler}"/>; the handler sends the reply (for reads from the slot
/// buffer) and calls <see cref="ReleaseSlot"/>.</item>
/// <item>At the end of the turn, after reaping: <see cref="SubmitPending"/> (one io_submit for
/// everything that may go), then arm the timerfd to <see cref="NextDeadlineNanos"/> (CLOCK_MONOTONIC,
/// absolute) unless it is <see cref="long.MaxValue"/>; when it fires, call SubmitPending again.</item>
/// </list>
///
/// Tokens: iocb.aio_data = (generation &lt;&lt; 32) | op index. The generation of an op index changes
/// every time it is reused, so a completion for an iocb we no longer track is counted and ignored.
/// </summary>
public sealed unsafe class AioEngine<TKernel> : IDisposable where TKernel : struct, IAioKernel
{
    private const byte SlotFree = 0;
    private const byte SlotAcquired = 1;   // handed to the daemon, buffer being filled
    private const byte SlotQueued = 2;     // enqueued, not yet in the kernel
    private const byte SlotInFlight = 3;   // in a submitted iocb
    private const byte SlotCompleted = 4;  // result delivered (or about to be), waiting for ReleaseSlot
    private const byte SlotLocalDone = 5;  // finished without the kernel; delivered on the next reap

    /// <summary>After EAGAIN with nothing in flight no completion will wake us: retry after 1 ms.</summary>
    private const long EagainRetryNanos = 1_000_000;

    private TKernel _kernel;
    private readonly int _fd;
    private readonly ulong _deviceSectors;
    private readonly int _queueLength;
    private readonly int _slotBytes;
    private readonly nuint _slotStride;
    private readonly long _mergeDelay;
    private readonly long _maxDelay;
    private readonly RequestMerger _merger;
    private ulong _context;
    private int _eventFd;
    private bool _disposed;

    // Native memory: the kernel reads iocbs and iovecs during io_submit (fs/aio.c copies the iocb and
    // imports the iovec array before returning) and writes slot buffers until the iocb completes.
    private byte* _buffers;
    private iocb* _iocbs;        // indexed by op index
    private iocb** _iocbPtrs;    // one submit batch
    private iovec* _iovecs;      // one submit batch (each slot is in at most one iocb)
    private io_event* _events;

    // Per slot.
    private readonly byte[] _state;
    private readonly IoKind[] _kind;
    private readonly ulong[] _lba;
    private readonly int[] _sectors;
    private readonly long[] _sequence;
    private readonly long[] _arrival;
    private readonly int[] _nextInOp;
    private readonly nint[] _external; // caller-owned buffer of a queued request, 0 = the slot buffer
    private readonly int[] _freeSlots;
    private int _freeSlotCount;

    // Per op index (an iocb in flight).
    private readonly uint[] _opGeneration;
    private readonly int[] _opFirstSlot;
    private readonly int[] _opSlotCount;
    private readonly IoKind[] _opKind;
    private readonly bool[] _opInFlight;
    private readonly int[] _freeOps;
    private int _freeOpCount;
    private readonly int[] _batchOps;

    // Completions produced without the kernel (refused submits, synchronous flush fallback).
    private readonly int[] _localSlot;
    private readonly int[] _localResult;
    private int _localHead;
    private int _localCount;

    private readonly IoRequest[] _active;
    private long _nextSequence;
    private int _queuedCount;
    private int _inFlightSlots;
    private int _inFlightOps;
    private long _lastArrival;
    private long _oldestArrival;
    private bool _blockedByKernel;     // EAGAIN / partial submit: wait for a completion
    private long _retryAt = long.MaxValue;
    private bool _blockedByConflicts;  // everything queued is deferred: wait for a completion or arrival
    private bool _fdsyncRefused;
    private readonly bool _edgeTriggered;
    private readonly bool _immediateReads;
    private int _writesOutstanding;    // writes and flushes queued or in flight (immediate reads wait for none)

    public StorageCounters Counters;

    /// <param name="fd">The backing store's descriptor (not owned).</param>
    /// <param name="deviceSectors">Size in 512-byte sectors; requests beyond it are a caller bug.</param>
    /// <param name="logicalBlockSize">O_DIRECT alignment of the store; buffers are aligned to max(4096, it).</param>
    public AioEngine(TKernel kernel, int fd, ulong deviceSectors, int logicalBlockSize, AioEngineOptions options)
    {
        if (options.QueueLength < 1 || options.QueueLength > RequestMerger.MaxCapacity)
            throw new ArgumentOutOfRangeException(nameof(options), options.QueueLength, "queue-length must be 1.." + RequestMerger.MaxCapacity);
        if (options.SlotBytes < RequestMerger.SectorSize)
            throw new ArgumentOutOfRangeException(nameof(options), options.SlotBytes, "slot size must hold one sector");
        if (logicalBlockSize < 512 || (logicalBlockSize & (logicalBlockSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(logicalBlockSize), logicalBlockSize, "must be a power of two >= 512");

        _kernel = kernel;
        _fd = fd;
        _deviceSectors = deviceSectors;
        _queueLength = options.QueueLength;
        _slotBytes = options.SlotBytes;
        _mergeDelay = Math.Max(0, options.MergeDelayNanos);
        _maxDelay = Math.Max(_mergeDelay, options.MaxDelayNanos);
        _merger = new RequestMerger(_queueLength, options.Limits);
        _edgeTriggered = options.EdgeTriggeredEventFd;
        _immediateReads = options.ImmediateReads;

        // Page alignment (not just the 512-byte O_DIRECT minimum) keeps a slot from sharing a page with
        // its neighbour, so direct I/O never pins a page another request is using.
        BufferAlignment = Math.Max(4096, logicalBlockSize);
        _slotStride = (nuint)((_slotBytes + BufferAlignment - 1) / BufferAlignment * BufferAlignment);

        int n = _queueLength;
        _state = new byte[n];
        _kind = new IoKind[n];
        _lba = new ulong[n];
        _sectors = new int[n];
        _sequence = new long[n];
        _arrival = new long[n];
        _nextInOp = new int[n];
        _external = new nint[n];
        _freeSlots = new int[n];
        _opGeneration = new uint[n];
        _opFirstSlot = new int[n];
        _opSlotCount = new int[n];
        _opKind = new IoKind[n];
        _opInFlight = new bool[n];
        _freeOps = new int[n];
        _batchOps = new int[n];
        _localSlot = new int[n];
        _localResult = new int[n];
        _active = new IoRequest[n];
        for (int i = 0; i < n; i++)
        {
            _freeSlots[i] = n - 1 - i; // pop order 0, 1, 2...
            _freeOps[i] = n - 1 - i;
        }
        _freeSlotCount = n;
        _freeOpCount = n;

        _eventFd = -1;
        try
        {
            _buffers = (byte*)NativeMemory.AlignedAlloc(_slotStride * (nuint)n, (nuint)BufferAlignment);
            NativeMemory.Clear(_buffers, _slotStride * (nuint)n);
            _iocbs = (iocb*)NativeMemory.AllocZeroed((nuint)n, (nuint)sizeof(iocb));
            _iocbPtrs = (iocb**)NativeMemory.AllocZeroed((nuint)n, (nuint)sizeof(iocb*));
            _iovecs = (iovec*)NativeMemory.AllocZeroed((nuint)n, (nuint)sizeof(iovec));
            _events = (io_event*)NativeMemory.AllocZeroed((nuint)n, (nuint)sizeof(io_event));

            int efd = _kernel.CreateEventFd();
            if (efd < 0)
                ThrowErrno("eventfd", efd);
            _eventFd = efd;
            // nr_events = queue length: every iocb carries at least one slot, so at most that many are
            // in flight. The kernel rounds up; the sum over all devices counts against fs.aio-max-nr
            // (65536 by default), io_setup fails with EAGAIN beyond it.
            int r = _kernel.Setup((uint)n, out _context);
            if (r < 0)
                ThrowErrno("io_setup", r);
        }
        catch
        {
            FreeNative();
            throw;
        }
    }

    /// <summary>Readable when completions are waiting: add it to epoll (EPOLLIN) and call <see cref="ReapCompletions{THandler}"/>.</summary>
    public int EventFd => _eventFd;

    public int QueueLength => _queueLength;

    /// <summary>Capacity of each slot buffer in bytes.</summary>
    public int SlotBytes => _slotBytes;

    /// <summary>Every slot buffer starts on a multiple of this (max(4096, logical block size)).</summary>
    public int BufferAlignment { get; }

    /// <summary>Requests enqueued or in the kernel (the device's current queue depth).</summary>
    public int QueueDepth => _queuedCount + _inFlightSlots;

    public int QueuedCount => _queuedCount;

    public int InFlightCount => _inFlightSlots;

    public int FreeSlotCount => _freeSlotCount;

    /// <summary>True once the kernel refused IOCB_CMD_FDSYNC (EINVAL) and flushes run synchronously.</summary>
    public bool FlushIsSynchronous => _fdsyncRefused;

    /// <summary>Takes a free slot, or returns false when queue-length requests are held already.</summary>
    public bool TryAcquireSlot(out int slot)
    {
        if (_freeSlotCount == 0)
        {
            slot = -1;
            return false;
        }
        slot = _freeSlots[--_freeSlotCount];
        _state[slot] = SlotAcquired;
        return true;
    }

    /// <summary>The slot's buffer (<see cref="SlotBytes"/> long, aligned to <see cref="BufferAlignment"/>).</summary>
    public Span<byte> SlotBuffer(int slot) => new(SlotPointer(slot), _slotBytes);

    public byte* SlotPointer(int slot)
    {
        if ((uint)slot >= (uint)_queueLength)
            ThrowBadSlot(slot);
        return _buffers + (nuint)slot * _slotStride;
    }

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
        if ((uint)slot >= (uint)_queueLength || _state[slot] != SlotAcquired)
            ThrowBadSlot(slot);
        if (kind == IoKind.Flush)
        {
            lba = 0;
            sectors = 0;
        }
        else if (!IsOnDevice(lba, sectors) || (buffer == null && (long)sectors * RequestMerger.SectorSize > _slotBytes))
        {
            ThrowBadRequest(lba, sectors);
        }

        _state[slot] = SlotQueued;
        if (kind != IoKind.Read)
            _writesOutstanding++;
        _kind[slot] = kind;
        _lba[slot] = lba;
        _sectors[slot] = sectors;
        _external[slot] = (nint)buffer;
        _sequence[slot] = _nextSequence++;
        if (_mergeDelay > 0)
        {
            long now = _kernel.NowNanos();
            _arrival[slot] = now;
            _lastArrival = now;
            if (_queuedCount == 0)
                _oldestArrival = now;
        }
        _queuedCount++;
        _blockedByConflicts = false;
    }

    /// <summary>The slot's request is queued or in the kernel: its completion is still to come.</summary>
    public bool IsPending(int slot)
    {
        if ((uint)slot >= (uint)_queueLength)
            ThrowBadSlot(slot);
        return _state[slot] is SlotQueued or SlotInFlight;
    }

    /// <summary>True when <see cref="TryReadNow"/> may serve reads (<see cref="AioEngineOptions.ImmediateReads"/> and no write or flush outstanding).</summary>
    public bool CanReadNow => _immediateReads && _writesOutstanding == 0;

    /// <summary>
    /// Serves a read synchronously with pread into <paramref name="destination"/> (sectors × 512 bytes),
    /// bypassing the queue: only when <see cref="CanReadNow"/>. Waiting for no write or flush keeps
    /// the order an initiator can rely on: a read issued after a write was answered sees that write,
    /// and a read never overtakes a write still queued here. Returns false, touching no counters but
    /// <see cref="StorageCounters.ImmediateReadFallbacks"/>, when the read failed or came back short
    /// (an I/O error, a store truncated under us): the caller then queues it through AIO, whose
    /// completion reports the error the usual way.
    /// </summary>
    public bool TryReadNow(ulong lba, int sectors, Span<byte> destination)
    {
        if (!CanReadNow)
            return false;
        if (!IsOnDevice(lba, sectors))
            ThrowBadRequest(lba, sectors);
        int length = sectors * RequestMerger.SectorSize;
        if (destination.Length < length)
            ThrowBadRequest(lba, sectors);
        int r;
        fixed (byte* p = destination)
            r = _kernel.Read(_fd, p, length, (long)(lba * RequestMerger.SectorSize));
        if (r != length)
        {
            Counters.ImmediateReadFallbacks++;
            return false;
        }
        Counters.ImmediateReads++;
        CountSuccess(IoKind.Read, sectors);
        return true;
    }

    /// <summary>At least one sector, all of them inside the device.</summary>
    private bool IsOnDevice(ulong lba, int sectors)
        => sectors >= 1 && lba <= _deviceSectors && (ulong)sectors <= _deviceSectors - lba;

    private byte* DataPointer(int slot) => _external[slot] != 0 ? (byte*)_external[slot] : SlotPointer(slot);

    /// <summary>
    /// Gives a slot back: after its completion was delivered (and the reply sent), or an acquired slot
    /// that was never enqueued.
    /// </summary>
    public void ReleaseSlot(int slot)
    {
        if ((uint)slot >= (uint)_queueLength || (_state[slot] != SlotCompleted && _state[slot] != SlotAcquired))
            ThrowBadSlot(slot);
        _state[slot] = SlotFree;
        _freeSlots[_freeSlotCount++] = slot;
    }

    /// <summary>
    /// When SubmitPending must run again although no fd became readable (CLOCK_MONOTONIC ns): the
    /// merge-delay / max-delay deadline, or an EAGAIN retry. <see cref="long.MaxValue"/>: no deadline
    /// (nothing queued, or waiting for a completion, which the eventfd reports).
    ///
    /// merge-delay semantics: with merge-delay 0 every SubmitPending submits. Otherwise queued requests
    /// are submitted when merge-delay has passed since the LAST arrival (the burst is over), or max-delay
    /// since the OLDEST queued arrival (no request waits longer than that for merging), or when no slot
    /// is free (nothing more can arrive to merge with).
    /// </summary>
    public long NextDeadlineNanos
    {
        get
        {
            if (_queuedCount == 0 || _blockedByConflicts)
                return long.MaxValue;
            if (_blockedByKernel)
                return _inFlightOps > 0 ? long.MaxValue : _retryAt;
            if (_mergeDelay == 0 || _freeSlotCount == 0)
                return long.MinValue; // due now
            return Math.Min(_lastArrival + _mergeDelay, _oldestArrival + _maxDelay);
        }
    }

    /// <summary>True when queued requests wait for SubmitPending (or for a completion to unblock them).</summary>
    public bool HasQueued => _queuedCount > 0;

    /// <summary>
    /// Plans merges over everything queued and hands all iocbs that may go now to the kernel in one
    /// io_submit. After a partial submit the rest is offered again at once; on EAGAIN it stays queued
    /// and is retried after the next completion (or after 1 ms when nothing is in flight). A submit
    /// refused with another error completes that iocb's requests with -errno (delivered by the next
    /// reap; the eventfd is signalled). Returns the number of requests submitted.
    /// </summary>
    public int SubmitPending()
    {
        if (_queuedCount == 0 || _blockedByConflicts)
            return 0;
        if (_blockedByKernel)
        {
            if (_inFlightOps > 0 || _kernel.NowNanos() < _retryAt)
                return 0;
            _blockedByKernel = false;
        }
        if (_mergeDelay > 0 && _freeSlotCount > 0)
        {
            long now = _kernel.NowNanos();
            if (now < _lastArrival + _mergeDelay && now < _oldestArrival + _maxDelay)
                return 0;
        }

        int n = 0;
        for (int s = 0; s < _queueLength; s++)
        {
            byte st = _state[s];
            if (st == SlotQueued || st == SlotInFlight)
                _active[n++] = new IoRequest(s, _kind[s], _lba[s], _sectors[s], _sequence[s], st == SlotInFlight);
        }
        int opCount = _merger.Plan(new ReadOnlySpan<IoRequest>(_active, 0, n));

        int batch = 0;
        int iov = 0;
        int localBefore = _localCount;
        ReadOnlySpan<PlannedOp> ops = _merger.Ops;
        for (int i = 0; i < opCount; i++)
        {
            PlannedOp op = ops[i];
            ReadOnlySpan<int> slots = _merger.SlotsOf(op);
            if (op.Kind == IoKind.Flush && _fdsyncRefused)
            {
                FlushSynchronously(slots[0]);
                continue;
            }

            int o = _freeOps[--_freeOpCount];
            uint generation = ++_opGeneration[o];
            _opKind[o] = op.Kind;
            _opFirstSlot[o] = slots[0];
            _opSlotCount[o] = slots.Length;
            for (int j = 0; j < slots.Length; j++)
                _nextInOp[slots[j]] = j + 1 < slots.Length ? slots[j + 1] : -1;

            iocb* cb = _iocbs + o;
            *cb = default;
            cb->aio_data = ((ulong)generation << 32) | (uint)o;
            cb->aio_fildes = (uint)_fd;
            cb->aio_flags = Aio.IOCB_FLAG_RESFD;
            cb->aio_resfd = (uint)_eventFd;
            cb->aio_offset = op.Offset;
            if (op.Kind == IoKind.Flush)
            {
                cb->aio_lio_opcode = Aio.IOCB_CMD_FDSYNC;
            }
            else if (slots.Length == 1)
            {
                cb->aio_lio_opcode = op.Kind == IoKind.Read ? Aio.IOCB_CMD_PREAD : Aio.IOCB_CMD_PWRITE;
                cb->aio_buf = (ulong)DataPointer(slots[0]);
                cb->aio_nbytes = (ulong)op.Bytes;
            }
            else
            {
                cb->aio_lio_opcode = op.Kind == IoKind.Read ? Aio.IOCB_CMD_PREADV : Aio.IOCB_CMD_PWRITEV;
                cb->aio_buf = (ulong)(_iovecs + iov);
                cb->aio_nbytes = (ulong)slots.Length;
                for (int j = 0; j < slots.Length; j++)
                {
                    _iovecs[iov].iov_base = DataPointer(slots[j]);
                    _iovecs[iov].iov_len = (nuint)(_sectors[slots[j]] * RequestMerger.SectorSize);
                    iov++;
                }
            }
            _iocbPtrs[batch] = cb;
            _batchOps[batch] = o;
            batch++;
        }

        int submitted = 0;
        int done = 0;
        while (done < batch)
        {
            Counters.SubmitCalls++;
            int r = _kernel.Submit(_context, batch - done, _iocbPtrs + done);
            if (r > 0)
            {
                for (int j = done; j < done + r; j++)
                    submitted += MarkInFlight(_batchOps[j]);
                // Partial: the kernel ran out of room or the next iocb is bad. The loop asks again at
                // once: EAGAIN then keeps the rest queued, a bad iocb fails alone with its errno.
                done += r;
            }
            else if (r == 0 || r == -(int)Errno.EAGAIN)
            {
                Counters.SubmitEagain++;
                _blockedByKernel = true;
                if (_inFlightOps == 0)
                    _retryAt = _kernel.NowNanos() + EagainRetryNanos;
                break;
            }
            else
            {
                int o = _batchOps[done++];
                if (_opKind[o] == IoKind.Flush && r == -(int)Errno.EINVAL)
                {
                    // Kernels before 4.18 (and file systems without fsync support in AIO) refuse
                    // IOCB_CMD_FDSYNC with EINVAL: from now on flushes call fdatasync synchronously.
                    // The reactor blocks for that call, acceptable because the Linux initiator never
                    // sends FLUSH (AOE-NOTES 0.8).
                    _fdsyncRefused = true;
                    int slot = _opFirstSlot[o];
                    FreeOp(o);
                    FlushSynchronously(slot);
                }
                else
                {
                    FailOp(o, r);
                }
            }
        }
        for (int j = done; j < batch; j++)
            FreeOp(_batchOps[j]); // still queued: planned again next time

        if (_localCount != localBefore)
            _kernel.SignalEventFd(_eventFd);
        if (_queuedCount > 0 && !_blockedByKernel)
            _blockedByConflicts = true; // all deferred: only a completion or an arrival changes that
        if (_queuedCount > 0 && _mergeDelay > 0)
            RecomputeOldestArrival();
        return submitted;
    }

    /// <summary>
    /// Reads the eventfd, collects finished iocbs (io_getevents, no wait, in batches) and calls the
    /// handler once per request in completion order. A merged iocb is split back into its requests: on
    /// a full transfer all succeed; on a short one the requests fully covered succeed and the rest get
    /// -EIO; on an error all get -errno. Returns the number of requests delivered.
    /// </summary>
    public int ReapCompletions<THandler>(ref THandler handler) where THandler : struct, ICompletionHandler
    {
        // Read first: completions after this read raise the counter again, so none is missed. With an
        // edge-triggered registration every later completion raises a new edge anyway.
        if (!_edgeTriggered)
            _kernel.ReadEventFd(_eventFd);
        int delivered = 0;
        while (_localCount > 0)
        {
            int slot = _localSlot[_localHead];
            int result = _localResult[_localHead];
            _localHead = (_localHead + 1) % _queueLength;
            _localCount--;
            _state[slot] = SlotCompleted;
            delivered++;
            handler.OnCompleted(slot, result);
        }

        while (_inFlightOps > 0)
        {
            int r = _kernel.GetEvents(_context, _queueLength, _events);
            if (r == -(int)Errno.EINTR)
                continue;
            if (r < 0)
                ThrowErrno("io_getevents", r);
            for (int e = 0; e < r; e++)
                delivered += Complete(_events[e], ref handler);
            if (r < _queueLength)
                break;
        }

        if (delivered > 0)
        {
            _blockedByKernel = false;
            _blockedByConflicts = false;
        }
        return delivered;
    }

    private int Complete<THandler>(in io_event ev, ref THandler handler) where THandler : struct, ICompletionHandler
    {
        uint o = (uint)ev.data;
        uint generation = (uint)(ev.data >> 32);
        if (o >= (uint)_queueLength || !_opInFlight[o] || _opGeneration[o] != generation)
        {
            Counters.StaleCompletions++;
            return 0;
        }

        IoKind kind = _opKind[o];
        int slot = _opFirstSlot[o];
        int count = _opSlotCount[o];
        _opInFlight[o] = false;
        _freeOps[_freeOpCount++] = (int)o;
        _inFlightOps--;

        long res = ev.res;
        long remaining = res;
        for (int j = 0; j < count; j++)
        {
            int next = _nextInOp[slot];
            int result;
            if (res < 0)
            {
                result = (int)res;
            }
            else if (kind == IoKind.Flush)
            {
                result = 0;
            }
            else
            {
                int bytes = _sectors[slot] * RequestMerger.SectorSize;
                if (remaining >= bytes)
                {
                    result = bytes;
                    remaining -= bytes;
                }
                else
                {
                    result = -(int)Errno.EIO;
                    remaining = 0;
                }
            }
            _inFlightSlots--;
            Finish(slot, result);
            handler.OnCompleted(slot, result);
            slot = next;
        }
        return count;
    }

    private void Finish(int slot, int result)
    {
        _state[slot] = SlotCompleted;
        if (_kind[slot] != IoKind.Read)
            _writesOutstanding--;
        if (result < 0)
            Counters.Errors++;
        else
            CountSuccess(_kind[slot], _sectors[slot]);
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

    private int MarkInFlight(int o)
    {
        _opInFlight[o] = true;
        _inFlightOps++;
        Counters.IocbsSubmitted++;
        int count = _opSlotCount[o];
        if (count > 1)
            Counters.MergedRequests += count;
        int slot = _opFirstSlot[o];
        for (int j = 0; j < count; j++)
        {
            _state[slot] = SlotInFlight;
            slot = _nextInOp[slot];
        }
        _queuedCount -= count;
        _inFlightSlots += count;
        return count;
    }

    private void FreeOp(int o) => _freeOps[_freeOpCount++] = o;

    private void FailOp(int o, int error)
    {
        int slot = _opFirstSlot[o];
        int count = _opSlotCount[o];
        FreeOp(o);
        for (int j = 0; j < count; j++)
        {
            int next = _nextInOp[slot];
            CompleteLocally(slot, error);
            slot = next;
        }
    }

    private void FlushSynchronously(int slot)
    {
        Counters.SyncFlushFallbacks++;
        CompleteLocally(slot, _kernel.FdataSync(_fd));
    }

    private void CompleteLocally(int slot, int result)
    {
        _queuedCount--;
        Finish(slot, result);
        _state[slot] = SlotLocalDone;
        int tail = (_localHead + _localCount) % _queueLength;
        _localSlot[tail] = slot;
        _localResult[tail] = result;
        _localCount++;
    }

    private void RecomputeOldestArrival()
    {
        long oldest = long.MaxValue;
        for (int s = 0; s < _queueLength; s++)
            if (_state[s] == SlotQueued && _arrival[s] < oldest)
                oldest = _arrival[s];
        _oldestArrival = oldest;
    }

    /// <summary>
    /// No finalizer on purpose: without io_destroy the kernel may still write into the buffers, so an
    /// engine that was never disposed leaks them rather than freeing memory under a running DMA.
    /// Destroys the io context (io_destroy waits for everything in flight, so no DMA can hit freed
    /// memory), then frees the buffers and closes the eventfd. The backing store fd is not closed.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_context != 0)
        {
            _kernel.Destroy(_context);
            _context = 0;
        }
        FreeNative();
    }

    private void FreeNative()
    {
        if (_eventFd >= 0)
        {
            _kernel.Close(_eventFd);
            _eventFd = -1;
        }
        NativeMemory.AlignedFree(_buffers);
        NativeMemory.Free(_iocbs);
        NativeMemory.Free(_iocbPtrs);
        NativeMemory.Free(_iovecs);
        NativeMemory.Free(_events);
        _buffers = null;
        _iocbs = null;
        _iocbPtrs = null;
        _iovecs = null;
        _events = null;
    }

    [DoesNotReturn]
    private static void ThrowErrno(string call, int negativeErrno)
        => throw new StorageException(call + " failed: " + StorageException.Describe(-negativeErrno), -negativeErrno);

    [DoesNotReturn]
    private static void ThrowBadSlot(int slot)
        => throw new InvalidOperationException("slot " + slot + " is not in the state this call needs (engine contract violated)");

    [DoesNotReturn]
    private static void ThrowBadRequest(ulong lba, int sectors)
        => throw new ArgumentOutOfRangeException(nameof(sectors), "request lba " + lba + " sectors " + sectors + " is outside the device or the slot buffer");
}
