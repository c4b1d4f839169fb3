using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>
/// Linux native AIO (linux/aio_abi.h). glibc has no wrappers (libaio is a separate library that returns
/// -errno); these go through <c>syscall(2)</c>, which returns -1 and sets errno.
/// </summary>
[CHeader("linux/aio_abi.h", "sys/syscall.h")]
public static unsafe partial class Aio
{
    public const long SYS_io_setup = 206;
    public const long SYS_io_destroy = 207;
    public const long SYS_io_getevents = 208;
    public const long SYS_io_submit = 209;
    public const long SYS_io_cancel = 210;

    public const ushort IOCB_CMD_PREAD = 0;
    public const ushort IOCB_CMD_PWRITE = 1;
    public const ushort IOCB_CMD_FSYNC = 2;
    public const ushort IOCB_CMD_FDSYNC = 3;
    public const ushort IOCB_CMD_NOOP = 6;
    public const ushort IOCB_CMD_PREADV = 7;
    public const ushort IOCB_CMD_PWRITEV = 8;

    /// <summary>Signal completion on <c>aio_resfd</c> (an eventfd). libaio hides this behind io_set_eventfd.</summary>
    public const uint IOCB_FLAG_RESFD = 1;

    // syscall(2) is variadic in C. On x86-64 a variadic callee only reads %al for vector registers it
    // would spill; glibc's syscall() is assembly that never does, so a fixed-argument prototype is safe.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall2(long number, long a1, long a2);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall3(long number, long a1, long a2, long a3);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall5(long number, long a1, long a2, long a3, long a4, long a5);

    /// <summary>io_setup(nr_events, &amp;ctx): 0 or -1/errno.</summary>
    public static int io_setup(uint nrEvents, ulong* ctx) => (int)syscall2(SYS_io_setup, nrEvents, (long)ctx);

    public static int io_destroy(ulong ctx) => (int)syscall2(SYS_io_destroy, (long)ctx, 0);

    /// <summary>Returns the number of iocbs queued (may be fewer than <paramref name="nr"/>), or -1/errno.</summary>
    public static int io_submit(ulong ctx, long nr, iocb** iocbpp) => (int)syscall3(SYS_io_submit, (long)ctx, nr, (long)iocbpp);

    public static int io_getevents(ulong ctx, long minNr, long nr, io_event* events, timespec* timeout)
        => (int)syscall5(SYS_io_getevents, (long)ctx, minNr, nr, (long)events, (long)timeout);

    public static int io_cancel(ulong ctx, iocb* iocb, io_event* result) => (int)syscall3(SYS_io_cancel, (long)ctx, (long)iocb, (long)result);
}

/// <summary>struct iocb (linux/aio_abi.h), little-endian layout: aio_key before aio_rw_flags.</summary>
[CHeader("linux/aio_abi.h")]
public struct iocb
{
    /// <summary>Returned unchanged in io_event.data: we store a slot token here.</summary>
    public ulong aio_data;
    public uint aio_key;
    public int aio_rw_flags;
    public ushort aio_lio_opcode;
    public short aio_reqprio;
    public uint aio_fildes;
    public ulong aio_buf;
    public ulong aio_nbytes;
    public long aio_offset;
    public ulong aio_reserved2;
    public uint aio_flags;
    public uint aio_resfd;
}

/// <summary>struct io_event (linux/aio_abi.h). <c>res</c> is bytes done or -errno.</summary>
[CHeader("linux/aio_abi.h")]
public struct io_event
{
    public ulong data;
    public ulong obj;
    public long res;
    public long res2;
}
