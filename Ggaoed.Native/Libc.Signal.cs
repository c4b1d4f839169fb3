using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>Signals (signal.h, sys/signalfd.h).</summary>
[CHeader("signal.h", "sys/signalfd.h")]
public static unsafe partial class Libc
{
    public const int SIGHUP = 1;
    public const int SIGINT = 2;
    public const int SIGQUIT = 3;
    public const int SIGKILL = 9;
    public const int SIGUSR1 = 10;
    public const int SIGPIPE = 13;
    public const int SIGTERM = 15;

    public const int SIG_BLOCK = 0;
    public const int SIG_UNBLOCK = 1;
    public const int SIG_SETMASK = 2;

    /// <summary>sa_handler values: the default action, and ignore (what nohup and a non-interactive shell's <c>&amp;</c> leave behind).</summary>
    public const int SIG_DFL = 0;
    public const int SIG_IGN = 1;

    public const int SFD_NONBLOCK = 0x800;
    public const int SFD_CLOEXEC = 0x80000;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigemptyset(sigset_t* set);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigaddset(sigset_t* set, int signum);

    [LibraryImport("libc")]
    public static partial int pthread_sigmask(int how, sigset_t* set, sigset_t* oldset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int signalfd(int fd, sigset_t* mask, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int sig);

    /// <summary>sigaction: <paramref name="act"/> null only reads the disposition into <paramref name="oldact"/>.</summary>
    [LibraryImport("libc", EntryPoint = "sigaction", SetLastError = true)]
    public static partial int sigaction(int signum, sigaction_t* act, sigaction_t* oldact);
}

/// <summary>struct sigaction (signal.h, the C library's layout, not the kernel's): 152 bytes.</summary>
[CHeader("signal.h", CType = "struct sigaction")]
public struct sigaction_t
{
    /// <summary>A handler, or <see cref="Libc.SIG_DFL"/> / <see cref="Libc.SIG_IGN"/> (a union with sa_sigaction).</summary>
    [CField("sa_handler")] public nint sa_handler;
    public sigset_t sa_mask;
    public int sa_flags;
    [CField(Skip = true)] public int __pad;
    public nint sa_restorer;
}

/// <summary>glibc's sigset_t: 1024 bits.</summary>
[CHeader("signal.h", CType = "sigset_t")]
public unsafe struct sigset_t
{
    [CField("__val")] public fixed ulong __val[16];
}

/// <summary>struct signalfd_siginfo (sys/signalfd.h): 128 bytes per read.</summary>
[CHeader("sys/signalfd.h")]
public unsafe struct signalfd_siginfo
{
    public uint ssi_signo;
    public int ssi_errno;
    public int ssi_code;
    public uint ssi_pid;
    public uint ssi_uid;
    public int ssi_fd;
    public uint ssi_tid;
    public uint ssi_band;
    public uint ssi_overrun;
    public uint ssi_trapno;
    public int ssi_status;
    public int ssi_int;
    public ulong ssi_ptr;
    public ulong ssi_utime;
    public ulong ssi_stime;
    public ulong ssi_addr;
    public ushort ssi_addr_lsb;
    [CField(Skip = true)] public fixed byte __pad[46];
}
