using System;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// Immediate reads (straight from the page cache or tmpfs, bypassing the queue): when they may run,
/// that they never wait for a disk (RWF_NOWAIT), what they count, and that a miss or a failure leaves
/// the request to the queue. Run against both engines' fake kernels.
/// </summary>
public unsafe class ImmediateReadTests
{
    private const int Sector = 512;

    public static Xunit.TheoryData<string> Kernels => FakeKernels.Both;

    private static FakeKernelState Kernel(string name)
    {
        FakeKernelState k = FakeKernels.Create(name);
        for (int i = 0; i < k.Disk.Length; i++)
            k.Disk[i] = (byte)(i / Sector * 31 + i);
        return k;
    }

    private static StorageEngine Engine(FakeKernelState k, ImmediateReadMode mode = ImmediateReadMode.NoWait, long mergeDelay = 0)
        => k.Engine(queueLength: 8, mergeDelay: mergeDelay, maxDelay: mergeDelay, immediate: mode);

    private static int QueueWrite(StorageEngine e, IoKind kind, ulong lba, int sectors, byte fill)
    {
        Assert.True(e.TryAcquireSlot(out int slot));
        e.SlotBuffer(slot).Slice(0, Math.Max(sectors, 1) * Sector).Fill(fill);
        e.Enqueue(slot, kind, lba, sectors);
        return slot;
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void BufferedStore_ReadsWithRwfNowait_CopyingTheSectors_WithoutAnyKernelOp(string kernel)
    {
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k);
        var into = new byte[17 * Sector + 7];
        Assert.True(e.CanReadNow);
        Assert.True(e.TryReadNow(40, 17, into));

        Assert.True(into.AsSpan(0, 17 * Sector).SequenceEqual(k.Disk.AsSpan(40 * Sector, 17 * Sector)));
        Assert.Equal(0, into[17 * Sector]); // nothing past the request
        Assert.Equal(1, k.NoWaitReadCalls);
        Assert.Equal(0, k.ReadCalls); // never a plain, waiting pread
        Assert.Equal(0, k.SubmitCalls);
        Assert.Equal(1, e.Counters.ImmediateReads);
        Assert.Equal(1, e.Counters.ReadRequests);
        Assert.Equal(17, e.Counters.ReadSectors);
        Assert.Equal(0, e.QueueDepth);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void NotCached_Eagain_IsAMiss_AndTheReadGoesThroughTheQueue(string kernel)
    {
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k);
        k.NoWaitResult = -(int)Errno.EAGAIN;
        Assert.False(e.TryReadNow(8, 2, new byte[2 * Sector]));
        Assert.Equal(1, e.Counters.ImmediateReadMisses);
        Assert.Equal(0, e.Counters.ImmediateReadFallbacks);
        Assert.Equal(0, e.Counters.ReadRequests);
        Assert.True(e.CanReadNow); // the next one may be cached

        // Partly cached (the first page only): also a miss, not a short read.
        k.NoWaitResult = 100;
        Assert.False(e.TryReadNow(8, 2, new byte[2 * Sector]));
        Assert.Equal(2, e.Counters.ImmediateReadMisses);
        Assert.Equal(0, e.Counters.ImmediateReadFallbacks);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void MemoryFileSystem_ReadsWithAPlainPread(string kernel)
    {
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k, ImmediateReadMode.InMemory);
        Assert.True(e.TryReadNow(3, 1, new byte[Sector]));
        Assert.Equal(1, k.ReadCalls);
        Assert.Equal(0, k.NoWaitReadCalls);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void AFileSystemWithoutNowait_EndsImmediateReadsForGood(string kernel)
    {
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k);
        k.NoWaitResult = -(int)Errno.EOPNOTSUPP;
        Assert.False(e.TryReadNow(0, 1, new byte[Sector]));
        Assert.Equal(1, e.Counters.ImmediateReadFallbacks);
        Assert.False(e.CanReadNow);
        Assert.False(e.TryReadNow(0, 1, new byte[Sector]));
        Assert.Equal(1, k.NoWaitReadCalls);
        Assert.Equal(0, k.ReadCalls);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void O_DirectEngines_NeverReadNow(string kernel)
    {
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k, ImmediateReadMode.None);
        Assert.False(e.CanReadNow);
        Assert.False(e.TryReadNow(0, 1, new byte[Sector]));
        Assert.Equal(0, k.ReadCalls + k.NoWaitReadCalls);
        Assert.Equal(0, e.Counters.ReadRequests);
    }

