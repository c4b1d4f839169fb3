using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>
/// Detaching without fork(): a .NET process is multi-threaded, and fork() keeps only the calling thread,
/// so the runtime would be left broken. Instead the parent re-executes itself in the foreground with
/// <c>--ready-socket @name</c>, the child starts a new session, sets up everything and reports
/// "READY=1" (or "ERROR=text") over that abstract datagram socket, the same message format as
/// sd_notify. The parent exits 0 only once the daemon really serves, so init scripts see failures.
/// </summary>
internal static unsafe class Daemonizer
{
    private const int ReadyTimeoutMs = 60_000;

    /// <summary>Runs in the parent: starts the child and waits for its verdict; returns the exit code.</summary>
    public static int DetachAndWait(string[] originalArgs)
    {
        string name = $"ggaoed-ready-{Environment.ProcessId}-{Environment.TickCount64}";
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            Console.Error.WriteLine("ggaoed: cannot create the readiness socket: " + SystemError.Describe(Marshal.GetLastPInvokeError()));
            return 1;
        }
        try
        {
            sockaddr_un addr = default;
            addr.sun_family = Libc.AF_UNIX;
            byte[] nameBytes = Encoding.ASCII.GetBytes(name);
            nameBytes.CopyTo(new Span<byte>(addr.sun_path + 1, 107));
            if (Libc.bind(fd, &addr, (uint)(2 + 1 + nameBytes.Length)) != 0)
            {
                Console.Error.WriteLine("ggaoed: cannot bind the readiness socket: " + SystemError.Describe(Marshal.GetLastPInvokeError()));
                return 1;
            }
            var psi = new ProcessStartInfo(Environment.ProcessPath ?? "/proc/self/exe")
            {
                UseShellExecute = false,
            };
            foreach (string a in originalArgs)
                psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("--ready-socket");
            psi.ArgumentList.Add("@" + name);
            // The child must not inherit a systemd notify socket meant for us.
            psi.Environment.Remove("NOTIFY_SOCKET");
            using Process child = Process.Start(psi)!;

            timeval tv = new() { tv_sec = 1 };
            Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVTIMEO, &tv, (uint)sizeof(timeval));
            byte* buf = stackalloc byte[4096];
            var waited = Stopwatch.StartNew();
            while (waited.ElapsedMilliseconds < ReadyTimeoutMs)
            {
                nint n = Libc.recv(fd, buf, 4096, 0);
                if (n > 0)
                {
                    string msg = Encoding.UTF8.GetString(buf, (int)n);
                    if (msg.StartsWith("READY=1", StringComparison.Ordinal))
                        return 0;
                    if (msg.StartsWith("ERROR=", StringComparison.Ordinal))
                    {
                        Console.Error.Write(msg.Substring(6));
                        child.WaitForExit(5000);
                        return child.HasExited ? child.ExitCode : 1;
                    }
                }
                if (child.HasExited)
                    return child.ExitCode == 0 ? 1 : child.ExitCode;
            }
            Console.Error.WriteLine($"ggaoed: the daemon (pid {child.Id}) did not report readiness within {ReadyTimeoutMs / 1000} s");
            return 1;
        }
        finally
        {
            Libc.close(fd);
        }
    }

    /// <summary>Runs in the child once serving: leaves the parent's session, its terminal and its
    /// working directory (which would otherwise stay busy and block an unmount).</summary>
    public static void DetachFromTerminal()
    {
        Libc.setsid();
        System.IO.Directory.SetCurrentDirectory("/");
        int devnull = Libc.open("/dev/null", Libc.O_RDWR, 0);
        if (devnull >= 0)
        {
            Libc.dup2(devnull, 0);
            Libc.dup2(devnull, 1);
            Libc.dup2(devnull, 2);
            if (devnull > 2)
                Libc.close(devnull);
        }
    }
}
