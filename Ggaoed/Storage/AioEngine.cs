using System;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>
/// The storage engine on Linux native AIO: an io context sized to the queue length, an eventfd that
/// becomes readable when iocbs complete (IOCB_FLAG_RESFD), and preallocated iocb/io_event arrays. Linux
/// AIO is asynchronous for O_DIRECT only: a buffered read or write runs to its end inside io_submit
/// (fs/aio.c calls the file's read_iter/write_iter synchronously, waiting for the page cache), so with
/// a buffered store the reactor waits for the disk there. Use <see cref="UringEngine{TKernel}"/> for
/// buffered stores where io_uring is available. <see cref="StorageEngine.TryReadNow"/> still never
/// waits (RWF_NOWAIT), and its misses do start the disk reads (readahead) before io_submit waits for
/// them one by one; that is all this engine can do for buffered reads.
/// </summary>
public sealed unsafe class AioEngine<TKernel> : StorageEngine<TKernel> where TKernel : struct, IAioKernel
{
    private ulong _context;
    private bool _disposed;
    private bool _fdsyncRefused;

    // Native memory: the kernel reads iocbs and iovecs during io_submit (fs/aio.c copies the iocb and
    // imports the iovec array before returning).
    private iocb* _iocbs;        // indexed by op index
    private iocb** _iocbPtrs;    // one submit batch
    private io_event* _events;
    private readonly int[] _batchOps;

    public AioEngine(TKernel kernel, int fd, ulong deviceSectors, int logicalBlockSize, EngineOptions options)
        : base(kernel, fd, deviceSectors, logicalBlockSize, options)
    {
        int n = options.QueueLength;
        _batchOps = new int[n];
        try
        {
            _iocbs = (iocb*)NativeMemory.AllocZeroed((nuint)n, (nuint)sizeof(iocb));
            _iocbPtrs = (iocb**)NativeMemory.AllocZeroed((nuint)n, (nuint)sizeof(iocb*));
            _events = (io_event*)NativeMemory.AllocZeroed((nuint)n, (nuint)sizeof(io_event));

            // nr_events = queue length: every iocb carries at least one slot, so at most that many are
            // in flight. The kernel rounds up; the sum over all devices counts against fs.aio-max-nr
            // (65536 by default), io_setup fails with EAGAIN beyond it.
            int r = Kernel.Setup((uint)n, out _context);
            if (r < 0)
                ThrowErrno("io_setup", r);
        }
        catch
        {
            FreeNative();
            FreeShared();
            throw;
        }
    }

    public override EngineKind Kind => EngineKind.Aio;

    /// <summary>True once the kernel refused IOCB_CMD_FDSYNC (EINVAL) and flushes run synchronously.</summary>
    public bool FlushIsSynchronous => _fdsyncRefused;

    /// <summary>
    /// Plans merges over everything queued and hands all iocbs that may go now to the kernel in one
    /// io_submit. After a partial submit the rest is offered again at once; on EAGAIN it stays queued
    /// and is retried after the next completion (or after 1 ms when nothing is in flight). A submit
    /// refused with another error completes that iocb's requests with -errno.
    /// </summary>
    public override int SubmitPending()
    {
        if (!TryPlan(out int opCount))
            return 0;

        int batch = 0;
        bool local = false;
        IovecsUsed = 0;
        RequestMerger merger = Gate.Merger;
        ReadOnlySpan<PlannedOp> ops = merger.Ops;
        for (int i = 0; i < opCount; i++)
        {
            ReadOnlySpan<int> slots = merger.SlotsOf(ops[i]);
            int o = StartOp(ops[i], slots);
            if (ops[i].Kind == IoKind.Flush && _fdsyncRefused)
            {
                FlushSynchronously(o);
                local = true;
                continue;
            }
            WriteIocb(o);
            _iocbPtrs[batch] = _iocbs + o;
            _batchOps[batch] = o;
            batch++;
        }

        int submitted = 0;
        int done = 0;
        while (done < batch)
        {
            Counters.SubmitCalls++;
            int r = Kernel.Submit(_context, batch - done, _iocbPtrs + done);
            if (r > 0)
            {
                for (int j = done; j < done + r; j++)
                {
                    submitted += MarkOpInFlight(_batchOps[j]);
                    Counters.IocbsSubmitted++;
                }
                // Partial: the kernel ran out of room or the next iocb is bad. The loop asks again at
                // once: EAGAIN then keeps the rest queued, a bad iocb fails alone with its errno.
                done += r;
            }
            else if (r == 0 || r == -(int)Errno.EAGAIN)
            {
                Counters.SubmitEagain++;
                Gate.OnKernelBusy(Kernel.NowNanos(), InFlightOps > 0);
                break;
            }
            else
            {
                int o = _batchOps[done++];
                local = true;
                if (Op(o).Kind == IoKind.Flush && r == -(int)Errno.EINVAL)
                {
                    // Kernels before 4.18 (and file systems without fsync support in AIO) refuse
                    // IOCB_CMD_FDSYNC with EINVAL: from now on flushes call fdatasync synchronously.
                    // The reactor blocks for that call, acceptable because the Linux initiator never
                    // sends FLUSH (AOE-NOTES 0.8).
                    _fdsyncRefused = true;
                    FlushSynchronously(o);
                }
                else
                {
                    FinishOp(o, 0, r);
                }
            }
        }
        for (int j = done; j < batch; j++)
            ReturnOp(_batchOps[j]); // still queued: planned again next time

        if (local)
            SignalEventFd();
        AfterPlan();
        return submitted;
    }

