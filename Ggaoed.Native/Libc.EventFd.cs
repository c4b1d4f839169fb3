using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>eventfd (sys/eventfd.h): AIO completion notification (IOCB_FLAG_RESFD) and wake-ups.</summary>
[CHeader("sys/eventfd.h")]
public static unsafe partial class Libc
{
    public const int EFD_SEMAPHORE = 1;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);
}
