using System;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// Immediate reads (pread without AIO, buffered stores only): when they may run, what they count,
/// and that a failure leaves the request to the AIO path.
/// </summary>
public unsafe class ImmediateReadTests
{
    private const int Sector = 512;
    private readonly FakeAio _aio = new();

    public ImmediateReadTests()
    {
        for (int i = 0; i < _aio.Disk.Length; i++)
            _aio.Disk[i] = (byte)(i / Sector * 31 + i);
    }

    private AioEngine<FakeAioKernel> Engine(bool immediate = true, long mergeDelay = 0)
        => new(new FakeAioKernel(_aio), fd: 3, deviceSectors: (ulong)_aio.Disk.Length / Sector, logicalBlockSize: 512,
            new AioEngineOptions { QueueLength = 8, SlotBytes = 17 * Sector, ImmediateReads = immediate, MergeDelayNanos = mergeDelay, MaxDelayNanos = mergeDelay });

    private static int QueueWrite(AioEngine<FakeAioKernel> e, IoKind kind, ulong lba, int sectors, byte fill)
    {
        Assert.True(e.TryAcquireSlot(out int slot));
        e.SlotBuffer(slot).Slice(0, Math.Max(sectors, 1) * Sector).Fill(fill);
        e.Enqueue(slot, kind, lba, sectors);
        return slot;
    }

    private static void ReapAll(AioEngine<FakeAioKernel> e)
    {
        var h = new RecordingHandler { Release = e.ReleaseSlot };
        e.ReapCompletions(ref h);
    }

    [Fact]
    public void ReadNow_CopiesTheSectors_WithOnePread_AndNoIocb()
    {
        using var e = Engine();
        var into = new byte[17 * Sector + 7];
        Assert.True(e.CanReadNow);
        Assert.True(e.TryReadNow(40, 17, into));

        Assert.True(into.AsSpan(0, 17 * Sector).SequenceEqual(_aio.Disk.AsSpan(40 * Sector, 17 * Sector)));
        Assert.Equal(0, into[17 * Sector]); // nothing past the request
        Assert.Equal(1, _aio.ReadCalls);
        Assert.Equal(0, _aio.SubmitCalls);
        Assert.Equal(1, e.Counters.ImmediateReads);
        Assert.Equal(1, e.Counters.ReadRequests);
        Assert.Equal(17, e.Counters.ReadSectors);
        Assert.Equal(0, e.QueueDepth);
    }

    [Fact]
    public void O_DirectEngines_NeverReadNow()
    {
        using var e = Engine(immediate: false);
        Assert.False(e.CanReadNow);
        Assert.False(e.TryReadNow(0, 1, new byte[Sector]));
        Assert.Equal(0, _aio.ReadCalls);
        Assert.Equal(0, e.Counters.ReadRequests);
    }

    [Theory]
    [InlineData(IoKind.Write)]
    [InlineData(IoKind.Flush)]
    public void AWriteOrFlush_QueuedOrInFlight_SendsReadsThroughAio_UntilItCompletes(IoKind kind)
    {
        // A read must not overtake a write the initiator sent earlier (nor see half of a merged batch).
        using var e = Engine(mergeDelay: 1_000_000);
        QueueWrite(e, kind, 8, kind == IoKind.Flush ? 0 : 2, 0xEE);
        Assert.False(e.CanReadNow, "queued");
        Assert.False(e.TryReadNow(8, 2, new byte[2 * Sector]));

        _aio.Now += 2_000_000;
        Assert.Equal(1, e.SubmitPending());
        Assert.False(e.CanReadNow, "in flight");

        _aio.CompleteAll();
        ReapAll(e);
        Assert.True(e.CanReadNow, "completed");
        var into = new byte[2 * Sector];
        Assert.True(e.TryReadNow(8, 2, into));
        if (kind == IoKind.Write)
            Assert.All(into, b => Assert.Equal(0xEE, b));
        Assert.Equal(1, _aio.ReadCalls);
    }

    [Fact]
    public void AFailedWrite_StillEndsTheWait()
    {
        using var e = Engine();
        QueueWrite(e, IoKind.Write, 0, 1, 1);
        e.SubmitPending();
        _aio.Complete(0, res: -(int)Errno.EIO);
        ReapAll(e);
        Assert.True(e.CanReadNow);
    }

    [Fact]
    public void QueuedReads_DoNotHoldBackImmediateReads()
    {
        using var e = Engine();
        Assert.True(e.TryAcquireSlot(out int slot));
        e.Enqueue(slot, IoKind.Read, 0, 1);
        e.SubmitPending();
        Assert.True(e.CanReadNow);
        Assert.True(e.TryReadNow(100, 1, new byte[Sector]));
    }

    [Theory]
    [InlineData(-(int)Errno.EIO)]
    [InlineData(100)]   // short: the file was truncated under us
    [InlineData(0)]     // end of file
    public void AFailedOrShortRead_ReturnsFalse_CountsAFallback_AndNotARead(int result)
    {
        using var e = Engine();
        _aio.ReadResult = result;
        Assert.False(e.TryReadNow(0, 2, new byte[2 * Sector]));
        Assert.Equal(1, e.Counters.ImmediateReadFallbacks);
        Assert.Equal(0, e.Counters.ImmediateReads);
        Assert.Equal(0, e.Counters.ReadRequests);
        Assert.Equal(0, e.Counters.Errors); // the AIO retry reports it
        Assert.True(e.CanReadNow);
    }

    [Fact]
    public void ARequestPastTheEnd_OrLargerThanTheBuffer_IsACallerBug()
    {
        using var e = Engine();
        ulong sectors = (ulong)_aio.Disk.Length / Sector;
        Assert.ThrowsAny<ArgumentException>(() => e.TryReadNow(sectors - 1, 2, new byte[2 * Sector]));
        Assert.ThrowsAny<ArgumentException>(() => e.TryReadNow(0, 2, new byte[Sector]));
        Assert.Equal(0, _aio.ReadCalls);
    }
}
