using System.Runtime.InteropServices;
using System.Threading;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>The real AIO syscalls, converting glibc's -1 + errno into -errno.</summary>
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
        aio_ring* ring = (aio_ring*)context;
        if (ring->magic == aio_ring.AIO_RING_MAGIC && ring->incompat_features == aio_ring.AIO_RING_INCOMPAT_FEATURES)
            return ReapUserRing(ring, max, events);

        // A zero timeout with min_nr 0: collect what has completed, never sleep in the reactor.
        timespec zero = default;
        int r = Aio.io_getevents(context, 0, max, events, &zero);
        return r < 0 ? -Marshal.GetLastPInvokeError() : r;
    }

    /// <summary>
    /// Reads completions straight from the ring io_setup mapped for us, saving the io_getevents
    /// syscall (fio's userspace_reap does the same). Only this thread consumes, so head is ours; tail
    /// is read with acquire semantics (the kernel publishes the event before the tail, fs/aio.c
    /// aio_complete: smp_wmb then tail store) and head is stored with release semantics after the
    /// events were copied.
    /// </summary>
    private static int ReapUserRing(aio_ring* ring, int max, io_event* events)
    {
        uint nr = ring->nr;
        uint head = ring->head;
        uint tail = Volatile.Read(ref ring->tail);
        if (head >= nr || tail >= nr)
            return -(int)Errno.EIO; // the ring is not what we think it is: a bug, reported by the caller
        io_event* slots = (io_event*)((byte*)ring + ring->header_length);
        int n = 0;
        while (head != tail && n < max)
        {
            events[n++] = slots[head];
            head = head + 1 == nr ? 0 : head + 1;
        }
        Volatile.Write(ref ring->head, head);
        return n;
    }

    /// <summary>True when the context's completion ring can be read from user space.</summary>
    public static bool HasUserRing(ulong context)
    {
        aio_ring* ring = (aio_ring*)context;
        return ring->magic == aio_ring.AIO_RING_MAGIC && ring->incompat_features == aio_ring.AIO_RING_INCOMPAT_FEATURES;
    }

    public int CreateEventFd() => LinuxStorageCalls.CreateEventFd();

    public int ReadEventFd(int fd) => LinuxStorageCalls.ReadEventFd(fd);

    public int SignalEventFd(int fd) => LinuxStorageCalls.SignalEventFd(fd);

    public int Close(int fd) => LinuxStorageCalls.Close(fd);

    public int Read(int fd, byte* buffer, int length, long offset) => LinuxStorageCalls.Read(fd, buffer, length, offset);

    public int ReadNoWait(int fd, byte* buffer, int length, long offset) => LinuxStorageCalls.ReadNoWait(fd, buffer, length, offset);

    public int FdataSync(int fd) => LinuxStorageCalls.FdataSync(fd);

    public long NowNanos() => LinuxStorageCalls.NowNanos();
}
