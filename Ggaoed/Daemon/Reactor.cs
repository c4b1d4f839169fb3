using System;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>Something the reactor wakes when its file descriptor is ready.</summary>
internal interface IEventHandler
{
    void OnEvents(uint events);
}

/// <summary>Work done once at the end of every loop turn (batched io_submit, one TX kick).</summary>
internal interface ITurnHandler
{
    void OnEndOfTurn();
}

/// <summary>Tells the reactor whether an event is due soon (I/O in flight), so busy polling may pay off.</summary>
internal interface IBusyPollAdvisor
{
    bool ExpectsEventSoon { get; }
}

/// <summary>
/// The single-threaded epoll loop that owns every descriptor of the daemon. Registrations are integer
/// tokens into a preallocated table; <c>epoll_event.data</c> carries (generation &lt;&lt; 32 | slot), so an
/// event that was already queued for a descriptor removed earlier in the same turn is recognised as stale
/// and dropped instead of reaching the handler that now owns the slot.
/// <para>An exception from a handler is contained where it is dispatched (<see cref="HandlerFaults"/>):
/// counted (<see cref="HandlerFailures"/>), handed to <see cref="FaultSink"/> (which puts the device or
/// port behind the handler into error) or, without one, logged (rate-limited); the other events of the
/// turn and the end-of-turn handlers still run. Only a failing epoll_wait ends the loop.</para>
/// </summary>
internal sealed unsafe class Reactor : IDisposable
{
    private const int MaxEventsPerWait = 256;

    private readonly int _epfd;
    private IEventHandler?[] _handlers = new IEventHandler?[64];
    private int[] _fds = new int[64];
    private uint[] _generations = new uint[64];
    private readonly epoll_event* _events;
    private ITurnHandler[] _turnHandlers = new ITurnHandler[8];
    private int _turnHandlerCount;
    private bool _stopRequested;
    private bool _lastTurnHadEvents;

    public Reactor()
    {
        _epfd = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        if (_epfd < 0)
            SystemError.ThrowLast("epoll_create1");
        _events = (epoll_event*)NativeMemory.AllocZeroed((nuint)(MaxEventsPerWait * sizeof(epoll_event)));
        Array.Fill(_fds, -1);
    }

    /// <summary>Loop turns run so far (for tests and stats).</summary>
    public long Turns { get; private set; }

    /// <summary>
    /// How long (Stopwatch ticks) to poll with a zero timeout before sleeping in epoll_wait, after a
    /// turn that had events or while <see cref="PollAdvisor"/> expects one soon; 0 = never poll (the
    /// busy-poll key). An idle daemon sleeps after one unanswered poll. An idle CPU
    /// takes tens of µs to wake (a deep C-state; a halted vCPU needs the hypervisor), and with a disk
    /// that is paid once per completion, not once per batch as in a local fio run.
    /// </summary>
    public long BusyPollTicks { get; set; }

    public IBusyPollAdvisor? PollAdvisor { get; set; }

    /// <summary>Hears about every exception a handler threw (the daemon); null: they are only logged.</summary>
    public IHandlerFaultSink? FaultSink { get; set; }

    /// <summary>Exceptions thrown by handlers and contained (see the class summary).</summary>
    public long HandlerFailures { get; private set; }

    private LogLimiter _faultLimiter;

    /// <summary>Turns whose events were found by polling instead of sleeping.</summary>
    public long BusyPollHits { get; private set; }

    /// <summary>Polls that ran out (the reactor slept after all).</summary>
    public long BusyPollMisses { get; private set; }

    public bool StopRequested => _stopRequested;

    public void RequestStop() => _stopRequested = true;

    /// <summary>Watches <paramref name="fd"/> for <paramref name="events"/>; returns the registration token.</summary>
    public int Add(int fd, uint events, IEventHandler handler)
    {
        int slot = Array.IndexOf(_handlers, null);
        if (slot < 0)
        {
            slot = _handlers.Length;
            Array.Resize(ref _handlers, slot * 2);
            Array.Resize(ref _fds, slot * 2);
            Array.Resize(ref _generations, slot * 2);
            Array.Fill(_fds, -1, slot, slot);
        }
        _generations[slot]++;
        epoll_event ev = new() { events = events, data = ((ulong)_generations[slot] << 32) | (uint)slot };
        if (Libc.epoll_ctl(_epfd, Libc.EPOLL_CTL_ADD, fd, &ev) != 0)
            SystemError.ThrowLast($"epoll_ctl(ADD, fd {fd})");
        _handlers[slot] = handler;
        _fds[slot] = fd;
        return slot;
    }