    [Theory]
    [InlineData(FakeKernels.Aio, IoKind.Write)]
    [InlineData(FakeKernels.Aio, IoKind.Flush)]
    [InlineData(FakeKernels.Uring, IoKind.Write)]
    [InlineData(FakeKernels.Uring, IoKind.Flush)]
    public void AWriteOrFlush_QueuedOrInFlight_SendsReadsThroughTheQueue_UntilItCompletes(string kernel, IoKind kind)
    {
        // A read must not overtake a write the initiator sent earlier (nor see half of a merged batch).
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k, mergeDelay: 1_000_000);
        QueueWrite(e, kind, 8, kind == IoKind.Flush ? 0 : 2, 0xEE);
        Assert.False(e.CanReadNow, "queued");
        Assert.False(e.TryReadNow(8, 2, new byte[2 * Sector]));

        k.Now += 2_000_000;
        Assert.Equal(1, e.SubmitPending());
        Assert.False(e.CanReadNow, "in flight");

        k.CompleteAll();
        Reaper.Reap(e);
        Assert.True(e.CanReadNow, "completed");
        var into = new byte[2 * Sector];
        Assert.True(e.TryReadNow(8, 2, into));
        if (kind == IoKind.Write)
            Assert.All(into, b => Assert.Equal(0xEE, b));
        Assert.Equal(1, k.NoWaitReadCalls);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void AFailedWrite_StillEndsTheWait(string kernel)
    {
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k);
        QueueWrite(e, IoKind.Write, 0, 1, 1);
        e.SubmitPending();
        k.Complete(0, res: -(int)Errno.EIO);
        Reaper.Reap(e);
        Assert.True(e.CanReadNow);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void QueuedReads_DoNotHoldBackImmediateReads(string kernel)
    {
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k);
        Assert.True(e.TryAcquireSlot(out int slot));
        e.Enqueue(slot, IoKind.Read, 0, 1);
        e.SubmitPending();
        Assert.True(e.CanReadNow);
        Assert.True(e.TryReadNow(100, 1, new byte[Sector]));
    }

    [Theory]
    [InlineData(FakeKernels.Aio, -(int)Errno.EIO)]
    [InlineData(FakeKernels.Aio, 0)]     // end of file
    [InlineData(FakeKernels.Uring, -(int)Errno.EIO)]
    [InlineData(FakeKernels.Uring, 0)]
    public void AFailedRead_ReturnsFalse_CountsAFallback_AndNotARead(string kernel, int result)
    {
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k);
        k.NoWaitResult = result;
        Assert.False(e.TryReadNow(0, 2, new byte[2 * Sector]));
        Assert.Equal(1, e.Counters.ImmediateReadFallbacks);
        Assert.Equal(0, e.Counters.ImmediateReads);
        Assert.Equal(0, e.Counters.ReadRequests);
        Assert.Equal(0, e.Counters.Errors); // the queued retry reports it
        Assert.True(e.CanReadNow);
    }

    [Fact]
    public void AShortPlainRead_OnAMemoryFileSystem_IsAFallback()
    {
        FakeKernelState k = Kernel(FakeKernels.Aio);
        using StorageEngine e = Engine(k, ImmediateReadMode.InMemory);
        k.ReadResult = 100; // the file was truncated under us
        Assert.False(e.TryReadNow(0, 2, new byte[2 * Sector]));
        Assert.Equal(1, e.Counters.ImmediateReadFallbacks);
        Assert.Equal(0, e.Counters.ImmediateReadMisses);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void ARequestPastTheEnd_OrLargerThanTheBuffer_IsACallerBug(string kernel)
    {
        FakeKernelState k = Kernel(kernel);
        using StorageEngine e = Engine(k);
        ulong sectors = (ulong)k.Disk.Length / Sector;
        Assert.ThrowsAny<ArgumentException>(() => e.TryReadNow(sectors - 1, 2, new byte[2 * Sector]));
        Assert.ThrowsAny<ArgumentException>(() => e.TryReadNow(0, 2, new byte[Sector]));
        Assert.Equal(0, k.ReadCalls + k.NoWaitReadCalls);
    }

    [Theory]
    [InlineData("6.18.44-fc-v1252", false, false, ImmediateReadMode.NoWait)]
    [InlineData("5.10.0-23-amd64", false, false, ImmediateReadMode.None)]  // RWF_NOWAIT may return 0 before EOF
    [InlineData("5.9.16", false, false, ImmediateReadMode.None)]
    [InlineData("5.11.0", false, false, ImmediateReadMode.NoWait)]
    [InlineData("5.10.0-23-amd64", true, true, ImmediateReadMode.InMemory)]
    [InlineData("6.1.0", true, false, ImmediateReadMode.None)]
    [InlineData("garbage", false, false, ImmediateReadMode.NoWait)]
    public void ModeChoice_ByStoreAndKernel(string release, bool directIo, bool inMemory, ImmediateReadMode expected)
        => Assert.Equal(expected, ImmediateReads.For(directIo, inMemory, release));
}
