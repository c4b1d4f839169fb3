using System;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>
/// The pid file, held with an exclusive flock for the daemon's lifetime, so a second instance fails
/// with a clear message instead of fighting over the same disks and sockets.
/// </summary>
internal sealed unsafe class PidFile : IDisposable
{
    private readonly int _fd;

    private PidFile(string path, int fd)
    {
        Path = path;
        _fd = fd;
    }

    public string Path { get; }

    /// <summary>Creates and locks the pid file, or returns null with a message saying why.</summary>
    public static PidFile? TryAcquire(string path, out string? error)
    {
        // O_NOFOLLOW: the pid file lives in a directory other users may write to on some systems
        // (/var/run on old ones, a misconfigured pid-file path): a symlink planted there must not make
        // root truncate and write whatever it points to.
        int fd = Libc.open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC | Libc.O_NOFOLLOW, 0x1A4 /* 0644 */);
        if (fd < 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            error = errno == (int)Errno.ELOOP
                ? $"pid file {path} is a symbolic link: remove it (the daemon never follows one there)"
                : $"cannot open pid file {path}: {ErrnoText.Describe(errno)}";
            return null;
        }
        if (Libc.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) != 0)
        {
            string other = ReadPid(fd);
            Libc.close(fd);
            error = $"another ggaoed is already running (pid file {path} is locked{(other.Length > 0 ? " by pid " + other : "")}); stop it first or use a different pid-file";
            return null;
        }
        Libc.ftruncate(fd, 0);
        byte[] text = Encoding.ASCII.GetBytes(Environment.ProcessId + "\n");
        fixed (byte* p = text)
            Libc.pwrite(fd, p, (nuint)text.Length, 0);
        error = null;
        return new PidFile(path, fd);
    }

    private static string ReadPid(int fd)
    {
        byte* buf = stackalloc byte[32];
        nint n = Libc.pread(fd, buf, 32, 0);
        return n > 0 ? Encoding.ASCII.GetString(buf, (int)n).Trim() : "";
    }

    public void Dispose()
    {
        Libc.unlink(Path);
        Libc.close(_fd);
    }
}
