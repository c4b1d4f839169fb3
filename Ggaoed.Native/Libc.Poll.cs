using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>poll (poll.h): a bounded wait on one descriptor outside the reactor (the detaching parent).</summary>
[CHeader("poll.h")]
public static unsafe partial class Libc
{
    public const short POLLIN = 0x1;
    public const short POLLHUP = 0x10;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(pollfd* fds, nuint nfds, int timeout);
}

/// <summary>struct pollfd (poll.h).</summary>
[CHeader("poll.h")]
public struct pollfd
{
    public int fd;
    public short events;
    public short revents;
}
