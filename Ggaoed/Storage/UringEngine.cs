using System;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>
/// The storage engine on io_uring: asynchronous for buffered I/O as for O_DIRECT (a buffered read the
/// page cache cannot serve goes to the kernel's async path or its io-wq workers; the reactor never
/// waits for it). One ring per device, sized to the queue length (CQ twice that, so the ops in flight
/// always fit: the kernel never has to hold CQEs back), created and entered only on the reactor thread
/// (SINGLE_ISSUER). Completions wake the reactor through an eventfd registered with
/// IORING_REGISTER_EVENTFD; everything prepared in a loop turn goes to the kernel in one
/// io_uring_enter.
///
/// Ops: one slot = IORING_OP_READ/WRITE, several adjacent slots = READV/WRITEV (iovecs copied at
/// submit, IORING_FEAT_SUBMIT_STABLE), a flush = FSYNC with IORING_FSYNC_DATASYNC, submitted only once
/// every earlier request completed (the merger makes a flush a barrier: FSYNC is not ordered against
/// writes in flight). Results: a short transfer is resubmitted for the rest; a read that returns 0 hit
/// the end of the file and fails the requests it did not cover (-ENODATA; a write making no progress
/// -EIO), as a short AIO transfer does;
/// -EAGAIN/-EINTR results are resubmitted (bounded); any other error fails the op's requests.
/// -EBADR from the kernel (completions were lost) or an unexpected enter error stops the engine for
/// good (<see cref="StorageEngine.FailureReason"/>): every request is then answered with an error.
/// </summary>
public sealed unsafe class UringEngine<TKernel> : StorageEngine<TKernel> where TKernel : struct, IUringKernel
{
    /// <summary>Opcodes the engine submits; the kernel must support all of them (IORING_REGISTER_PROBE).</summary>
    public static ReadOnlySpan<byte> RequiredOpcodes =>
    [
        IoUring.IORING_OP_READ, IoUring.IORING_OP_WRITE, IoUring.IORING_OP_READV, IoUring.IORING_OP_WRITEV, IoUring.IORING_OP_FSYNC,
    ];

    /// <summary>An op whose result keeps being -EAGAIN or -EINTR fails after this many resubmissions.</summary>
    public const int MaxResubmits = 16;

    /// <summary>Enter calls in a row that may be interrupted (EINTR) or refused (EAGAIN after a reap freed nothing) before giving up for this turn.</summary>
    private const int MaxEnterRetries = 8;

    private const uint ReapFlags = IoUring.IORING_SQ_TASKRUN | IoUring.IORING_SQ_CQ_OVERFLOW;

    private UringRing _ring;
    private bool _disposed;
    private readonly int[] _resubmit;
    private int _resubmitCount;

    public UringEngine(TKernel kernel, int fd, ulong deviceSectors, int logicalBlockSize, EngineOptions options)
        : base(kernel, fd, deviceSectors, logicalBlockSize, options)
    {
        _ring.Fd = -1;
        _resubmit = new int[options.QueueLength];
        try
        {
            int r = UringRing.Create(ref Kernel, (uint)options.QueueLength, out _ring, out string step);
            if (r < 0)
                ThrowErrno(step, r);
            r = _ring.CheckOpcodes(ref Kernel, RequiredOpcodes, out int missing);
            if (r < 0)
                ThrowErrno(missing >= 0 ? "IORING_REGISTER_PROBE: opcode " + missing + " not supported" : "IORING_REGISTER_PROBE", r);
            int efd = EventFd;
            // A plain eventfd, not _ASYNC: that one signals only completions posted by io-wq workers and
            // misses reads completed from the disk's interrupt.
            r = Kernel.Register(_ring.Fd, IoUring.IORING_REGISTER_EVENTFD, &efd, 1);
            if (r < 0)
                ThrowErrno("IORING_REGISTER_EVENTFD", r);
        }
        catch
        {
            _ring.Destroy(ref Kernel);
            FreeShared();
            throw;
        }
    }

    public override EngineKind Kind => EngineKind.IoUring;

    /// <summary>The setup flags the kernel accepted (a rung of <see cref="UringRing.SetupLadder"/> | CQSIZE).</summary>
    public uint SetupFlags => _ring.SetupFlags;

    public uint SqEntries => _ring.SqEntries;

    public uint CqEntries => _ring.CqEntries;

    private protected override int KernelBacklog => (int)_ring.SqUnconsumed + _resubmitCount;

