using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Ggaoed.Native;
using Ggaoed.Storage;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Storage;

/// <summary>Both engines against the real kernel on temp files (and a loop device): data, merging, order, errors.</summary>
public class EngineRealKernelTests
{
    private const int Sector = 512;

    private static byte[] Pattern(int seed, int bytes)
    {
        var b = new byte[bytes];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Writes 48 requests of 1..17 sectors back to back (merged), checks the file, reads them back merged.</summary>
    private static void WriteThenReadBack(string engine, BackingStore store, string filePath, bool edgeTriggered = false, bool writeThrough = false)
    {
        using var d = new RealDriver(store, engine, queueLength: 48, edgeTriggered: edgeTriggered, writeThrough: writeThrough);
        var rng = new Random(7);
        var expected = new byte[store.SizeBytes];
        ulong lba = 3;
        var layout = new (ulong Lba, int Sectors)[48];
        for (int i = 0; i < 48; i++)
        {
            int sectors = rng.Next(1, 18);
            byte[] data = Pattern(i, sectors * Sector);
            d.Queue(IoKind.Write, lba, sectors, data);
            data.CopyTo(expected, (int)lba * Sector);
            layout[i] = (lba, sectors);
            lba += (ulong)sectors;
            if (i == 20)
                lba += 5; // a gap: two runs
        }
        d.RunToIdle();
        Assert.All(d.Done, x => Assert.True(x.Result > 0, "write failed: " + x.Result));
        Assert.Equal(48, d.Done.Count);
        Assert.True(d.Engine.Counters.MergedRequests >= 40, "merged " + d.Engine.Counters.MergedRequests);
        Assert.True(d.Engine.Counters.IocbsSubmitted <= 4, "iocbs " + d.Engine.Counters.IocbsSubmitted);
        d.ReleaseAll();

        Assert.Equal(expected, File.ReadAllBytes(filePath));

        var readSlots = new int[48];
        for (int i = 0; i < 48; i++)
            readSlots[i] = d.Queue(IoKind.Read, layout[i].Lba, layout[i].Sectors);
        long iocbsBefore = d.Engine.Counters.IocbsSubmitted;
        d.RunToIdle();
        Assert.True(d.Engine.Counters.IocbsSubmitted - iocbsBefore <= 4);
        for (int i = 0; i < 48; i++)
        {
            int bytes = layout[i].Sectors * Sector;
            Assert.Contains((readSlots[i], bytes), d.Done);
            Assert.Equal(expected.AsSpan((int)layout[i].Lba * Sector, bytes).ToArray(), d.Engine.SlotBuffer(readSlots[i]).Slice(0, bytes).ToArray());
        }
        d.ReleaseAll();
    }

    [Theory]
    [EngineData(RealEngines.Aio, true)]
    [EngineData(RealEngines.Aio, false)]
    [EngineData(RealEngines.Uring, true)]
    [EngineData(RealEngines.Uring, false)]
    public void MergedWritesAndReads_RoundTripThroughTheKernel(string engine, bool direct)
    {
        using var tmp = new TempStore(1 << 20);
        using BackingStore store = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: direct);
        Assert.Equal(direct, store.DirectIo);
        WriteThenReadBack(engine, store, tmp.FilePath);
    }

