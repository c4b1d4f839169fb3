using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>epoll (sys/epoll.h): the reactor's single wait point.</summary>
[CHeader("sys/epoll.h")]
public static unsafe partial class Libc
{
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CTL_MOD = 3;

    public const uint EPOLLIN = 0x001;
    public const uint EPOLLPRI = 0x002;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 0x80000000;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, epoll_event* ev);

    // Blocks: never [SuppressGCTransition].
    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout);
}

/// <summary>
/// struct epoll_event. x86-64 declares it __attribute__((packed)): 12 bytes, data at offset 4.
/// (arm64 does not pack it; this project builds for linux-x64 only.)
/// </summary>
[CHeader("sys/epoll.h")]
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct epoll_event
{
    public uint events;
    [CField("data.u64")] public ulong data;
}