    /// <summary>
    /// Offers the kernel what it refused before, then writes SQEs for resubmissions and for every
    /// planned op, publishes them and submits them all with one io_uring_enter (GETEVENTS, no wait: with
    /// DEFER_TASKRUN that also runs completion work queued for us). Returns the number of new requests.
    /// </summary>
    public override int SubmitPending()
    {
        long now = Gate.NeedsClock ? Kernel.NowNanos() : 0;
        if (!Gate.KernelReady(now))
            return 0;
        if (_ring.SqUnconsumed > 0)
        {
            Enter();
            if (_ring.SqUnconsumed > 0 || Gate.State == GateState.Stopped)
            {
                WakeIfWorkLeft();
                return 0;
            }
        }
        // Every SQE written before was consumed: the kernel copied their iovecs (SUBMIT_STABLE).
        IovecsUsed = 0;
        for (int i = 0; i < _resubmitCount; i++)
            WriteSqe(_resubmit[i]);
        _resubmitCount = 0;

        int submitted = 0;
        bool planned = TryPlan(out int opCount);
        RequestMerger merger = Gate.Merger;
        ReadOnlySpan<PlannedOp> ops = merger.Ops;
        for (int i = 0; i < opCount; i++)
        {
            int o = StartOp(ops[i], merger.SlotsOf(ops[i]));
            WriteSqe(o);
            // Once published the SQE is the kernel's: the op counts as in flight even before it is consumed.
            submitted += MarkOpInFlight(o);
        }
        if (planned)
            AfterPlan();
        _ring.PublishSqTail();
        if (_ring.SqUnconsumed > 0)
            Enter();
        WakeIfWorkLeft();
        return submitted;
    }

    /// <summary>
    /// Completions we hold, or completion work the kernel shows (IORING_SQ_TASKRUN: more than one enter
    /// runs; CQ_OVERFLOW), that no eventfd signal may announce: the kernel signals only when work is
    /// queued to an empty list. Signal it ourselves, so the reactor reaps on its next turn.
    /// </summary>
    private void WakeIfWorkLeft()
    {
        if (HasCompletions || (_ring.ReadFlags() & ReapFlags) != 0)
            SignalEventFd();
    }

    /// <summary>
    /// The SQE writer: the op's remaining part (all of it unless a short transfer left a rest) as
    /// READ/WRITE (one slot) or READV/WRITEV (several), or FSYNC(DATASYNC) for a flush.
    /// </summary>
    private void WriteSqe(int o)
    {
        io_uring_sqe* sqe = _ring.NextSqe();
        if (sqe == null)
            ThrowRingFull();
        ref IoOp op = ref Op(o);
        sqe->fd = Fd;
        sqe->user_data = Token(o);
        if (op.Kind == IoKind.Flush)
        {
            sqe->opcode = IoUring.IORING_OP_FSYNC;
            sqe->fsync_flags = IoUring.IORING_FSYNC_DATASYNC;
            return;
        }
        bool read = op.Kind == IoKind.Read;
        sqe->off = (ulong)(op.Offset + op.Done);
        if (read && BufferedStore)
            sqe->flags = IoUring.IOSQE_ASYNC; // a page-cache miss: the disk I/O is started by a worker, not in our enter
        if (!read && WriteThrough)
            sqe->rw_flags = Libc.RWF_DSYNC;
        if (op.SlotCount == 1)
        {
            sqe->opcode = read ? IoUring.IORING_OP_READ : IoUring.IORING_OP_WRITE;
            sqe->addr = (ulong)(Slots.DataPointer(op.FirstSlot) + op.Done);
            sqe->len = (uint)(op.Bytes - op.Done);
        }
        else
        {
            iovec* iov = Iovecs + IovecsUsed;
            int n = Slots.FillIovecs(op.FirstSlot, op.Done, iov);
            IovecsUsed += n;
            sqe->opcode = read ? IoUring.IORING_OP_READV : IoUring.IORING_OP_WRITEV;
            sqe->addr = (ulong)iov;
            sqe->len = (uint)n;
        }
    }

    /// <summary>
    /// Submits every published SQE the kernel has not consumed. Fewer consumed than offered: offer the
    /// rest again. EAGAIN/EBUSY (no room for more requests, or completions waiting to be flushed): reap,
    /// and retry if that finished something; otherwise wait for a completion (or 1 ms with nothing in
    /// flight). EBADR: completions were lost, fail-stop. The SQEs stay in the ring meanwhile.
    /// </summary>
    private void Enter()
    {
        int retries = 0;
        uint pending;
        while ((pending = _ring.SqUnconsumed) > 0)
        {
            Counters.SubmitCalls++;
            int r = Kernel.Enter(_ring.Fd, pending, 0, IoUring.IORING_ENTER_GETEVENTS);
            if (r > 0)
            {
                Counters.IocbsSubmitted += r;
                continue;
            }
            if (r == -(int)Errno.EBADR)
            {
                FailStop("io_uring_enter: " + ErrnoText.Describe((int)Errno.EBADR) + ": the kernel dropped completions (CQ overflow)");
                return;
            }
            if (r == 0 || r == -(int)Errno.EAGAIN || r == -(int)Errno.EBUSY || r == -(int)Errno.EINTR)
            {
                if (++retries < MaxEnterRetries && (r == -(int)Errno.EINTR || ReapRing() > 0))
                    continue;
                if (Gate.State == GateState.Stopped)
                    return;
                Counters.SubmitEagain++;
                int heldByKernel = InFlightOps - (int)_ring.SqUnconsumed - _resubmitCount;
                Gate.OnKernelBusy(Kernel.NowNanos(), heldByKernel > 0);
                return;
            }
            FailStop("io_uring_enter failed: " + ErrnoText.Describe(-r));
            return;
        }
    }