    [Theory]
    [EngineData(RealEngines.Aio, true)]
    [EngineData(RealEngines.Aio, false)]
    [EngineData(RealEngines.Uring, true)]
    [EngineData(RealEngines.Uring, false)]
    public void WriteThrough_RwfDsyncWrites_RoundTrip(string engine, bool direct)
    {
        using var tmp = new TempStore(1 << 20);
        using BackingStore store = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: direct);
        WriteThenReadBack(engine, store, tmp.FilePath, writeThrough: true);
    }

    [Theory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void EdgeTriggeredEventFd_WithoutReadingIt_MissesNoCompletion(string engine)
    {
        using var tmp = new TempStore(1 << 20);
        using BackingStore store = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: true);
        for (int i = 0; i < 5; i++)
            WriteThenReadBack(engine, store, tmp.FilePath, edgeTriggered: true);
    }

    /// <summary>
    /// More completions at once than one io_uring_enter runs with DEFER_TASKRUN (about 20): the reap
    /// must loop while IORING_SQ_TASKRUN is set, or the rest wait with nothing to wake the reactor.
    /// </summary>
    [Theory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void ManyUnmergedDirectReadsAtOnce_AllCompleteWithAnEdgeTriggeredEventFd(string engine)
    {
        using var tmp = new TempStore(8 << 20);
        File.WriteAllBytes(tmp.FilePath, Pattern(3, 8 << 20));
        using BackingStore store = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: true);
        using var d = new RealDriver(store, engine, queueLength: 256, slotBytes: 4096, edgeTriggered: true);
        for (int round = 0; round < 4; round++)
        {
            for (int i = 0; i < 256; i++)
                d.Queue(IoKind.Read, (ulong)(i * 40 + round), 8); // gaps: nothing merges
            d.RunToIdle();
            Assert.Equal(256, d.Done.Count);
            Assert.All(d.Done, x => Assert.Equal(4096, x.Result));
            d.ReleaseAll();
        }
    }

    [Theory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public unsafe void ExternalBuffer_ReadsStraightIntoCallerMemory_AtAnOddAlignment_WhenBuffered(string engine)
    {
        using var tmp = new TempStore(1 << 16);
        byte[] content = Pattern(5, 1 << 16);
        File.WriteAllBytes(tmp.FilePath, content);
        using BackingStore store = BackingStore.Open(tmp.FilePath, readOnly: false, directIo: false);
        using var d = new RealDriver(store, engine);
        byte[] frame = new byte[9000]; // stands in for a TX frame: payload at offset 14 + 22
        fixed (byte* p = frame)
        {
            Assert.True(d.Engine.TryAcquireSlot(out int a));
            d.Engine.Enqueue(a, IoKind.Read, 10, 4, p + 36);
            Assert.True(d.Engine.TryAcquireSlot(out int b));
            d.Engine.Enqueue(b, IoKind.Read, 14, 2, p + 36 + 4 * Sector); // adjacent: merged PREADV
            d.RunToIdle();
            Assert.Equal(2, d.Engine.Counters.MergedRequests);
        }
        Assert.Equal(content.AsSpan(10 * Sector, 6 * Sector).ToArray(), frame.AsSpan(36, 6 * Sector).ToArray());
        Assert.Equal(0, frame[35]);
        Assert.Equal(0, frame[36 + 6 * Sector]);
    }

    [Theory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void OverlappingWrites_LandInArrivalOrder(string engine)
    {
        using var tmp = new TempStore(1 << 16);
        using BackingStore store = BackingStore.Open(tmp.FilePath, false, directIo: true);
        using var d = new RealDriver(store, engine);
        for (int i = 0; i < 20; i++)
            d.Queue(IoKind.Write, (ulong)(i % 3), 4, Enumerable.Repeat((byte)(i + 1), 4 * Sector).ToArray());
        d.RunToIdle();
        byte[] file = File.ReadAllBytes(tmp.FilePath);
        // The last writes per sector were i = 17 (lba 2..5), 18 (lba 0..3), 19 (lba 1..4).
        Assert.Equal(19, file[0]);
        Assert.Equal(20, file[1 * Sector]);
        Assert.Equal(20, file[4 * Sector]);
        Assert.Equal(18, file[5 * Sector]);
        Assert.Equal(0, file[6 * Sector]);
    }

    [Theory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void WriteToReadOnlyStore_CompletesWithAnError_NotACrash(string engine)
    {
        using var tmp = new TempStore(1 << 16);
        using BackingStore store = BackingStore.Open(tmp.FilePath, readOnly: true, directIo: true);
        using var d = new RealDriver(store, engine);
        int w = d.Queue(IoKind.Write, 0, 1, new byte[Sector]);
        int r = d.Queue(IoKind.Read, 8, 1);
        d.RunToIdle();
        Assert.Contains((w, -(int)Errno.EBADF), d.Done);
        Assert.Contains((r, Sector), d.Done);
        Assert.Equal(1, d.Engine.Counters.Errors);
    }

    [Theory]
    [EngineData(RealEngines.Aio, true)]
    [EngineData(RealEngines.Aio, false)]
    [EngineData(RealEngines.Uring, true)]
    [EngineData(RealEngines.Uring, false)]
    public void Flush_CompletesThroughTheKernelsDatasyncOp(string engine, bool direct)
    {
        using var tmp = new TempStore(1 << 16);
        using BackingStore store = BackingStore.Open(tmp.FilePath, false, directIo: direct);
        using var d = new RealDriver(store, engine);
        int w = d.Queue(IoKind.Write, 0, 2, new byte[2 * Sector]);
        int f = d.Queue(IoKind.Flush, 0, 0);
        d.RunToIdle();
        Assert.Contains((w, 2 * Sector), d.Done);
        Assert.Contains((f, 0), d.Done);
        if (d.Engine is AioEngine<LinuxAioKernel> aio)
            Assert.False(aio.FlushIsSynchronous); // kernels since 4.18 take IOCB_CMD_FDSYNC
        Assert.Equal(1, d.Engine.Counters.Flushes);
    }

    [Theory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void ReadPastEndOfAShrunkenFile_ReportsAnErrorForTheMissingPart(string engine)
    {
        using var tmp = new TempStore(1 << 16);
        using BackingStore store = BackingStore.Open(tmp.FilePath, false, directIo: false);
        using var d = new RealDriver(store, engine);
        File.WriteAllBytes(tmp.FilePath, new byte[4 * Sector]); // shrink behind the engine's back
        int a = d.Queue(IoKind.Read, 2, 2);
        int b = d.Queue(IoKind.Read, 4, 2);
        d.RunToIdle();
        Assert.Contains((a, 2 * Sector), d.Done);
        Assert.Contains((b, -(int)Errno.ENODATA), d.Done); // the end of the store: answered with IDNF
    }

    [RootTheory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void LoopBlockDevice_SizeFromIoctl_AndDataRoundTrips(string engine)
    {
        using var tmp = new TempStore(4 << 20);
        string dev = Run("losetup", "-f --show " + tmp.FilePath).Trim();
        try
        {
            using (BackingStore store = BackingStore.Open(dev, readOnly: false, directIo: true))
            {
                Assert.True(store.IsBlockDevice);
                Assert.Equal(4 << 20, store.SizeBytes);
                Assert.Equal(512, store.LogicalBlockSize);
                Assert.True(store.DirectIo);
                using var d = new RealDriver(store, engine);
                byte[] data = Pattern(99, 8 * Sector);
                d.Queue(IoKind.Write, 100, 4, data.AsSpan(0, 4 * Sector));
                d.Queue(IoKind.Write, 104, 4, data.AsSpan(4 * Sector));
                d.RunToIdle();
                d.ReleaseAll();
                Assert.Equal(2, d.Engine.Counters.MergedRequests);
                int r = d.Queue(IoKind.Read, 100, 8);
                d.RunToIdle();
                Assert.Equal(data, d.Engine.SlotBuffer(r).Slice(0, 8 * Sector).ToArray());
            }
        }
        finally
        {
            Run("losetup", "-d " + dev);
        }
        byte[] file = File.ReadAllBytes(tmp.FilePath);
        Assert.Equal(Pattern(99, 8 * Sector), file.AsSpan(100 * Sector, 8 * Sector).ToArray());
    }

    private static string Run(string file, string args)
    {
        using Process p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, file + " " + args + " failed: " + stderr);
        return stdout;
    }
}
