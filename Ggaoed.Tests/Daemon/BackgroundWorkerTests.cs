using System;
using System.Collections.Generic;
using System.Threading;
using Ggaoed.Daemon;
using Ggaoed.Native;
using Xunit;

namespace Ggaoed.Tests.Daemon;

public class BackgroundWorkerTests
{
    private sealed class Job(string name, List<string> log, ManualResetEventSlim? gate = null, bool fail = false) : BackgroundJob
    {
        public int RunThread;
        public int CompleteThread;

        protected internal override void Run()
        {
            RunThread = Environment.CurrentManagedThreadId;
            gate?.Wait(TimeSpan.FromSeconds(30));
            if (fail)
                throw new InvalidOperationException(name + " failed");
        }

        protected internal override void Complete()
        {
            CompleteThread = Environment.CurrentManagedThreadId;
            log.Add(Failure == null ? name : name + ": " + Failure.Message);
        }
    }

    /// <summary>Runs reactor turns until <paramref name="done"/> or 30 s.</summary>
    private static void TurnUntil(Reactor reactor, Func<bool> done)
    {
        long deadline = Environment.TickCount64 + 30_000;
        while (!done() && Environment.TickCount64 < deadline)
            reactor.RunOnce(100);
    }

    [Fact]
    public void Jobs_RunOnTheWorkerThread_AndCompleteOnTheReactorThread_InOrder()
    {
        using var reactor = new Reactor();
        using var worker = new BackgroundWorker();
        reactor.Add(worker.Fd, Libc.EPOLLIN, worker);
        var log = new List<string>();
        var jobs = new[] { new Job("a", log), new Job("b", log), new Job("c", log) };
        foreach (Job j in jobs)
            worker.Post(j);
        Assert.Equal(3, worker.Pending);
        Assert.Empty(log); // never inside Post

        TurnUntil(reactor, () => log.Count == 3);

        Assert.Equal(["a", "b", "c"], log);
        Assert.Equal(0, worker.Pending);
        int me = Environment.CurrentManagedThreadId;
        foreach (Job j in jobs)
        {
            Assert.NotEqual(me, j.RunThread);
            Assert.Equal(me, j.CompleteThread);
        }
    }

    [Fact]
    public void AJobThatBlocks_DoesNotStopTheReactor()
    {
        using var reactor = new Reactor();
        using var worker = new BackgroundWorker();
        reactor.Add(worker.Fd, Libc.EPOLLIN, worker);
        using var other = new EventFd();
        int otherEvents = 0;
        reactor.Add(other.Fd, Libc.EPOLLIN, new Handler(() => { other.Drain(); otherEvents++; }));
        var log = new List<string>();
        using var gate = new ManualResetEventSlim();
        worker.Post(new Job("slow", log, gate));

        // While the job sleeps on the gate (a save stuck on a slow disk), other descriptors are served.
        for (int i = 0; i < 3; i++)
        {
            other.Signal();
            reactor.RunOnce(1000);
        }
        Assert.Equal(3, otherEvents);
        Assert.Empty(log);

        gate.Set();
        TurnUntil(reactor, () => log.Count == 1);
        Assert.Equal(["slow"], log);
    }

    [Fact]
    public void AJobThatThrows_IsReportedToComplete_AndTheNextJobStillRuns()
    {
        using var reactor = new Reactor();
        using var worker = new BackgroundWorker();
        reactor.Add(worker.Fd, Libc.EPOLLIN, worker);
        var log = new List<string>();
        worker.Post(new Job("bad", log, fail: true));
        worker.Post(new Job("good", log));
        TurnUntil(reactor, () => log.Count == 2);
        Assert.Equal(["bad: bad failed", "good"], log);
    }

    [Fact]
    public void WaitForAll_CompletesEveryPostedJob_OrSaysHowManyAreLeft()
    {
        using var worker = new BackgroundWorker();
        var log = new List<string>();
        using var gate = new ManualResetEventSlim();
        worker.Post(new Job("stuck", log, gate));
        Assert.Equal(1, worker.WaitForAll(50));
        Assert.Empty(log);
        gate.Set();
        Assert.Equal(0, worker.WaitForAll(30_000));
        Assert.Equal(["stuck"], log);
    }

    [Fact]
    public void Dispose_FinishesQueuedJobs_ThenRefusesNewOnes()
    {
        var worker = new BackgroundWorker();
        var log = new List<string>();
        var a = new Job("a", log);
        worker.Post(a);
        worker.Dispose();
        Assert.NotEqual(0, a.RunThread); // ran before the thread stopped
        Assert.Throws<ObjectDisposedException>(() => worker.Post(new Job("late", log)));
    }

    private sealed class Handler(Action onEvents) : IEventHandler
    {
        public void OnEvents(uint events) => onEvents();
    }
}