    /// <summary>
    /// Reaps per the DEFER_TASKRUN rule: the eventfd is read first (level-triggered registrations only),
    /// then, while the SQ flags show completion work waiting for us (IORING_SQ_TASKRUN) or CQEs the
    /// kernel held back (IORING_SQ_CQ_OVERFLOW), enter with GETEVENTS and drain the CQ again: one enter
    /// runs only a batch of the work, and the eventfd is signalled only when work is queued to an empty
    /// list, so stopping early would leave completions with nothing to wake us.
    /// </summary>
    private protected override void ReapKernel()
    {
        ReadEventFdIfLevelTriggered();
        ReapRing();
    }

    /// <summary>Runs waiting completion work and drains the CQ until the kernel shows none left; returns the CQEs handled.</summary>
    private int ReapRing()
    {
        int handled = 0;
        for (int round = 0; round <= QueueLength + 1 && Gate.State != GateState.Stopped; round++)
        {
            if ((_ring.ReadFlags() & ReapFlags) != 0)
            {
                int r;
                do
                    r = Kernel.Enter(_ring.Fd, 0, 0, IoUring.IORING_ENTER_GETEVENTS);
                while (r == -(int)Errno.EINTR);
                if (r == -(int)Errno.EBADR)
                {
                    FailStop("io_uring_enter: " + ErrnoText.Describe((int)Errno.EBADR) + ": the kernel dropped completions (CQ overflow)");
                    break;
                }
            }
            int n = DrainCq();
            handled += n;
            if ((_ring.ReadFlags() & ReapFlags) == 0)
                return handled;
        }
        // Only a flood of completions arriving while we reap gets here (each round runs some): let the
        // reactor come back for the rest rather than loop on.
        if (Gate.State != GateState.Stopped)
            WakeIfWorkLeft();
        return handled;
    }

    private int DrainCq()
    {
        uint head = *_ring.CqHead;
        uint tail = System.Threading.Volatile.Read(ref *_ring.CqTail);
        int n = 0;
        while (head != tail)
        {
            io_uring_cqe cqe = _ring.Cqes[head & _ring.CqMask];
            head++;
            n++;
            Complete(cqe.user_data, cqe.res);
        }
        System.Threading.Volatile.Write(ref *_ring.CqHead, head);
        return n;
    }

    private void Complete(ulong token, int res)
    {
        if (!TryResolve(token, out int o))
            return;
        ref IoOp op = ref Op(o);
        if (res < 0)
        {
            if ((res == -(int)Errno.EAGAIN || res == -(int)Errno.EINTR) && op.Attempts < MaxResubmits)
            {
                op.Attempts++;
                Counters.Resubmits++;
                Resubmit(o);
                return;
            }
            FinishOp(o, op.Kind == IoKind.Flush ? 0 : op.Done, res);
            return;
        }
        if (op.Kind == IoKind.Flush)
        {
            FinishOp(o, 0, 0);
            return;
        }
        op.Done += res;
        if (op.Done >= op.Bytes)
        {
            FinishOp(o, op.Bytes, 0);
            return;
        }
        if (res == 0)
        {
            // A read at the end of the file (the store shrank under us), or a write that made no
            // progress: the requests not covered fail, as a short AIO transfer does.
            FinishOp(o, op.Done, ShortTransferError(op.Kind));
            return;
        }
        op.Attempts = 0;
        Counters.ShortTransfers++;
        Resubmit(o);
    }

    /// <summary>
    /// Queues an op for another SQE at the next SubmitPending; a new generation makes any late CQE for
    /// the old one stale. Its CQE freed room in the kernel like any completion, so a gate closed by a
    /// refused submit opens again (else, with nothing else in flight, nothing would ever reopen it).
    /// </summary>
    private void Resubmit(int o)
    {
        Op(o).Generation++;
        _resubmit[_resubmitCount++] = o;
        Gate.OnCompletion();
    }

    private protected override void OnFailStop() => _resubmitCount = 0;

    /// <summary>
    /// Waits for every op the kernel holds (blocking; the daemon drains before it disposes), then
    /// unmaps and closes the ring and frees the buffers. When the wait is impossible (another thread
    /// than the ring's owner: EEXIST; or the engine was fail-stopped) the buffers are leaked rather
    /// than freed under a running transfer. The backing store fd is not closed.
    /// </summary>
    public override void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        while (_ring.Fd >= 0 && Gate.State != GateState.Stopped && InFlightOps - _resubmitCount > 0)
        {
            int r = Kernel.Enter(_ring.Fd, _ring.SqUnconsumed, 1, IoUring.IORING_ENTER_GETEVENTS);
            if (r < 0 && r != -(int)Errno.EINTR)
            {
                LeakBuffersOnDispose = true;
                break;
            }
            DrainCq();
        }
        _ring.Destroy(ref Kernel);
        FreeShared();
    }

    private static void ThrowRingFull()
        => throw new InvalidOperationException("the io_uring SQ is full although ops never outnumber its entries (engine bug)");
}