    /// <summary>Changes the event mask of a registration (e.g. adds EPOLLOUT while a TX ring is full).</summary>
    public void Modify(int token, uint events)
    {
        epoll_event ev = new() { events = events, data = ((ulong)_generations[token] << 32) | (uint)token };
        if (Libc.epoll_ctl(_epfd, Libc.EPOLL_CTL_MOD, _fds[token], &ev) != 0)
            SystemError.ThrowLast($"epoll_ctl(MOD, fd {_fds[token]})");
    }

    /// <summary>Stops watching; call before closing the descriptor.</summary>
    public void Remove(int token)
    {
        if ((uint)token >= (uint)_handlers.Length || _handlers[token] == null)
            return;
        // EBADF/ENOENT here only means the fd is already gone, which is what we want.
        Libc.epoll_ctl(_epfd, Libc.EPOLL_CTL_DEL, _fds[token], null);
        _handlers[token] = null;
        _fds[token] = -1;
        _generations[token]++;
    }

    public void AddTurnHandler(ITurnHandler handler)
    {
        if (_turnHandlerCount == _turnHandlers.Length)
            Array.Resize(ref _turnHandlers, _turnHandlerCount * 2);
        _turnHandlers[_turnHandlerCount++] = handler;
    }

    public void RemoveTurnHandler(ITurnHandler handler)
    {
        int i = Array.IndexOf(_turnHandlers, handler, 0, _turnHandlerCount);
        if (i < 0)
            return;
        _turnHandlers[i] = _turnHandlers[--_turnHandlerCount];
        _turnHandlers[_turnHandlerCount] = null!;
    }

    /// <summary>Runs turns until <see cref="RequestStop"/>.</summary>
    public void Run()
    {
        while (!_stopRequested)
            RunOnce(-1);
    }

    /// <summary>
    /// One turn: wait (at most <paramref name="timeoutMs"/>, -1 = forever), dispatch every ready
    /// descriptor, then run the end-of-turn handlers. Returns the number of events dispatched.
    /// </summary>
    public int RunOnce(int timeoutMs)
    {
        int n = Wait(timeoutMs);
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != (int)Errno.EINTR)
                throw new SystemError("epoll_wait", errno);
            n = 0;
        }
        _lastTurnHadEvents = n > 0;
        for (int i = 0; i < n; i++)
        {
            ulong data = _events[i].data;
            int slot = (int)(uint)data;
            uint generation = (uint)(data >> 32);
            if ((uint)slot >= (uint)_handlers.Length || _generations[slot] != generation)
                continue;
            IEventHandler? handler = _handlers[slot];
            if (handler == null)
                continue;
            try
            {
                handler.OnEvents(_events[i].events);
            }
            catch (Exception e) when (HandlerFaults.IsContainable(e))
            {
                Contain(handler, e);
            }
        }
        for (int i = 0; i < _turnHandlerCount; i++)
        {
            try
            {
                _turnHandlers[i].OnEndOfTurn();
            }
            catch (Exception e) when (HandlerFaults.IsContainable(e))
            {
                Contain(_turnHandlers[i], e);
            }
        }
        Turns++;
        return n;
    }

    private void Contain(object handler, Exception e)
    {
        HandlerFailures++;
        if (FaultSink != null)
        {
            FaultSink.OnHandlerFault(handler, e);
            return;
        }
        if (_faultLimiter.ShouldLog(TimerFd.NowNanos(), out long suppressed))
            Log.Error($"a {handler.GetType().Name} handler failed and was skipped{(suppressed > 0 ? $" ({suppressed} more not logged)" : "")}: {e}");
    }

    private int Wait(int timeoutMs)
    {
        // Poll while the last turn had work (more is likely to follow: the initiator answers our
        // replies with new requests within tens of µs) or while the kernel owes us a completion.
        if (BusyPollTicks > 0 && timeoutMs != 0 && (_lastTurnHadEvents || PollAdvisor is { ExpectsEventSoon: true }))
        {
            long deadline = Stopwatch.GetTimestamp() + BusyPollTicks;
            do
            {
                int n = Libc.epoll_wait(_epfd, _events, MaxEventsPerWait, 0);
                if (n != 0)
                {
                    if (n > 0)
                        BusyPollHits++;
                    return n;
                }
            }
            while (Stopwatch.GetTimestamp() < deadline && !_stopRequested);
            BusyPollMisses++;
        }
        return Libc.epoll_wait(_epfd, _events, MaxEventsPerWait, timeoutMs);
    }

    public void Dispose()
    {
        Libc.close(_epfd);
        NativeMemory.Free(_events);
    }
}
