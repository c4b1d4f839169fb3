using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>The real syscalls, converting glibc's -1 + errno into -errno.</summary>
public unsafe struct LinuxAioKernel : IAioKernel
{
    public int Setup(uint nrEvents, out ulong context)
    {
        ulong ctx = 0;
        int r = Aio.io_setup(nrEvents, &ctx);
        context = ctx;
        return r < 0 ? -Marshal.GetLastPInvokeError() : 0;
    }

    public int Destroy(ulong context) => Aio.io_destroy(context) < 0 ? -Marshal.GetLastPInvokeError() : 0;

    public int Submit(ulong context, int count, iocb** iocbs)
    {
        int r = Aio.io_submit(context, count, iocbs);
        return r < 0 ? -Marshal.GetLastPInvokeError() : r;
    }

    public int GetEvents(ulong context, int max, io_event* events)
    {
        // A zero timeout with min_nr 0: collect what has completed, never sleep in the reactor.
        timespec zero = default;
        int r = Aio.io_getevents(context, 0, max, events, &zero);
        return r < 0 ? -Marshal.GetLastPInvokeError() : r;
    }

    public int CreateEventFd()
    {
        int fd = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        return fd < 0 ? -Marshal.GetLastPInvokeError() : fd;
    }

    public int ReadEventFd(int fd)
    {
        ulong value;
        return Libc.read(fd, &value, sizeof(ulong)) < 0 ? -Marshal.GetLastPInvokeError() : 0;
    }

    public int SignalEventFd(int fd)
    {
        ulong one = 1;
        return Libc.write(fd, &one, sizeof(ulong)) < 0 ? -Marshal.GetLastPInvokeError() : 0;
    }

    public int Close(int fd) => Libc.close(fd) < 0 ? -Marshal.GetLastPInvokeError() : 0;

    public int FdataSync(int fd) => Libc.fdatasync(fd) < 0 ? -Marshal.GetLastPInvokeError() : 0;

    public long NowNanos()
    {
        timespec ts;
        Libc.clock_gettime(Libc.CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1_000_000_000L + ts.tv_nsec;
    }
}
