using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// A network setup call failed. Carries the interface name and errno so the daemon can log
/// "eth0: SIOCGIFMTU: No such device (ENODEV)" and decide (ENODEV: interface gone, skip it).
/// Thrown only at the edges (opening, re-reading facts), never from the per-frame paths.
/// </summary>
internal sealed class NetworkException : Exception
{
    public NetworkException(string interfaceName, string operation, int errno)
        : base(interfaceName + ": " + operation + ": " + ErrnoText.Describe(errno))
    {
        InterfaceName = interfaceName;
        Operation = operation;
        Errno = errno;
    }

    public NetworkException(string interfaceName, string message)
        : base(interfaceName + ": " + message)
    {
        InterfaceName = interfaceName;
        Operation = "";
    }

    public string InterfaceName { get; }

    public string Operation { get; }

    /// <summary>The errno of the failed call, 0 when the failure was not a syscall's.</summary>
    public int Errno { get; }

    /// <summary>Throws with the errno of the P/Invoke that just failed.</summary>
    [DoesNotReturn]
    public static void ThrowLast(string interfaceName, string operation) =>
        throw new NetworkException(interfaceName, operation, Marshal.GetLastPInvokeError());
}
