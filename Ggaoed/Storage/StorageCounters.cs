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

    /// <summary>Reads of a buffered or in-memory store served at once with pread (counted in ReadRequests too).</summary>
    public long ImmediateReads;

    /// <summary>Immediate reads that failed or came back short; they were redone through AIO, which reports the error.</summary>
    public long ImmediateReadFallbacks;

    /// <summary>Requests that went to the kernel in an iocb together with others (PREADV/PWRITEV).</summary>
    public long MergedRequests;

    /// <summary>iocbs the kernel accepted.</summary>
    public long IocbsSubmitted;

    /// <summary>io_submit calls made.</summary>
    public long SubmitCalls;

    /// <summary>io_submit calls that returned EAGAIN (the rest of the batch stayed queued).</summary>
    public long SubmitEagain;

    /// <summary>Requests completed with an error (negative result, short transfer, refused submit).</summary>
    public long Errors;

    /// <summary>Completions whose token matched no in-flight iocb (ignored).</summary>
    public long StaleCompletions;

    /// <summary>Flushes done by synchronous fdatasync because the kernel refused IOCB_CMD_FDSYNC.</summary>
    public long SyncFlushFallbacks;
}
