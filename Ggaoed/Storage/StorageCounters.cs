namespace Ggaoed.Storage;

/// <summary>
/// Per-device I/O counters: plain fields, written only by the reactor thread, read by the control
/// socket handler on the same thread.
/// </summary>
public struct StorageCounters
{
    /// <summary>Reads completed successfully, and their sectors.</summary>
    public long ReadRequests;
    public long ReadSectors;

    /// <summary>Writes completed successfully, and their sectors.</summary>
    public long WriteRequests;
    public long WriteSectors;

    /// <summary>Flushes completed successfully (by FDSYNC or the synchronous fallback).</summary>
    public long Flushes;

    /// <summary>Reads of a buffered or in-memory store served at once from the page cache or memory (counted in ReadRequests too).</summary>
    public long ImmediateReads;

    /// <summary>Immediate reads whose data was not (all) cached (RWF_NOWAIT: EAGAIN); they went through the queue.</summary>
    public long ImmediateReadMisses;

    /// <summary>Immediate reads that failed or came back short; they were redone through the queue, which reports the error.</summary>
    public long ImmediateReadFallbacks;

    /// <summary>Requests that went to the kernel in one op together with others (PREADV/PWRITEV, READV/WRITEV).</summary>
    public long MergedRequests;

    /// <summary>Kernel ops the kernel accepted: iocbs (AIO) or SQEs (io_uring, resubmissions included).</summary>
    public long IocbsSubmitted;

    /// <summary>io_submit or io_uring_enter calls made to submit.</summary>
    public long SubmitCalls;

    /// <summary>Submit calls refused with EAGAIN or EBUSY (the rest waited for a completion).</summary>
    public long SubmitEagain;

    /// <summary>io_uring ops that transferred less than asked and were resubmitted for the rest.</summary>
    public long ShortTransfers;

    /// <summary>io_uring ops that completed with -EAGAIN or -EINTR and were resubmitted.</summary>
    public long Resubmits;

    /// <summary>Requests completed with an error (negative result, short transfer, refused submit).</summary>
    public long Errors;

    /// <summary>Completions whose token matched no in-flight iocb (ignored).</summary>
    public long StaleCompletions;

    /// <summary>Flushes done by synchronous fdatasync because the kernel refused IOCB_CMD_FDSYNC.</summary>
    public long SyncFlushFallbacks;
}
