using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>Per-I/O flags and preadv2 (sys/uio.h with _GNU_SOURCE; the same values as linux/fs.h).</summary>
[CHeader("sys/uio.h")]
public static unsafe partial class Libc
{
    /// <summary>Make this one write durable before it completes (per-I/O O_DSYNC), Linux 4.7.</summary>
    public const int RWF_DSYNC = 0x02;

    /// <summary>Fail with EAGAIN instead of waiting (a buffered read whose pages are not cached), Linux 4.14.</summary>
    public const int RWF_NOWAIT = 0x08;

    /// <summary>preadv2 (glibc 2.26): preadv with per-call RWF_* flags. Bytes read, or -1/errno.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial nint preadv2(int fd, iovec* iov, int iovcnt, long offset, int flags);
}
