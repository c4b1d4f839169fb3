using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>A failed system call at an edge of the daemon (setup, reload), with errno and its text.</summary>
internal sealed class SystemError : Exception
{
    public SystemError(string what, int errno)
        : base($"{what}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})") => Errno = (Errno)errno;

    public Errno Errno { get; }

    /// <summary>Throws for the errno of the last P/Invoke. Not for hot paths: those count and go on.</summary>
    [DoesNotReturn]
    public static void ThrowLast(string what) => throw new SystemError(what, Marshal.GetLastPInvokeError());

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
