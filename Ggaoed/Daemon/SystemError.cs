using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>A failed system call at an edge of the daemon (setup, reload), with errno and its text.</summary>
internal sealed class SystemError : Exception
{
    public SystemError(string what, int errno)
        : base(what + ": " + ErrnoText.Describe(errno)) => Errno = (Errno)errno;

    /// <summary>A start-up failure that has no errno (the message says it all).</summary>
    public SystemError(string message) : base(message) { }

    public Errno Errno { get; }

    /// <summary>Throws for the errno of the last P/Invoke. Not for hot paths: those count and go on.</summary>
    [DoesNotReturn]
    public static void ThrowLast(string what) => throw new SystemError(what, Marshal.GetLastPInvokeError());
}
