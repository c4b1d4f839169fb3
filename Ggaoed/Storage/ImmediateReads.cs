using System;
using System.Globalization;
using System.IO;

namespace Ggaoed.Storage;

/// <summary>Which <see cref="ImmediateReadMode"/> a store gets (see <see cref="StorageEngine.TryReadNow"/>).</summary>
public static class ImmediateReads
{
    private static string? s_release;

    /// <summary>The mode for a store on the running kernel.</summary>
    public static ImmediateReadMode For(bool directIo, bool inMemory) => For(directIo, inMemory, KernelRelease);

    /// <summary>
    /// A memory file system: a plain pread (no disk to wait for; tmpfs refuses RWF_NOWAIT). O_DIRECT on
    /// a disk: none (the read waits for the disk whatever we do). A buffered store: RWF_NOWAIT, except
    /// on Linux 5.9 and 5.10, where a buffered RWF_NOWAIT read may return 0 before the end of the file
    /// (man readv(2), BUGS), which would read as end of file and fail the request.
    /// </summary>
    public static ImmediateReadMode For(bool directIo, bool inMemory, string kernelRelease)
    {
        if (inMemory)
            return ImmediateReadMode.InMemory;
        if (directIo)
            return ImmediateReadMode.None;
        return NoWaitReadsAreReliable(kernelRelease) ? ImmediateReadMode.NoWait : ImmediateReadMode.None;
    }

    /// <summary>False on 5.9 and 5.10 ("5.10.0-23-amd64"); true otherwise, and for a release we cannot parse.</summary>
    public static bool NoWaitReadsAreReliable(string kernelRelease)
    {
        string[] parts = kernelRelease.Split('.', 3);
        if (parts.Length < 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int major))
            return true;
        string minorText = parts[1];
        int end = 0;
        while (end < minorText.Length && char.IsAsciiDigit(minorText[end]))
            end++;
        if (!int.TryParse(minorText.AsSpan(0, end), NumberStyles.None, CultureInfo.InvariantCulture, out int minor))
            return true;
        return !(major == 5 && (minor == 9 || minor == 10));
    }

    /// <summary>The running kernel's release (uname -r), read once.</summary>
    public static string KernelRelease
    {
        get
        {
            if (s_release == null)
            {
                try
                {
                    s_release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
                }
                catch (IOException)
                {
                    s_release = "";
                }
            }
            return s_release;
        }
    }
}
