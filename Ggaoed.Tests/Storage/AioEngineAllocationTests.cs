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
public class AioEngineAllocationTests
{
    private const int Sector = 512;
    private readonly ITestOutputHelper _output;

    public AioEngineAllocationTests(ITestOutputHelper output) => _output = output;

    private struct Releaser : ICompletionHandler
    {
        public AioEngine<LinuxAioKernel> Engine;
        public long Failures;
        public long Bytes;

        public void OnCompleted(int slot, int result)
        {
            if (result < 0)
                Failures++;
            else
                Bytes += result;
            Engine.ReleaseSlot(slot);
        }
    }

    /// <summary>A reactor-shaped loop: random reads and writes, sequential bursts, refill every freed slot.</summary>
    private static long Drive(AioEngine<LinuxAioKernel> engine, EventFdWaiter waiter, ref Releaser handler, ref ulong state, long requests, ulong sectors)
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
            if (!waiter.Wait(30_000))
                throw new TimeoutException();
            done += engine.ReapCompletions(ref handler);
        }
        return done;
    }

    [Fact]
    public void HundredThousandRequests_ThroughTheRealEngine_AllocateNothing_AndTriggerNoGc()
    {
        using var tmp = new TempStore(16 << 20);
        using BackingStore store = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: false);
        using var engine = new AioEngine<LinuxAioKernel>(default, store.Fd, store.Sectors, store.LogicalBlockSize,
            new AioEngineOptions { QueueLength = 32, SlotBytes = 17 * Sector });
        using var waiter = new EventFdWaiter(engine.EventFd);
        var handler = new Releaser { Engine = engine };
        ulong state = 12345;

        Drive(engine, waiter, ref handler, ref state, 5_000, store.Sectors); // warm-up: JIT, tier-up, statics
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        int gen0 = GC.CollectionCount(0);

        long done = Drive(engine, waiter, ref handler, ref state, 100_000, store.Sectors);

        long delta = GC.GetAllocatedBytesForCurrentThread() - allocated;
        int collections = GC.CollectionCount(0) - gen0;
        _output.WriteLine($"requests {done}, allocated {delta} B, gen0 GCs {collections}, iocbs {engine.Counters.IocbsSubmitted}, merged {engine.Counters.MergedRequests}, submits {engine.Counters.SubmitCalls}");
        Assert.Equal(100_000, done);
        Assert.Equal(0, handler.Failures);
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
