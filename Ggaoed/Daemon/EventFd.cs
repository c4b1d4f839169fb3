using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>A non-blocking eventfd: wake-ups from other threads (signal registrations) into the loop.</summary>
internal sealed unsafe class EventFd : System.IDisposable
{
    public EventFd()
    {
        Fd = Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC);
        if (Fd < 0)
            SystemError.ThrowLast("eventfd");
    }

    public int Fd { get; }

    /// <summary>Adds one; thread-safe (a write(2) of 8 bytes is atomic on an eventfd).</summary>
    public void Signal()
    {
        ulong one = 1;
        Libc.write(Fd, &one, 8);
    }

    /// <summary>Reads and resets the counter; 0 when nothing was signalled.</summary>
    public ulong Drain()
    {
        ulong value = 0;
        return Libc.read(Fd, &value, 8) == 8 ? value : 0;
    }

    public void Dispose() => Libc.close(Fd);
}

/// <summary>A monotonic, non-blocking timerfd armed with one-shot deadlines.</summary>
internal sealed unsafe class TimerFd : System.IDisposable
{
    public TimerFd()
    {
        Fd = Libc.timerfd_create(Libc.CLOCK_MONOTONIC, Libc.TFD_NONBLOCK | Libc.TFD_CLOEXEC);
        if (Fd < 0)
            SystemError.ThrowLast("timerfd_create");
    }

    public int Fd { get; }

    /// <summary>The deadline currently armed (CLOCK_MONOTONIC ns), or 0 when disarmed.</summary>
    public long ArmedAt { get; private set; }

    /// <summary>Arms a one-shot expiry at an absolute CLOCK_MONOTONIC time; 0 disarms.</summary>
    public void ArmAbsolute(long monotonicNanos)
    {
        if (monotonicNanos == ArmedAt)
            return;
        itimerspec spec = default;
        spec.it_value.tv_sec = monotonicNanos / 1_000_000_000;
        spec.it_value.tv_nsec = monotonicNanos % 1_000_000_000;
        // An all-zero it_value disarms; an absolute time in the past fires at once, which is what we want.
        Libc.timerfd_settime(Fd, monotonicNanos == 0 ? 0 : Libc.TFD_TIMER_ABSTIME, &spec, null);
        ArmedAt = monotonicNanos;
    }

    /// <summary>
    /// Arms for a scheduling deadline: <see cref="long.MaxValue"/> = none (disarms), <see cref="long.MinValue"/>
    /// or any time already past = at once. "Due now" is armed at 1 ns, a past absolute time that fires at
    /// once: passed through as is it became a negative timespec, which timerfd_settime refuses (EINVAL)
    /// while ArmedAt still recorded it, and the timer stayed silent; 0 would disarm.
    /// </summary>
    public void ArmDeadline(long deadline) => ArmAbsolute(deadline == long.MaxValue ? 0 : System.Math.Max(deadline, 1));

    /// <summary>Consumes an expiry (after EPOLLIN).</summary>
    public void Acknowledge()
    {
        ulong expirations;
        Libc.read(Fd, &expirations, 8);
        ArmedAt = 0;
    }

    public static long NowNanos()
    {
        timespec ts;
        Libc.clock_gettime(Libc.CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec;
    }

    public void Dispose() => Libc.close(Fd);
}
