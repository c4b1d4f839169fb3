using System;

namespace Ggaoed.Daemon;

/// <summary>
/// An exception in one of the reactor's handlers is a bug (or a failure nobody planned for), and it
/// must not take the storage down: each dispatch point (the reactor's per-event and per-turn calls,
/// the daemon's end-of-turn work per device and per port, a reload's apply step) catches it, logs it
/// (rate-limited), counts it (<c>handler_failures</c>) and puts the device or port concerned into an
/// error state; everything else keeps serving. Out of memory is not contained: nothing sensible can
/// follow it.
/// </summary>
internal static class HandlerFaults
{
    public static bool IsContainable(Exception e) => e is not OutOfMemoryException;

    /// <summary>What an admin reads in the log and in <c>ggaoectl stats</c>: the step and the exception, one line.</summary>
    public static string Reason(string step, Exception e) => $"{step}: {e.GetType().Name}: {e.Message}";
}

/// <summary>Told about every exception the reactor contained, with the handler it came from.</summary>
internal interface IHandlerFaultSink
{
    void OnHandlerFault(object handler, Exception e);
}

/// <summary>
/// An exception that escaped one device's code while a port was handing it a frame: thrown on by the
/// port so the dispatch point faults that device, not the port (and the other devices on it).
/// </summary>
internal sealed class DeviceFaultException(ExportedDevice device, string step, Exception inner)
    : Exception(step + ": " + inner.Message, inner)
{
    public ExportedDevice Device { get; } = device;
    public string Step { get; } = step;
}

/// <summary>Where a test may inject a fault (<see cref="DaemonOptions.FaultInjector"/>).</summary>
internal enum FaultPoint
{
    /// <summary>A device handles its completions (the engine's eventfd, or the reap after a submit).</summary>
    DeviceCompletions,

    /// <summary>A reload prepares a device (opens, or works out new settings for, the named device).</summary>
    ReloadPrepareDevice,
}
