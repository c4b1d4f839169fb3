using System;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>
/// sd_notify(3) written by hand: one datagram to $NOTIFY_SOCKET ("READY=1", "RELOADING=1",
/// "STOPPING=1", "STATUS=..."). A path starting with '@' is an abstract socket. The same channel tells a
/// detaching parent that its child is ready (see <see cref="Daemonizer"/>).
/// </summary>
internal static unsafe class SdNotify
{
    public static bool Send(string state) => Send(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"), state);

    public static bool Send(string? socketPath, string state)
    {
        if (string.IsNullOrEmpty(socketPath) || socketPath.Length >= 108)
            return false;
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
            return false;
        try
        {
            sockaddr_un addr = default;
            addr.sun_family = Libc.AF_UNIX;
            byte[] path = Encoding.UTF8.GetBytes(socketPath);
            if (path[0] == (byte)'@')
                path[0] = 0;
            var dest = new Span<byte>(addr.sun_path, 108);
            path.CopyTo(dest);
            uint len = (uint)(2 + path.Length + (path[0] == 0 ? 0 : 1));
            byte[] msg = Encoding.UTF8.GetBytes(state);
            fixed (byte* m = msg)
                return Libc.sendto(fd, m, (nuint)msg.Length, Libc.MSG_NOSIGNAL, &addr, len) == msg.Length;
        }
        finally
        {
            Libc.close(fd);
        }
    }
}
