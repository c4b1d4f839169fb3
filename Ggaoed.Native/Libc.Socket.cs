using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>BSD sockets (sys/socket.h, sys/un.h): packet, netlink and control sockets.</summary>
[CHeader("sys/socket.h", "sys/un.h")]
public static unsafe partial class Libc
{
    public const int AF_UNSPEC = 0;
    public const int AF_UNIX = 1;
    public const int AF_NETLINK = 16;
    public const int AF_PACKET = 17;

    public const int SOCK_STREAM = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_SEQPACKET = 5;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;

    public const int SOL_SOCKET = 1;
    public const int SO_REUSEADDR = 2;
    public const int SO_ERROR = 4;
    public const int SO_SNDBUF = 7;
    public const int SO_RCVBUF = 8;
    public const int SO_PEERCRED = 17;
    public const int SO_ATTACH_FILTER = 26;
    public const int SO_SNDBUFFORCE = 32;
    public const int SO_RCVBUFFORCE = 33;

    public const int MSG_PEEK = 0x2;
    public const int MSG_TRUNC = 0x20;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;

    public const int SHUT_RDWR = 2;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int bind(int fd, void* addr, uint addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int connect(int fd, void* addr, uint addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int listen(int fd, int backlog);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int accept4(int fd, void* addr, uint* addrlen, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int optname, void* optval, uint optlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int optname, void* optval, uint* optlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockname(int fd, void* addr, uint* addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, void* buf, nuint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, void* buf, nuint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint sendto(int fd, void* buf, nuint len, int flags, void* addr, uint addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recvfrom(int fd, void* buf, nuint len, int flags, void* addr, uint* addrlen);
}

/// <summary>struct sockaddr_un (sys/un.h).</summary>
[CHeader("sys/un.h")]
public unsafe struct sockaddr_un
{
    public ushort sun_family;
    public fixed byte sun_path[108];
}

/// <summary>struct ucred (sys/socket.h, _GNU_SOURCE): SO_PEERCRED of a control client.</summary>
[CHeader("sys/socket.h")]
public struct ucred
{
    public int pid;
    public uint uid;
    public uint gid;
}
