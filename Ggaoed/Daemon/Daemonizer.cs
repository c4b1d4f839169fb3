using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>
/// Detaching without fork(): a .NET process is multi-threaded, and fork() keeps only the calling thread,
/// so the runtime would be left broken. Instead the parent re-executes itself in the foreground with
/// <c>--ready-fd N</c>, the write end of a pipe it inherits; the child starts a new session, sets up
/// everything and reports "READY=1" (or "ERROR=text") on that pipe, the same message format as
/// sd_notify. The parent exits 0 only once the daemon really serves, so init scripts see failures.
/// A pipe, not a named socket: only the child holds its write end, so no other local process can
/// report "ready" for it (an abstract socket name is writable by anyone who lists /proc/net/unix),
/// and a child that dies closes it, which the parent sees at once.
/// </summary>
internal static unsafe class Daemonizer
{
    private const int ReadyTimeoutMs = 60_000;

    /// <summary>Runs in the parent: starts the child and waits for its verdict; returns the exit code.</summary>
    public static int DetachAndWait(string[] originalArgs)
    {
        int* fds = stackalloc int[2];
        if (Libc.pipe2(fds, Libc.O_CLOEXEC) != 0)
        {
            Console.Error.WriteLine("ggaoed: cannot create the readiness pipe: " + ErrnoText.Describe(Marshal.GetLastPInvokeError()));
            return 1;
        }
        int readEnd = fds[0], writeEnd = fds[1];
        try
        {
            // Only the write end crosses exec; the read end stays close-on-exec.
            Libc.fcntl(writeEnd, Libc.F_SETFD, 0);
            var psi = new ProcessStartInfo(Environment.ProcessPath ?? "/proc/self/exe")
            {
                UseShellExecute = false,
            };
            foreach (string a in originalArgs)
                psi.ArgumentList.Add(a);
            psi.ArgumentList.Add("--ready-fd");
            psi.ArgumentList.Add(writeEnd.ToString(System.Globalization.CultureInfo.InvariantCulture));
            // The child must not inherit a systemd notify socket meant for us.
            psi.Environment.Remove("NOTIFY_SOCKET");
            using Process child = Process.Start(psi)!;
            // Ours closed, the child's copy is the only writer: EOF means it exited (or closed it).
            Libc.close(writeEnd);
            writeEnd = -1;
            return WaitForVerdict(readEnd, child);
        }
        finally
        {
            Libc.close(readEnd);
            if (writeEnd >= 0)
                Libc.close(writeEnd);
        }
    }

    private static int WaitForVerdict(int readEnd, Process child)
    {
        var received = new System.Collections.Generic.List<byte>();
        byte* buf = stackalloc byte[4096];
        var waited = Stopwatch.StartNew();
        while (waited.ElapsedMilliseconds < ReadyTimeoutMs)
        {
            pollfd p = new() { fd = readEnd, events = Libc.POLLIN };
            int ready = Libc.poll(&p, 1, 1000);
            if (ready < 0 && Marshal.GetLastPInvokeError() != (int)Errno.EINTR)
                break;
            if (ready <= 0)
                continue;
            nint n = Libc.read(readEnd, buf, 4096);
            if (n > 0)
            {
                received.AddRange(new ReadOnlySpan<byte>(buf, (int)n).ToArray());
                string msg = Encoding.UTF8.GetString(received.ToArray());
                if (msg.StartsWith("READY=1", StringComparison.Ordinal))
                    return 0;
                continue; // an ERROR= text is complete only at EOF
            }
            if (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR)
                continue;
            // EOF: the child closed its end without saying READY=1.
            string text = Encoding.UTF8.GetString(received.ToArray());
            if (text.StartsWith("ERROR=", StringComparison.Ordinal))
                Console.Error.Write(text.Substring(6));
            child.WaitForExit(5000);
            if (!child.HasExited)
                return 1;
            return child.ExitCode == 0 ? 1 : child.ExitCode;
        }
        Console.Error.WriteLine($"ggaoed: the daemon (pid {child.Id}) did not report readiness within {ReadyTimeoutMs / 1000} s");
        return 1;
    }

    /// <summary>
    /// Runs in the child: sends the verdict ("READY=1" or "ERROR=text") to the waiting parent and
    /// closes the pipe, so the parent never waits on a descriptor we keep by accident.
    /// </summary>
    public static void ReportToParent(int fd, string message)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(message);
        fixed (byte* p = bytes)
        {
            int done = 0;
            while (done < bytes.Length)
            {
                nint n = Libc.write(fd, p + done, (nuint)(bytes.Length - done));
                if (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR)
                    continue;
                if (n <= 0)
                    break; // the parent is gone: nobody to tell
                done += (int)n;
            }
        }
        Libc.close(fd);
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
