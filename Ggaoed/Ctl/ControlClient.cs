using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using Ggaoed.Daemon;
using Ggaoed.Native;

namespace Ggaoed.Ctl;

/// <summary>ggaoectl's side of the control socket (see <see cref="ControlServer"/> for the protocol).</summary>
internal static unsafe class ControlClient
{
    /// <summary>Sends one command; returns false with a message when the daemon can't be reached.</summary>
    public static bool TryCall(string socketPath, string[] words, out bool ok, out string reply)
    {
        ok = false;
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            reply = "socket: " + ErrnoText.Describe(Marshal.GetLastPInvokeError());
            return false;
        }
        try
        {
            sockaddr_un addr = default;
            addr.sun_family = Libc.AF_UNIX;
            byte[] path = Encoding.UTF8.GetBytes(socketPath);
            if (path.Length >= 108)
            {
                reply = $"control socket path {socketPath} is too long";
                return false;
            }
            path.CopyTo(new Span<byte>(addr.sun_path, 108));
            if (Libc.connect(fd, &addr, (uint)(2 + path.Length + 1)) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                reply = $"cannot connect to ggaoed at {socketPath}: {ErrnoText.Describe(errno)}" +
                        (errno == (int)Errno.ENOENT || errno == (int)Errno.ECONNREFUSED ? " (is ggaoed running? see -s / control-socket)" : "");
                return false;
            }
            byte[] request = Encoding.UTF8.GetBytes(string.Join('\0', words) + "\n");
            fixed (byte* p = request)
            {
                int sent = 0;
                while (sent < request.Length)
                {
                    nint n = Libc.send(fd, p + sent, (nuint)(request.Length - sent), Libc.MSG_NOSIGNAL);
                    if (n <= 0)
                    {
                        reply = "send: " + ErrnoText.Describe(Marshal.GetLastPInvokeError());
                        return false;
                    }
                    sent += (int)n;
                }
            }
            var response = new MemoryStream();
            byte* buf = stackalloc byte[8192];
            while (true)
            {
                nint n = Libc.recv(fd, buf, 8192, 0);
                if (n <= 0)
                    break;
                response.Write(new ReadOnlySpan<byte>(buf, (int)n));
            }
            string text = Encoding.UTF8.GetString(response.GetBuffer(), 0, (int)response.Length);
            int nl = text.IndexOf('\n');
            if (nl < 0)
            {
                reply = "ggaoed closed the control connection without an answer";
                return false;
            }
            ok = text.AsSpan(0, nl).SequenceEqual("OK");
            reply = text.Substring(nl + 1);
            return true;
        }
        finally
        {
            Libc.close(fd);
        }
    }
}
