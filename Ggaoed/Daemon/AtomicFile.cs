using System;
using System.IO;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>
/// Replaces a file so that after a crash either the old or the new contents exist, never a torn mix:
/// write a temp file in the same directory, fsync it, rename over the target, fsync the directory.
/// </summary>
internal static unsafe class AtomicFile
{
    public static void Write(string path, ReadOnlySpan<byte> contents)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string temp = Path.Combine(dir, "." + Path.GetFileName(path) + ".tmp");
        int fd = CreateTemp(temp);
        try
        {
            fixed (byte* p = contents)
            {
                int done = 0;
                while (done < contents.Length)
                {
                    nint n = Libc.write(fd, p + done, (nuint)(contents.Length - done));
                    if (n < 0)
                    {
                        if (Marshal.GetLastPInvokeError() == (int)Errno.EINTR)
                            continue;
                        SystemError.ThrowLast($"cannot write {temp}");
                    }
                    done += (int)n;
                }
            }
            if (Libc.fsync(fd) != 0)
                SystemError.ThrowLast($"cannot fsync {temp}");
        }
        finally
        {
            Libc.close(fd);
        }
        if (Libc.rename(temp, path) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Libc.unlink(temp);
            throw new SystemError($"cannot rename {temp} to {path}", errno);
        }
        int dfd = Libc.open(dir, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (dfd >= 0)
        {
            Libc.fsync(dfd);
            Libc.close(dfd);
        }
    }

    /// <summary>
    /// O_EXCL | O_NOFOLLOW: the temp file is created new, never opened through a symlink someone
    /// planted under its predictable name (it would make root truncate the link's target). A leftover
    /// of a crash between create and rename is unlinked (unlink removes a link itself, never its
    /// target) and the create tried once more.
    /// </summary>
    private static int CreateTemp(string temp)
    {
        const int flags = Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC;
        int fd = Libc.open(temp, flags, 0x180 /* 0600 */);
        if (fd < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EEXIST && Libc.unlink(temp) == 0)
            fd = Libc.open(temp, flags, 0x180);
        if (fd < 0)
            SystemError.ThrowLast($"cannot create {temp}");
        return fd;
    }
}
