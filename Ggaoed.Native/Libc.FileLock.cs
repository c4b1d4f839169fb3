using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>
/// Open file description locks (fcntl.h, Linux 3.15): a lock owned by the open file, not the process,
/// so a second open in the same process conflicts too, and closing another descriptor of the same
/// file does not drop it. The backing store's "one exporter per file" claim.
/// </summary>
[CHeader("fcntl.h")]
public static unsafe partial class Libc
{
    public const int F_OFD_GETLK = 36;
    public const int F_OFD_SETLK = 37;
    public const int F_OFD_SETLKW = 38;

    public const short F_RDLCK = 0;
    public const short F_WRLCK = 1;
    public const short F_UNLCK = 2;

    public const short SEEK_SET = 0;

    /// <summary>Duplicate a descriptor close-on-exec: how a reopened store keeps its predecessor's claim alive.</summary>
    public const int F_DUPFD_CLOEXEC = 1030;

    /// <summary>fcntl(fd, F_OFD_*, &amp;lock): the pointer form of the variadic call (same register as an int on x86-64).</summary>
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int fcntl_lock(int fd, int cmd, flock* lk);
}

/// <summary>
/// struct flock (fcntl.h, x86-64). For OFD locks the kernel wants l_pid = 0 on input and reports -1
/// for a conflicting OFD lock (it has no single owning process).
/// </summary>
[CHeader("fcntl.h")]
public struct flock
{
    public short l_type;
    public short l_whence;
    public long l_start;
    public long l_len;
    public int l_pid;
}
