using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>getrlimit (sys/resource.h): the probe names RLIMIT_MEMLOCK when io_uring setup fails with ENOMEM.</summary>
[CHeader("sys/resource.h")]
public static unsafe partial class Libc
{
    public const int RLIMIT_MEMLOCK = 8;

    /// <summary>rlim_cur/rlim_max value meaning "no limit".</summary>
    public const ulong RLIM_INFINITY = ulong.MaxValue;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getrlimit(int resource, rlimit* rlim);
}

/// <summary>struct rlimit (sys/resource.h).</summary>
[CHeader("sys/resource.h")]
public struct rlimit
{
    public ulong rlim_cur;
    public ulong rlim_max;
}
