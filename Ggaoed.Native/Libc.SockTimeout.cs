using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>
/// Socket receive/send timeouts (sys/socket.h, sys/time.h): the initiator and the null target block in
/// recv() and wake at least every timeout to check retransmit deadlines and stop requests, so one
/// syscall per frame suffices (no poll() before each recv()).
/// </summary>
[CHeader("sys/socket.h", "sys/time.h")]
public static partial class Libc
{
    /// <summary>x86-64 with a 64-bit time_t: SO_RCVTIMEO is SO_RCVTIMEO_OLD and takes a struct timeval.</summary>
    public const int SO_RCVTIMEO = 20;
    public const int SO_SNDTIMEO = 21;
}

/// <summary>struct timeval (sys/time.h).</summary>
[CHeader("sys/time.h")]
public struct timeval
{
    public long tv_sec;
    public long tv_usec;
}
