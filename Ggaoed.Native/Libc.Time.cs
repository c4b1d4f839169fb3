using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>Clocks and timerfd (time.h, sys/timerfd.h): delayed submission for merge-delay.</summary>
[CHeader("time.h", "sys/timerfd.h")]
public static unsafe partial class Libc
{
    public const int CLOCK_REALTIME = 0;
    public const int CLOCK_MONOTONIC = 1;

    public const int TFD_NONBLOCK = 0x800;
    public const int TFD_CLOEXEC = 0x80000;
    public const int TFD_TIMER_ABSTIME = 1;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int timerfd_create(int clockid, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int timerfd_settime(int fd, int flags, itimerspec* newValue, itimerspec* oldValue);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int clock_gettime(int clockid, timespec* tp);
}

/// <summary>struct timespec (time.h).</summary>
[CHeader("time.h")]
public struct timespec
{
    public long tv_sec;
    public long tv_nsec;
}

/// <summary>struct itimerspec (time.h).</summary>
[CHeader("time.h")]
public struct itimerspec
{
    public timespec it_interval;
    public timespec it_value;
}
