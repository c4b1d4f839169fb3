using System;
using System.IO;
using System.Threading;
using Ggaoed.Daemon;
using Ggaoed.Initiator;
using Ggaoed.Tests.Storage;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.DataPath;

/// <summary>
/// The zero-allocation promise, measured where it matters: on the real reactor thread of an
/// in-process daemon serving real AoE traffic over a veth pair.
/// </summary>
[Collection(DataPathCollection.Name)]
public class ZeroAllocationTests(ITestOutputHelper output)
{
    /// <summary>
    /// The last end-of-turn handler: records the reactor thread's allocation counter after everything
    /// else the turn did (the daemon's batching runs before it), so reading it while the loop sleeps in
    /// epoll_wait gives the total so far. Publishes with Volatile: the test reads it from another thread.
    /// </summary>
    private sealed class AllocationProbe : ITurnHandler
    {
        private long _allocated;
        private long _turns;
        private int _allocateOnce;

        public long Allocated => Volatile.Read(ref _allocated);
        public long Turns => Volatile.Read(ref _turns);

        /// <summary>The next turn allocates 1 KiB: proves the measurement would see an allocation.</summary>
        public void AllocateOnNextTurn() => Volatile.Write(ref _allocateOnce, 1);

        public byte[]? Canary { get; private set; }

        public void OnEndOfTurn()
        {
            if (Interlocked.Exchange(ref _allocateOnce, 0) != 0)
                Canary = new byte[1024];
            Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread());
            Volatile.Write(ref _turns, _turns + 1);
        }
    }

    [RootTheory]
    [EngineData(RealEngines.Aio, true)]
    [EngineData(RealEngines.Uring, true)]
    [EngineData(RealEngines.Uring, false)]
    public void SteadyStateReadsAndWrites_AllocateNothingOnTheReactorThread_AndRunNoGc(string engine, bool directIo)
    {
        const int sectors = 8192;
        using var veth = new VethPair("dpz");
        using var scratch = new Scratch("alloc");
        string disk = scratch.CreateDisk("d.img", sectors, seed: 90);
        var probe = new AllocationProbe();
        string file = scratch.PathOf("ggaoed.conf");
        string text = TestConfig.Text(scratch, veth.TargetIf, [new TestDevice("d", disk, 11, 1) { IoEngine = engine, DirectIo = directIo }]);
        File.WriteAllText(file, text);
        using var target = new InProcessTarget(veth.TargetNs, TestConfig.Load(text, file), d => d.Reactor.AddTurnHandler(probe));
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 11, 1);

        // Random and sequential (merged into PREADV/PWRITEV) traffic in both directions.
        var pipelines = new[]
        {
            new AoePipeline(client.Socket, t, depth: 16, sectors: 2, BenchPattern.RandWrite, 0, sectors, seed: 1),
            new AoePipeline(client.Socket, t, depth: 16, sectors: 2, BenchPattern.RandRead, 0, sectors, seed: 2),
            new AoePipeline(client.Socket, t, depth: 16, sectors: 2, BenchPattern.SeqWrite, 0, sectors),
            new AoePipeline(client.Socket, t, depth: 16, sectors: 2, BenchPattern.SeqRead, 0, sectors),
        };

        // Warm-up: JIT tiering, first use of every path, the kernel's ring and AIO state.
        foreach (AoePipeline p in pipelines)
            AssertClean(p.Run(TimeSpan.FromSeconds(30), 5_000));
        long bytesBefore = Quiet(probe);
        long turnsBefore = probe.Turns;
        int gen0Before = GC.CollectionCount(0);

        long completed = 0;
        foreach (AoePipeline p in pipelines)
        {
            PipelineResult pr = p.Run(TimeSpan.FromSeconds(60), 25_000);
            AssertClean(pr);
            completed += pr.Completed;
        }

        long bytesAfter = Quiet(probe);
        long turns = probe.Turns - turnsBefore;
        int gen0 = GC.CollectionCount(0) - gen0Before;
        Assert.Equal(100_000, completed);
        output.WriteLine($"{engine}, direct-io {directIo}: {completed} requests in {turns} reactor turns: {bytesAfter - bytesBefore} bytes allocated on the reactor thread, {gen0} gen0 GCs");
        Assert.True(turns > 100, $"only {turns} turns: the probe did not see the traffic");
        Assert.Equal(0, bytesAfter - bytesBefore);
        Assert.Equal(0, gen0);

        // The measurement itself can fail: one deliberate 1 KiB allocation in a turn shows up.
        probe.AllocateOnNextTurn();
        client.Read(t, 0, new byte[512]);
        Assert.True(Quiet(probe) - bytesAfter >= 1024, "a 1 KiB allocation on the reactor thread was not seen");

        target.Stop();
        ExportedDevice d = target.Device("d");
        DataPathTests.AssertEngine(target, "d", engine);
        Assert.Equal(0, d.Engine.Counters.Errors);
        // Two identical requests in flight at once (random LBAs, one data pattern per pipeline) share one
        // I/O (folded), so the engine may count a few less than were sent.
        long folded = d.Counters.FoldedRetransmits;
        Assert.True(d.Engine.Counters.WriteRequests + folded >= 60_000 && d.Engine.Counters.ReadRequests + folded >= 60_000,
            $"{d.Engine.Counters.WriteRequests} writes, {d.Engine.Counters.ReadRequests} reads, {folded} folded");
        Assert.True(d.Engine.Counters.MergedRequests > 0, "the sequential part was never merged: the merge path was not measured");
    }

    /// <summary>Waits until the loop has been idle for a while (no new turns), then reads the probe.</summary>
    private static long Quiet(AllocationProbe probe)
    {
        long turns = probe.Turns;
        for (int i = 0; i < 100; i++)
        {
            Thread.Sleep(50);
            long now = probe.Turns;
            if (now == turns)
                break;
            turns = now;
        }
        return probe.Allocated;
    }

    private static void AssertClean(PipelineResult r)
        => Assert.True(r.Errors == 0 && r.TimedOut == 0, $"{r.Errors} errors ({r.AtaErrors} ATA, {r.AoeErrors} AoE, {r.TimedOut} timed out)");
}
