using System;
using System.IO;
using System.Linq;
using System.Threading;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// I/O from the initiator namespace that runs while a test does something to the daemon: a pipelined
/// random-write load (many requests in flight, errors counted) plus writers that write a block, read it
/// back and compare, remembering what each block must hold so the end state can be checked too.
/// </summary>
internal sealed class Workload : IDisposable
{
    private readonly Thread[] _threads;
    private readonly Exception?[] _failures;
    private volatile bool _stop;

    /// <param name="net">The veth pair; the load runs in its initiator namespace.</param>
    /// <param name="shelf">The target's shelf.</param>
    /// <param name="slot">The target's slot.</param>
    /// <param name="pipelineLbas">The pipelined load writes sectors [0, pipelineLbas).</param>
    /// <param name="verifiedFirstLba">The verified writers use blocks from here on.</param>
    public Workload(VethPair net, ushort shelf, byte slot, ulong pipelineLbas, ulong verifiedFirstLba, int writers = 2, int blocksPerWriter = 64)
    {
        BlockSectors = 2; // one frame at MTU 1500
        BlocksPerWriter = blocksPerWriter;
        VerifiedFirstLba = verifiedFirstLba;
        Expected = new byte[writers][][];
        Pending = new byte[writers][][];
        _threads = new Thread[writers + 1];
        _failures = new Exception?[writers + 1];
        _threads[0] = new Thread(() => Guard(0, () => InNetNs.Run(net.InitiatorNs, () => { RunPipeline(net.InitiatorIf, shelf, slot, pipelineLbas); return 0; })));
        for (int w = 0; w < writers; w++)
        {
            int id = w;
            Expected[id] = new byte[blocksPerWriter][];
            Pending[id] = new byte[blocksPerWriter][];
            _threads[id + 1] = new Thread(() => Guard(id + 1, () => InNetNs.Run(net.InitiatorNs, () => { RunWriter(net.InitiatorIf, shelf, slot, id); return 0; })));
        }
    }

    public int BlockSectors { get; }
    public int BlocksPerWriter { get; }
    public ulong VerifiedFirstLba { get; }

    /// <summary>Per writer, per block: the bytes last written and acknowledged (null = never written).</summary>
    public byte[]?[][] Expected { get; }

    /// <summary>Per writer, per block: a write sent but not (yet) acknowledged, which may or may not have landed.</summary>
    public byte[]?[][] Pending { get; }

    public PipelineResult Pipeline;
    public long PipelineRounds;
    public long VerifiedOps;
    public long Mismatches;
    public string? FirstMismatch;

    public ulong LbaOf(int writer, int block) => VerifiedFirstLba + (ulong)((writer * BlocksPerWriter + block) * BlockSectors);

    public void Start()
    {
        foreach (Thread t in _threads)
            t.Start();
    }

