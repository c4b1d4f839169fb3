using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>sched.h: setns puts the calling thread into a network namespace (tests, bench, discover).</summary>
[CHeader("sched.h")]
public static unsafe partial class Libc
{
    public const int CLONE_NEWNET = 0x40000000;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int nstype);
}