    /// <summary>The iocb writer: one op as PREAD/PWRITE (one slot), PREADV/PWRITEV (several) or FDSYNC.</summary>
    private void WriteIocb(int o)
    {
        ref IoOp op = ref Op(o);
        iocb* cb = _iocbs + o;
        *cb = default;
        cb->aio_data = Token(o);
        cb->aio_fildes = (uint)Fd;
        cb->aio_flags = Aio.IOCB_FLAG_RESFD;
        cb->aio_resfd = (uint)EventFd;
        cb->aio_offset = op.Offset;
        if (op.Kind == IoKind.Flush)
        {
            cb->aio_lio_opcode = Aio.IOCB_CMD_FDSYNC;
            return;
        }
        bool read = op.Kind == IoKind.Read;
        if (!read && WriteThrough)
            cb->aio_rw_flags = Libc.RWF_DSYNC;
        if (op.SlotCount == 1)
        {
            cb->aio_lio_opcode = read ? Aio.IOCB_CMD_PREAD : Aio.IOCB_CMD_PWRITE;
            cb->aio_buf = (ulong)Slots.DataPointer(op.FirstSlot);
            cb->aio_nbytes = (ulong)op.Bytes;
        }
        else
        {
            iovec* iov = Iovecs + IovecsUsed;
            int n = Slots.FillIovecs(op.FirstSlot, 0, iov);
            IovecsUsed += n;
            cb->aio_lio_opcode = read ? Aio.IOCB_CMD_PREADV : Aio.IOCB_CMD_PWRITEV;
            cb->aio_buf = (ulong)iov;
            cb->aio_nbytes = (ulong)n;
        }
    }

    /// <summary>Collects finished iocbs (io_getevents without waiting, from the mapped ring where possible).</summary>
    private protected override void ReapKernel()
    {
        // Read first: completions after this read raise the counter again, so none is missed. With an
        // edge-triggered registration every later completion raises a new edge anyway.
        ReadEventFdIfLevelTriggered();
        int max = QueueLength;
        while (InFlightOps > 0)
        {
            int r = Kernel.GetEvents(_context, max, _events);
            if (r == -(int)Errno.EINTR)
                continue;
            if (r < 0)
            {
                FailStop("io_getevents failed: " + ErrnoText.Describe(-r));
                return;
            }
            for (int e = 0; e < r; e++)
                Complete(_events[e]);
            if (r < max)
                break;
        }
    }

    private void Complete(in io_event ev)
    {
        if (!TryResolve(ev.data, out int o))
            return;
        if (ev.res < 0)
            FinishOp(o, 0, (int)ev.res);
        else if (Op(o).Kind == IoKind.Flush)
            FinishOp(o, 0, 0);
        else
            FinishOp(o, ev.res, ShortTransferError(Op(o).Kind)); // a short transfer fails the requests it did not cover
    }

    private void FlushSynchronously(int o)
    {
        Counters.SyncFlushFallbacks++;
        FinishOp(o, 0, Kernel.FdataSync(Fd));
    }

    /// <summary>
    /// No finalizer on purpose: without io_destroy the kernel may still write into the buffers, so an
    /// engine that was never disposed leaks them rather than freeing memory under a running DMA.
    /// Destroys the io context (io_destroy waits for everything in flight, so no DMA can hit freed
    /// memory), then frees the buffers and closes the eventfd. The backing store fd is not closed.
    /// </summary>
    public override void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_context != 0)
        {
            Kernel.Destroy(_context);
            _context = 0;
            LeakBuffersOnDispose = false; // io_destroy waited for everything
        }
        FreeNative();
        FreeShared();
    }

    private void FreeNative()
    {
        NativeMemory.Free(_iocbs);
        NativeMemory.Free(_iocbPtrs);
        NativeMemory.Free(_events);
        _iocbs = null;
        _iocbPtrs = null;
        _events = null;
    }
}
