using System;
using Ggaoed.Storage;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Storage;

/// <summary>GC counts are process-wide: nothing else may run while these measure.</summary>
[CollectionDefinition(nameof(SerialStorageCollection), DisableParallelization = true)]
public sealed class SerialStorageCollection
{
}

[Collection(nameof(SerialStorageCollection))]
public class EngineAllocationTests
{
    private const int Sector = 512;
    private readonly ITestOutputHelper _output;

    public EngineAllocationTests(ITestOutputHelper output) => _output = output;

    /// <summary>A reactor-shaped loop: random reads and writes, sequential bursts, refill every freed slot.</summary>
    private static long Drive(StorageEngine engine, EventFdWaiter waiter, ref ulong state, long requests, ulong sectors, ref long failures)
    {
        long issued = 0, done = 0;
        while (done < requests)
        {
            while (issued < requests && engine.TryAcquireSlot(out int slot))
            {
                state = state * 6364136223846793005UL + 1442695040888963407UL; // LCG: no Random allocation
                ulong r = state >> 33;
                int n = (int)(r % 17) + 1;
                ulong lba = (r >> 5) % (sectors - 17);
                if ((issued & 7) < 4)
                    lba = (ulong)(issued * 17 % (long)(sectors - 17)); // sequential part: merges
                engine.Enqueue(slot, (r & 1) == 0 ? IoKind.Read : IoKind.Write, lba, n);
                issued++;
            }
            engine.SubmitPending();
            ReadOnlySpan<IoCompletion> completed = engine.Reap();
            if (completed.Length == 0)
            {
                if (!waiter.Wait(30_000))
                    throw new TimeoutException();
                completed = engine.Reap();
            }
            foreach (IoCompletion c in completed)
            {
                if (c.Result < 0)
                    failures++;
                engine.ReleaseSlot(c.Slot);
                done++;
            }
        }
        return done;
    }

    [Theory]
    [EngineData(RealEngines.Aio, false)]
    [EngineData(RealEngines.Aio, true)]
    [EngineData(RealEngines.Uring, false)]
    [EngineData(RealEngines.Uring, true)]
    public void HundredThousandRequests_ThroughTheRealEngine_AllocateNothing_AndTriggerNoGc(string kind, bool direct)
    {
        using var tmp = new TempStore(16 << 20);
        using BackingStore store = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: direct);
        using StorageEngine engine = RealEngines.Create(kind, store, new EngineOptions { QueueLength = 32, SlotBytes = 17 * Sector, EdgeTriggeredEventFd = true });
        using var waiter = new EventFdWaiter(engine.EventFd, edgeTriggered: true);
        ulong state = 12345;
        long failures = 0;

        Drive(engine, waiter, ref state, 5_000, store.Sectors, ref failures); // warm-up: JIT, tier-up, statics
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        int gen0 = GC.CollectionCount(0);

        long done = Drive(engine, waiter, ref state, 100_000, store.Sectors, ref failures);

        long delta = GC.GetAllocatedBytesForCurrentThread() - allocated;
        int collections = GC.CollectionCount(0) - gen0;
        _output.WriteLine($"{kind} direct={direct}: requests {done}, allocated {delta} B, gen0 GCs {collections}, ops {engine.Counters.IocbsSubmitted}, merged {engine.Counters.MergedRequests}, submits {engine.Counters.SubmitCalls}");
        Assert.Equal(100_000, done);
        Assert.Equal(0, failures);
        Assert.Equal(0, delta);
        Assert.Equal(0, collections);
        Assert.True(engine.Counters.MergedRequests > 0);
    }
}

[Collection(nameof(SerialStorageCollection))]
public class StorageBenchTests
{
    private readonly ITestOutputHelper _output;

    public StorageBenchTests(ITestOutputHelper output) => _output = output;

    /// <summary>Not a timed assertion: prints figures; asserts only that merging reduces iocbs.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SequentialWrites_MergedVersusUnmerged(bool direct)
    {
        using var tmp = new TempStore(64 << 20);
        StorageBenchResult unmerged = StorageBench.SequentialWrites(tmp.FilePath, 64 << 20, 8192, 16, 20_000, MergeLimits.NoMerging, direct);
        StorageBenchResult merged = StorageBench.SequentialWrites(tmp.FilePath, 64 << 20, 8192, 16, 20_000, MergeLimits.Default, direct);
        _output.WriteLine($"direct={direct} 8 KiB sequential writes, q16, 20000 requests");
        _output.WriteLine($"  unmerged: {unmerged.IocbsPerRequest:F3} iocbs/request, {unmerged.SubmitCalls} io_submit, {unmerged.MegabytesPerSecond:F0} MB/s, {unmerged.RequestsPerSecond:F0} req/s");
        _output.WriteLine($"  merged:   {merged.IocbsPerRequest:F3} iocbs/request, {merged.SubmitCalls} io_submit, {merged.MegabytesPerSecond:F0} MB/s, {merged.RequestsPerSecond:F0} req/s");
        _output.WriteLine($"  throughput ratio merged/unmerged: {merged.MegabytesPerSecond / unmerged.MegabytesPerSecond:F2}");
        Assert.Equal(1.0, unmerged.IocbsPerRequest);
        Assert.True(merged.IocbsPerRequest < 0.5, "merged iocbs/request " + merged.IocbsPerRequest);
    }
}
