using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>
/// The syscalls both storage engines make besides their own queue interface (the eventfd, reads done
/// at once, the clock). Implemented by structs passed as generic parameters, so the real build calls
/// the syscalls directly and tests decide what "the kernel" answers. Every method returns a count or
/// 0 on success and <b>-errno</b> on failure (never -1 + errno).
/// </summary>
public unsafe interface IStorageKernel
{
    /// <summary>A non-blocking, close-on-exec eventfd: fd or -errno.</summary>
    int CreateEventFd();

    /// <summary>Reads (and so resets) the eventfd counter: 0, or -EAGAIN when it was already zero.</summary>
    int ReadEventFd(int fd);

    /// <summary>Adds 1 to the eventfd counter, making it readable.</summary>
    int SignalEventFd(int fd);

    int Close(int fd);

    /// <summary>pread: bytes read (maybe fewer than <paramref name="length"/> at end of file), or -errno.</summary>
    int Read(int fd, byte* buffer, int length, long offset);

    /// <summary>
    /// preadv2(RWF_NOWAIT): what the page cache holds right now, never waiting for the disk. Bytes read
    /// (fewer than asked when only a part is cached, 0 at end of file), -EAGAIN when the first page is
    /// not cached, -EOPNOTSUPP when the file system cannot say (tmpfs).
    /// </summary>
    int ReadNoWait(int fd, byte* buffer, int length, long offset);

    /// <summary>Synchronous fdatasync.</summary>
    int FdataSync(int fd);

    /// <summary>CLOCK_MONOTONIC in nanoseconds (the clock timerfds use).</summary>
    long NowNanos();
}

/// <summary>The real shared syscalls, converting glibc's -1 + errno into -errno (used by both kernels).</summary>
internal static unsafe class LinuxStorageCalls
{
    public static int CreateEventFd()
    {
        int fd = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        return fd < 0 ? -System.Runtime.InteropServices.Marshal.GetLastPInvokeError() : fd;
    }

    public static int ReadEventFd(int fd)
    {
        ulong value;
        return Libc.read(fd, &value, sizeof(ulong)) < 0 ? -System.Runtime.InteropServices.Marshal.GetLastPInvokeError() : 0;
    }

    public static int SignalEventFd(int fd)
    {
        ulong one = 1;
        return Libc.write(fd, &one, sizeof(ulong)) < 0 ? -System.Runtime.InteropServices.Marshal.GetLastPInvokeError() : 0;
    }

    public static int Close(int fd) => Libc.close(fd) < 0 ? -System.Runtime.InteropServices.Marshal.GetLastPInvokeError() : 0;

    public static int Read(int fd, byte* buffer, int length, long offset)
    {
        while (true)
        {
            nint n = Libc.pread(fd, buffer, (nuint)length, offset);
            if (n >= 0)
                return (int)n;
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno != (int)Errno.EINTR)
                return -errno;
        }
    }

    public static int ReadNoWait(int fd, byte* buffer, int length, long offset)
    {
        iovec iov = new() { iov_base = buffer, iov_len = (nuint)length };
        while (true)
        {
            nint n = Libc.preadv2(fd, &iov, 1, offset, Libc.RWF_NOWAIT);
            if (n >= 0)
                return (int)n;
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno != (int)Errno.EINTR)
                return -errno;
        }
    }

    public static int FdataSync(int fd) => Libc.fdatasync(fd) < 0 ? -System.Runtime.InteropServices.Marshal.GetLastPInvokeError() : 0;

    public static long NowNanos()
    {
        timespec ts;
        Libc.clock_gettime(Libc.CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1_000_000_000L + ts.tv_nsec;
    }
}
