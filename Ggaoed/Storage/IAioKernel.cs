using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>
/// The syscalls the AIO engine makes, behind a seam. Implemented by structs and passed as a generic
/// parameter (<see cref="AioEngine{TKernel}"/>), so the real build calls the syscalls directly (the JIT
/// and ILC specialise and inline) and tests decide when "the kernel" completes what, with what result.
/// Every method returns a count or 0 on success and <b>-errno</b> on failure (never -1 + errno).
/// </summary>
public unsafe interface IAioKernel
{
    /// <summary>io_setup(nrEvents): 0 and the context, or -errno.</summary>
    int Setup(uint nrEvents, out ulong context);

    /// <summary>io_destroy: cancels or waits for everything in flight; buffers may be freed afterwards.</summary>
    int Destroy(ulong context);

    /// <summary>io_submit: number queued (maybe fewer than <paramref name="count"/>) or -errno for the first.</summary>
    int Submit(ulong context, int count, iocb** iocbs);

    /// <summary>io_getevents(min_nr 0, no wait): number of events written, or -errno.</summary>
    int GetEvents(ulong context, int max, io_event* events);

    /// <summary>A non-blocking, close-on-exec eventfd: fd or -errno.</summary>
    int CreateEventFd();

    /// <summary>Reads (and so resets) the eventfd counter: 0, or -EAGAIN when it was already zero.</summary>
    int ReadEventFd(int fd);

    /// <summary>Adds 1 to the eventfd counter, making it readable.</summary>
    int SignalEventFd(int fd);

    int Close(int fd);

    /// <summary>pread: bytes read (maybe fewer than <paramref name="length"/> at end of file), or -errno.</summary>
    int Read(int fd, byte* buffer, int length, long offset);

    /// <summary>Synchronous fdatasync: the fallback when the kernel rejects IOCB_CMD_FDSYNC.</summary>
    int FdataSync(int fd);

    /// <summary>CLOCK_MONOTONIC in nanoseconds (the clock timerfds use).</summary>
    long NowNanos();
}
