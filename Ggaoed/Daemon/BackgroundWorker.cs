using System;
using System.Collections.Generic;
using System.Threading;

namespace Ggaoed.Daemon;

/// <summary>
/// Work the reactor must not wait for: it runs on <see cref="BackgroundWorker"/>'s thread
/// (<see cref="Run"/>), and its outcome is applied on the reactor thread (<see cref="Complete"/>).
/// Run must not touch anything the reactor owns; copy what it needs in when the job is made.
/// </summary>
internal abstract class BackgroundJob
{
    /// <summary>An exception <see cref="Run"/> threw, for <see cref="Complete"/> to report; null when it returned.</summary>
    public Exception? Failure { get; internal set; }

    /// <summary>On the worker thread: may block on disks (fsync), scan devices, read files.</summary>
    protected internal abstract void Run();

    /// <summary>On the reactor thread, after Run returned or threw (<see cref="Failure"/>).</summary>
    protected internal abstract void Complete();
}

/// <summary>
/// One helper thread for the daemon's slow, rare work: state saves (write, fsync, rename, fsync of the
/// directory: tens of milliseconds on a busy disk, seconds on a failing one) and configuration loads
/// (by-UUID scans read a superblock from every block device). Jobs run one at a time in the order they
/// were posted, so two saves of one file land in order. A finished job goes back to the reactor through
/// an eventfd (<see cref="Fd"/>, registered for EPOLLIN), where <see cref="OnEvents"/> runs its
/// Complete: results reach daemon state only on the reactor thread, so that state needs no locks.
/// One thread is enough: nothing here is on the data path, and a second would only reorder saves.
/// </summary>
internal sealed class BackgroundWorker : IEventHandler, IDisposable
{
    private readonly object _lock = new();
    private readonly Queue<BackgroundJob> _todo = new();
    private readonly Queue<BackgroundJob> _done = new();
    private readonly EventFd _wake = new();
    private readonly Thread _thread;
    private bool _stopping;
    private int _pending;

    public BackgroundWorker()
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = "ggaoed-worker" };
        _thread.Start();
    }

    /// <summary>Readable when finished jobs wait for <see cref="OnEvents"/>.</summary>
    public int Fd => _wake.Fd;

    /// <summary>Jobs posted whose Complete has not run yet (reactor thread only).</summary>
    public int Pending => _pending;

    /// <summary>Queues a job (reactor thread). Its Complete runs on a later turn, never inside Post.</summary>
    public void Post(BackgroundJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        lock (_lock)
        {
            if (_stopping)
                throw new ObjectDisposedException(nameof(BackgroundWorker));
            _todo.Enqueue(job);
            Monitor.Pulse(_lock);
        }
        _pending++;
    }

    /// <summary>The eventfd fired: completes every finished job, in the order they finished.</summary>
    public void OnEvents(uint events)
    {
        _wake.Drain();
        CompleteFinished();
    }

    private int CompleteFinished()
    {
        int n = 0;
        while (true)
        {
            BackgroundJob? job;
            lock (_lock)
            {
                if (!_done.TryDequeue(out job))
                    return n;
            }
            _pending--;
            n++;
            try
            {
                job.Complete();
            }
            catch
            {
                // The reactor contains the exception (HandlerFaults); the jobs that finished after this
                // one must not wait for another to finish: wake the loop for them.
                _wake.Signal();
                throw;
            }
        }
    }

    /// <summary>
    /// Waits (on the reactor thread: only at shutdown, when nothing else is served) until every posted
    /// job has completed or <paramref name="timeoutMs"/> passed; returns the number still pending.
    /// </summary>
    public int WaitForAll(int timeoutMs)
    {
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            CompleteFinished();
            if (_pending == 0)
                return 0;
            long left = deadline - Environment.TickCount64;
            if (left <= 0)
                return _pending;
            lock (_lock)
            {
                if (_done.Count == 0)
                    Monitor.Wait(_lock, (int)Math.Min(left, 100));
            }
        }
    }

    private void Loop()
    {
        while (true)
        {
            BackgroundJob job;
            lock (_lock)
            {
                while (_todo.Count == 0 && !_stopping)
                    Monitor.Wait(_lock);
                if (_todo.Count == 0)
                    return;
                job = _todo.Dequeue();
            }
            try
            {
                job.Run();
            }
            catch (Exception e)
            {
                // Reported by Complete on the reactor thread; the worker goes on with the next job.
                job.Failure = e;
            }
            lock (_lock)
            {
                _done.Enqueue(job);
                Monitor.PulseAll(_lock);
            }
            _wake.Signal();
        }
    }

    /// <summary>
    /// Lets the worker finish what was posted (a save in progress is not cut off mid-rename), then
    /// stops it. Completions not yet delivered are dropped: call <see cref="WaitForAll"/> first.
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_stopping)
                return;
            _stopping = true;
            Monitor.PulseAll(_lock);
        }
        _thread.Join();
        _wake.Dispose();
    }
}