    /// <summary>Waits until both kinds of I/O have made progress (so a reload really happens under load).</summary>
    public void WaitForProgress(TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < timeout && (Interlocked.Read(ref VerifiedOps) < 20 || Interlocked.Read(ref PipelineRounds) < 1))
        {
            ThrowIfFailed();
            Thread.Sleep(20);
        }
        ThrowIfFailed();
        if (Interlocked.Read(ref VerifiedOps) < 20 || Interlocked.Read(ref PipelineRounds) < 1)
            throw new TimeoutException($"workload made no progress in {timeout}: {VerifiedOps} verified ops, {PipelineRounds} pipeline rounds");
    }

    /// <summary>Stops and joins every thread; rethrows what any of them threw unless <paramref name="targetGone"/>.</summary>
    public void Stop(bool targetGone = false)
    {
        _stop = true;
        foreach (Thread t in _threads)
            if (t.IsAlive)
                t.Join();
        if (!targetGone)
            ThrowIfFailed();
    }

    private void ThrowIfFailed()
    {
        Exception? e = _failures.FirstOrDefault(f => f != null);
        if (e != null)
            throw new InvalidOperationException("workload failed: " + e.Message, e);
    }

    private void Guard(int index, Action body)
    {
        try
        {
            body();
        }
        catch (Exception e)
        {
            _failures[index] = e;
        }
    }

    private DiscoveredTarget Find(AoeClient client, ushort shelf, byte slot)
    {
        Func<DiscoveredTarget, bool> isIt = x => x.Shelf == shelf && x.Slot == slot && x.Identify != null;
        return client.DiscoverUntil(f => f.Any(isIt), TimeSpan.FromMilliseconds(500), attempts: 5).FirstOrDefault(isIt)
            ?? throw new InvalidOperationException($"target {shelf}.{slot} not found");
    }

    private void RunPipeline(string ifname, ushort shelf, byte slot, ulong lbas)
    {
        using var client = new AoeClient(ifname);
        DiscoveredTarget target = Find(client, shelf, slot);
        // Short rounds so the counters are visible while it runs and Stop() returns promptly.
        while (!_stop)
        {
            var pipe = new AoePipeline(client.Socket, target, depth: 32, sectors: 2, BenchPattern.RandWrite, 0, lbas,
                seed: (ulong)(PipelineRounds + 1) * 0x9E3779B97F4A7C15);
            PipelineResult r = pipe.Run(TimeSpan.FromMilliseconds(300));
            Pipeline.Completed += r.Completed;
            Pipeline.Errors += r.Errors;
            Pipeline.AtaErrors += r.AtaErrors;
            Pipeline.AoeErrors += r.AoeErrors;
            Pipeline.TimedOut += r.TimedOut;
            Pipeline.Retransmits += r.Retransmits;
            Interlocked.Increment(ref PipelineRounds);
        }
    }

    private void RunWriter(string ifname, ushort shelf, byte slot, int writer)
    {
        using var client = new AoeClient(ifname);
        DiscoveredTarget target = Find(client, shelf, slot);
        int bytes = BlockSectors * 512;
        var readBack = new byte[bytes];
        var rng = new Random(1000 + writer);
        for (long generation = 1; !_stop; generation++)
        {
            int block = rng.Next(BlocksPerWriter);
            byte[] data = Pattern(writer, block, generation, bytes);
            ulong lba = LbaOf(writer, block);
            Pending[writer][block] = data;
            client.Write(target, lba, data);
            Expected[writer][block] = data;
            Pending[writer][block] = null;
            client.Read(target, lba, readBack);
            if (!readBack.AsSpan().SequenceEqual(data))
            {
                Interlocked.Increment(ref Mismatches);
                FirstMismatch ??= $"writer {writer} block {block} (LBA {lba}) generation {generation}";
            }
            Interlocked.Increment(ref VerifiedOps);
        }
        // Every block this writer touched, read once more at the end.
        for (int block = 0; block < BlocksPerWriter; block++)
        {
            byte[]? want = Expected[writer][block];
            if (want == null)
                continue;
            client.Read(target, LbaOf(writer, block), readBack);
            if (!readBack.AsSpan().SequenceEqual(want))
            {
                Interlocked.Increment(ref Mismatches);
                FirstMismatch ??= $"final read: writer {writer} block {block}";
            }
        }
    }

    private static byte[] Pattern(int writer, int block, long generation, int bytes)
    {
        var data = new byte[bytes];
        ulong x = (ulong)((writer + 1) * 7919 + block * 104729) ^ ((ulong)generation << 20);
        for (int i = 0; i < bytes; i++)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data[i] = (byte)x;
        }
        return data;
    }

    /// <summary>
    /// Checks the backing file itself holds what the writers last had acknowledged (after the daemon
    /// stopped); a block whose newer write was still unanswered may hold that one instead.
    /// </summary>
    public long CountFileMismatches(string imagePath, out string? first)
    {
        first = null;
        long bad = 0;
        using var f = new FileStream(imagePath, FileMode.Open, FileAccess.Read);
        var buf = new byte[BlockSectors * 512];
        for (int w = 0; w < Expected.Length; w++)
        {
            for (int b = 0; b < BlocksPerWriter; b++)
            {
                byte[]? want = Expected[w][b];
                if (want == null)
                    continue;
                f.Position = (long)LbaOf(w, b) * 512;
                f.ReadExactly(buf);
                byte[]? maybe = Pending[w][b];
                if (!buf.AsSpan().SequenceEqual(want) && (maybe == null || !buf.AsSpan().SequenceEqual(maybe)))
                {
                    bad++;
                    first ??= $"writer {w} block {b} at LBA {LbaOf(w, b)}";
                }
            }
        }
        return bad;
    }

    public void Dispose()
    {
        _stop = true;
        foreach (Thread t in _threads)
            if (t.IsAlive)
                t.Join(TimeSpan.FromSeconds(30));
    }
}
