using System;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

internal enum LogLevel
{
    // syslog(3) priorities.
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// <summary>
/// The daemon's log: stderr in the foreground, syslog (the /dev/log datagram socket, written by hand so
/// the static binary needs no libc syslog state) when detached. Never on the per-frame path: the data
/// path counts and uses <see cref="LogLimiter"/> for bursts.
/// </summary>
internal static unsafe class Log
{
    private const int LOG_DAEMON = 3 << 3;
    private static int s_syslogFd = -1;
    private static bool s_toStderr = true;

    public static LogLevel Threshold { get; set; } = LogLevel.Info;

    /// <summary>Messages that could not be written (syslog socket missing or full).</summary>
    public static long Lost { get; private set; }

    /// <summary>For tests: sees every message written.</summary>
    public static Action<LogLevel, string>? Observer { get; set; }

    public static void UseStderr() => s_toStderr = true;

    /// <summary>Switches to syslog. Falls back to stderr when /dev/log can't be reached.</summary>
    public static void UseSyslog()
    {
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC | Libc.SOCK_NONBLOCK, 0);
        if (fd < 0)
            return;
        sockaddr_un addr = default;
        addr.sun_family = Libc.AF_UNIX;
        ReadOnlySpan<byte> path = "/dev/log"u8;
        path.CopyTo(new Span<byte>(addr.sun_path, 108));
        if (Libc.connect(fd, &addr, (uint)(2 + path.Length + 1)) != 0)
        {
            Libc.close(fd);
            return;
        }
        s_syslogFd = fd;
        s_toStderr = false;
    }

    public static void Error(string message) => Write(LogLevel.Error, message);
    public static void Warning(string message) => Write(LogLevel.Warning, message);
    public static void Notice(string message) => Write(LogLevel.Notice, message);
    public static void Info(string message) => Write(LogLevel.Info, message);
    public static void Debug(string message) => Write(LogLevel.Debug, message);

    public static bool IsEnabled(LogLevel level) => level <= Threshold;

    public static void Write(LogLevel level, string message)
    {
        if (level > Threshold)
            return;
        Observer?.Invoke(level, message);
        if (s_toStderr || s_syslogFd < 0)
        {
            Console.Error.WriteLine(level <= LogLevel.Warning ? $"ggaoed: {Prefix(level)}{message}" : "ggaoed: " + message);
            return;
        }
        string line = $"<{LOG_DAEMON | (int)level}>ggaoed[{Environment.ProcessId}]: {message}";
        byte[] bytes = Encoding.UTF8.GetBytes(line);
        fixed (byte* p = bytes)
        {
            if (Libc.send(s_syslogFd, p, (nuint)bytes.Length, Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL) < 0)
                Lost++;
        }
    }

    private static string Prefix(LogLevel level) => level == LogLevel.Error ? "error: " : "warning: ";
}

/// <summary>
/// Logs the first event of a burst, then stays quiet until <see cref="IntervalNanos"/> has passed and
/// reports how many were suppressed: "once per burst, not per request".
/// </summary>
internal struct LogLimiter
{
    public const long IntervalNanos = 10_000_000_000;

    private long _windowStart;
    private long _suppressed;

    /// <summary>True when this event should be logged; <paramref name="suppressed"/> tells how many were
    /// swallowed since the last logged one.</summary>
    public bool ShouldLog(long nowNanos, out long suppressed)
    {
        if (_windowStart != 0 && nowNanos - _windowStart < IntervalNanos)
        {
            _suppressed++;
            suppressed = 0;
            return false;
        }
        suppressed = _suppressed;
        _suppressed = 0;
        _windowStart = nowNanos;
        return true;
    }
}
