using System;
using System.IO;
using System.Threading;
using Ggaoed.Ctl;
using Ggaoed.Daemon;
using Ggaoed.Native;
using Xunit;

namespace Ggaoed.Tests.Daemon;

public class ReactorTests
{
    private sealed class Counter : IEventHandler, ITurnHandler
    {
        public EventFd Fd = new();
        public int Events;
        public int Turns;
        public void OnEvents(uint events) { Events++; Fd.Drain(); }
        public void OnEndOfTurn() => Turns++;
    }

    [Fact]
    public void ReadyDescriptor_IsDispatched_AndTurnHandlersRunEveryTurn()
    {
        using var reactor = new Reactor();
        var c = new Counter();
        reactor.Add(c.Fd.Fd, Libc.EPOLLIN, c);
        reactor.AddTurnHandler(c);
        Assert.Equal(0, reactor.RunOnce(0));
        c.Fd.Signal();
        Assert.Equal(1, reactor.RunOnce(1000));
        Assert.Equal(1, c.Events);
        Assert.Equal(2, c.Turns);
    }

    private sealed class Advisor : IBusyPollAdvisor
    {
        public bool Expect;
        public bool ExpectsEventSoon => Expect;
    }

    [Fact]
    public void BusyPoll_FindsAnEventThatArrivesWhilePolling_WithoutSleeping()
    {
        using var reactor = new Reactor();
        var c = new Counter();
        reactor.Add(c.Fd.Fd, Libc.EPOLLIN, c);
        var advisor = new Advisor { Expect = true };
        reactor.PollAdvisor = advisor;
        // 10 s: the event comes after 20 ms, but from a thread-pool timer, which a loaded machine may delay.
        reactor.BusyPollTicks = 10 * System.Diagnostics.Stopwatch.Frequency;

        using var signaller = new Timer(_ => c.Fd.Signal(), null, 20, Timeout.Infinite);
        Assert.Equal(1, reactor.RunOnce(-1));
        Assert.Equal(1, c.Events);
        Assert.Equal(1, reactor.BusyPollHits);
        Assert.Equal(0, reactor.BusyPollMisses);
    }

    [Fact]
    public void BusyPoll_AfterATurnWithEvents_PollsEvenWithNothingInFlight()
    {
        using var reactor = new Reactor();
        var c = new Counter();
        reactor.Add(c.Fd.Fd, Libc.EPOLLIN, c);
        reactor.PollAdvisor = new Advisor { Expect = false };
        reactor.BusyPollTicks = 10 * System.Diagnostics.Stopwatch.Frequency; // as above

        c.Fd.Signal();
        Assert.Equal(1, reactor.RunOnce(1000)); // idle before: no poll, epoll_wait finds it
        Assert.Equal(0, reactor.BusyPollHits);

        using var signaller = new Timer(_ => c.Fd.Signal(), null, 20, Timeout.Infinite);
        Assert.Equal(1, reactor.RunOnce(-1)); // the last turn had work: poll for the next event
        Assert.Equal(1, reactor.BusyPollHits);
        Assert.Equal(2, c.Events);
    }

    [Fact]
    public void BusyPoll_RunsOut_ThenSleeps_AndIsSkippedWhenNothingIsExpected()
    {
        using var reactor = new Reactor();
        var c = new Counter();
        reactor.Add(c.Fd.Fd, Libc.EPOLLIN, c);
        var advisor = new Advisor { Expect = true };
        reactor.PollAdvisor = advisor;
        reactor.BusyPollTicks = System.Diagnostics.Stopwatch.Frequency / 10_000; // 100 µs

        Assert.Equal(0, reactor.RunOnce(5)); // polls 100 µs, then sleeps 5 ms: nothing came
        Assert.Equal(0, reactor.BusyPollHits);
        Assert.Equal(1, reactor.BusyPollMisses);

        advisor.Expect = false; // no I/O in flight: straight to sleep, and the event is found by epoll_wait
        c.Fd.Signal();
        Assert.Equal(1, reactor.RunOnce(1000));
        Assert.Equal(0, reactor.BusyPollHits);
        Assert.Equal(1, reactor.BusyPollMisses);

        advisor.Expect = true; // a zero timeout never polls (it is a poll already)
        Assert.Equal(0, reactor.RunOnce(0));
        Assert.Equal(1, reactor.BusyPollMisses);
    }

