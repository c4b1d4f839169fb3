using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>Blocks on an engine's eventfd with epoll (benchmarks and tests; the daemon has its reactor).</summary>
internal sealed unsafe class EventFdWaiter : IDisposable
{
    private int _epfd;

    public EventFdWaiter(int eventFd, bool edgeTriggered = false)
    {
        _epfd = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        if (_epfd < 0)
            Fail("epoll_create1");
        epoll_event ev = new() { events = Libc.EPOLLIN | (edgeTriggered ? Libc.EPOLLET : 0), data = 1 };
        if (Libc.epoll_ctl(_epfd, Libc.EPOLL_CTL_ADD, eventFd, &ev) < 0)
            Fail("epoll_ctl");
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for the eventfd to become readable.</summary>
    public bool Wait(int timeoutMs)
    {
        epoll_event ev;
        int r;
        do
            r = Libc.epoll_wait(_epfd, &ev, 1, timeoutMs);
        while (r < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR);
        return r > 0;
    }

    public void Dispose()
    {
        if (_epfd >= 0)
            Libc.close(_epfd);
        _epfd = -1;
    }

    [DoesNotReturn]
    private static void Fail(string call)
    {
        int errno = Marshal.GetLastPInvokeError();
        throw new StorageException(call + ": " + ErrnoText.Describe(errno), errno);
    }
}

/// <summary>Figures from one <see cref="StorageBench.SequentialWrites"/> run.</summary>
public readonly struct StorageBenchResult
{
    public long Requests { get; init; }
    public long Iocbs { get; init; }
    public long SubmitCalls { get; init; }
    public long MergedRequests { get; init; }
    public long Bytes { get; init; }
    public long ElapsedNanos { get; init; }

    public double IocbsPerRequest => Requests == 0 ? 0 : (double)Iocbs / Requests;

    public double MegabytesPerSecond => ElapsedNanos == 0 ? 0 : Bytes / 1e6 / (ElapsedNanos / 1e9);

    public double RequestsPerSecond => ElapsedNanos == 0 ? 0 : Requests / (ElapsedNanos / 1e9);
}

/// <summary>
/// A storage-only load: sequential writes of one size through an <see cref="AioEngine{TKernel}"/> with
/// a fixed number outstanding, as a reactor would drive it (refill every freed slot, one SubmitPending
/// per turn, wait on the eventfd). Compare <see cref="MergeLimits.Default"/> with
/// <see cref="MergeLimits.NoMerging"/> to see what merging buys.
/// </summary>
public static class StorageBench
{
    /// <param name="path">A file to (over)write; created and sized to <paramref name="fileBytes"/> if needed.</param>
    public static StorageBenchResult SequentialWrites(string path, long fileBytes, int requestBytes, int queueDepth, long requests, MergeLimits limits, bool directIo)
    {
        if (requestBytes % Sector.Size != 0 || requestBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(requestBytes), "must be a positive multiple of 512");
        using (var f = new System.IO.FileStream(path, System.IO.FileMode.OpenOrCreate, System.IO.FileAccess.Write))
        {
            if (f.Length < fileBytes)
                f.SetLength(fileBytes);
        }

        using BackingStore store = BackingStore.Open(path, readOnly: false, directIo);
        using var engine = new AioEngine<LinuxAioKernel>(default, store.Fd, store.Sectors, store.LogicalBlockSize,
            new EngineOptions { QueueLength = queueDepth, SlotBytes = requestBytes, Limits = limits });
        using var waiter = new EventFdWaiter(engine.EventFd);
        for (int s = 0; s < queueDepth; s++)
            engine.SlotBuffer(s).Fill((byte)(s + 1));

        int sectors = requestBytes / Sector.Size;
        ulong span = store.Sectors / (ulong)sectors * (ulong)sectors;
        ulong lba = 0;
        long issued = 0;
        long done = 0;
        long failed = 0;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        while (done < requests)
        {
            while (issued < requests && engine.TryAcquireSlot(out int slot))
            {
                engine.Enqueue(slot, IoKind.Write, lba, sectors);
                lba = (lba + (ulong)sectors) % span;
                issued++;
            }
            engine.SubmitPending();
            if (!waiter.Wait(30_000))
                throw new TimeoutException("no completion within 30 s");
            foreach (IoCompletion c in engine.Reap())
            {
                if (c.Result < 0)
                    failed++;
                engine.ReleaseSlot(c.Slot);
                done++;
            }
        }
        long elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks * 100;
        if (failed > 0)
            throw new System.IO.IOException(failed + " benchmark writes failed");
        return new StorageBenchResult
        {
            Requests = requests,
            Iocbs = engine.Counters.IocbsSubmitted,
            SubmitCalls = engine.Counters.SubmitCalls,
            MergedRequests = engine.Counters.MergedRequests,
            Bytes = requests * requestBytes,
            ElapsedNanos = elapsed,
        };
    }
}