    [Fact]
    public void RemovedRegistration_ReceivesNoMoreEvents_AndItsSlotIsReused()
    {
        using var reactor = new Reactor();
        var a = new Counter();
        var b = new Counter();
        int ta = reactor.Add(a.Fd.Fd, Libc.EPOLLIN, a);
        reactor.Remove(ta);
        a.Fd.Signal();
        int tb = reactor.Add(b.Fd.Fd, Libc.EPOLLIN, b);
        Assert.Equal(ta, tb);
        Assert.Equal(0, reactor.RunOnce(0));
        Assert.Equal(0, a.Events);
    }

    [Fact]
    public void TimerFd_FiresAtTheAbsoluteDeadline()
    {
        using var reactor = new Reactor();
        using var timer = new TimerFd();
        var h = new TimerHandler(timer);
        reactor.Add(timer.Fd, Libc.EPOLLIN, h);
        long start = TimerFd.NowNanos();
        timer.ArmAbsolute(start + 20_000_000);
        while (h.Fired == 0 && TimerFd.NowNanos() - start < 5_000_000_000)
            reactor.RunOnce(1000);
        Assert.Equal(1, h.Fired);
        Assert.True(TimerFd.NowNanos() - start >= 20_000_000);
    }

    private sealed class TimerHandler(TimerFd timer) : IEventHandler
    {
        public int Fired;
        public void OnEvents(uint events) { timer.Acknowledge(); Fired++; }
    }

    private sealed class Thrower : IEventHandler, ITurnHandler
    {
        public EventFd Fd = new();
        public bool ThrowOnTurn;
        public void OnEvents(uint events) { Fd.Drain(); throw new InvalidOperationException("a bug in a handler"); }
        public void OnEndOfTurn()
        {
            if (ThrowOnTurn)
                throw new InvalidOperationException("a bug at the end of the turn");
        }
    }

    private sealed class Sink : IHandlerFaultSink
    {
        public readonly System.Collections.Generic.List<(object Handler, Exception Error)> Faults = new();
        public void OnHandlerFault(object handler, Exception e) => Faults.Add((handler, e));
    }

    [Fact]
    public void AHandlerThatThrows_IsContained_CountedAndReported_AndTheRestOfTheTurnRuns()
    {
        using var reactor = new Reactor();
        var sink = new Sink();
        reactor.FaultSink = sink;
        var bad = new Thrower { ThrowOnTurn = true };
        var good = new Counter();
        reactor.Add(bad.Fd.Fd, Libc.EPOLLIN, bad);
        reactor.Add(good.Fd.Fd, Libc.EPOLLIN, good);
        reactor.AddTurnHandler(bad);
        reactor.AddTurnHandler(good);
        bad.Fd.Signal();
        good.Fd.Signal();

        // Before: the exception left RunOnce, and with it the daemon's loop.
        Assert.Equal(2, reactor.RunOnce(1000));
        Assert.Equal(1, good.Events);
        Assert.Equal(1, good.Turns);
        Assert.Equal(2, reactor.HandlerFailures); // the event and the end of the turn
        Assert.Equal(2, sink.Faults.Count);
        Assert.All(sink.Faults, f => Assert.Same(bad, f.Handler));
        Assert.Contains(sink.Faults, f => f.Error.Message == "a bug in a handler");

        // The loop goes on: the next turn dispatches as before.
        good.Fd.Signal();
        Assert.Equal(1, reactor.RunOnce(1000));
        Assert.Equal(2, good.Events);
        Assert.Equal(3, reactor.HandlerFailures); // the turn handler throws every turn
    }

    [Fact]
    public void LogLimiter_LogsFirstOfABurst_ThenCountsTheRest()
    {
        var limiter = new LogLimiter();
        Assert.True(limiter.ShouldLog(1, out long s0));
        Assert.Equal(0, s0);
        Assert.False(limiter.ShouldLog(2, out _));
        Assert.False(limiter.ShouldLog(3, out _));
        Assert.True(limiter.ShouldLog(2 + LogLimiter.IntervalNanos, out long s1));
        Assert.Equal(2, s1);
    }
}

public class ControlServerTests
{
    private sealed class Echo : IControlCommands
    {
        public System.Collections.Generic.IReadOnlyList<string> ReadOnlyCommands { get; } = ["show-config"];

        public (bool Ok, string Reply) Execute(string[] words)
            => words[0] == "fail" ? (false, "no such thing") : (true, string.Join("|", words) + "\n");
    }

    [Fact]
    public void Client_GetsTheAnswerOfItsCommand_WhileTheReactorRuns()
    {
        string dir = Directory.CreateTempSubdirectory("ggaoed-ctl-").FullName;
        string path = Path.Combine(dir, "ctl.sock");
        using var reactor = new Reactor();
        using var server = new ControlServer(reactor, path, new Echo());
        var loop = new Thread(() => { while (!reactor.StopRequested) reactor.RunOnce(50); });
        loop.Start();
        try
        {
            Assert.True(ControlClient.TryCall(path, new[] { "show-config", "disk one" }, out bool ok, out string reply));
            Assert.True(ok);
            Assert.Equal("show-config|disk one\n", reply);
            Assert.True(ControlClient.TryCall(path, new[] { "fail" }, out ok, out reply));
            Assert.False(ok);
            Assert.Equal("no such thing", reply);
        }
        finally
        {
            reactor.RequestStop();
            loop.Join();
        }
        Assert.False(ControlClient.TryCall(Path.Combine(dir, "missing.sock"), new[] { "stats" }, out _, out string err));
        Assert.Contains("is ggaoed running", err);
        Directory.Delete(dir, true);
    }
}

public class AtomicFileAndPidFileTests
{
    [Fact]
    public void AtomicWrite_ReplacesContents_AndLeavesNoTempFile()
    {
        string dir = Directory.CreateTempSubdirectory("ggaoed-af-").FullName;
        string file = Path.Combine(dir, "state");
        AtomicFile.Write(file, "one"u8);
        AtomicFile.Write(file, "two!"u8);
        Assert.Equal("two!", File.ReadAllText(file));
        Assert.Single(Directory.GetFiles(dir));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void AtomicWrite_NeverFollowsASymlinkPlantedAtTheTempName()
    {
        string dir = Directory.CreateTempSubdirectory("ggaoed-af-").FullName;
        string victim = Path.Combine(dir, "victim");
        File.WriteAllText(victim, "precious");
        string file = Path.Combine(dir, "dev.state");
        File.CreateSymbolicLink(Path.Combine(dir, ".dev.state.tmp"), victim);

        AtomicFile.Write(file, "state"u8);

        Assert.Equal("precious", File.ReadAllText(victim));
        Assert.Equal("state", File.ReadAllText(file));
        Assert.False(File.Exists(Path.Combine(dir, ".dev.state.tmp")));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void PidFile_ThatIsASymlink_IsRefused_AndItsTargetLeftAlone()
    {
        string dir = Directory.CreateTempSubdirectory("ggaoed-pid-").FullName;
        string victim = Path.Combine(dir, "victim");
        File.WriteAllText(victim, "precious");
        string file = Path.Combine(dir, "ggaoed.pid");
        File.CreateSymbolicLink(file, victim);

        PidFile? pid = PidFile.TryAcquire(file, out string? error);

        Assert.Null(pid);
        Assert.Contains("symbolic link", error);
        Assert.Equal("precious", File.ReadAllText(victim));
        Directory.Delete(dir, true);
    }

    [Fact]
    public void SecondPidFileLock_IsRefused_WithAClearMessage()
    {
        string dir = Directory.CreateTempSubdirectory("ggaoed-pid-").FullName;
        string file = Path.Combine(dir, "ggaoed.pid");
        using (PidFile? first = PidFile.TryAcquire(file, out string? e1))
        {
            Assert.NotNull(first);
            Assert.Null(e1);
            Assert.Equal(Environment.ProcessId.ToString(), Ggaoed.Tests.Support.Sh.Run($"cat {file}").Trim());
            // flock locks belong to the open file description, so a second open in the same process conflicts too.
            PidFile? second = PidFile.TryAcquire(file, out string? e2);
            Assert.Null(second);
            Assert.Contains("already running", e2);
            Assert.Contains(Environment.ProcessId.ToString(), e2);
        }
        Assert.False(File.Exists(file));
        Directory.Delete(dir, true);
    }
}
