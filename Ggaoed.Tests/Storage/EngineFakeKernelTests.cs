using System;
using System.Linq;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// Behaviour both engines share, each run against its fake kernel (Linux AIO and io_uring): merging,
/// ordering, refusals by the kernel, errors, merge-delay, slots, completions out of order.
/// </summary>
public unsafe class EngineFakeKernelTests
{
    private const int Sector = 512;

    public static Xunit.TheoryData<string> Kernels => FakeKernels.Both;

    private static int Queue(StorageEngine e, IoKind kind, ulong lba, int sectors, byte fill = 0)
    {
        Assert.True(e.TryAcquireSlot(out int slot));
        if (kind == IoKind.Write)
            e.SlotBuffer(slot).Slice(0, sectors * Sector).Fill(fill);
        e.Enqueue(slot, kind, lba, sectors);
        return slot;
    }

    private static System.Collections.Generic.List<(int Slot, int Result)> Reap(StorageEngine e, bool release = true) => Reaper.Reap(e, release);

    [Theory]
    [MemberData(nameof(Kernels))]
    public void BaseOffset_ShiftsEveryIo_SoTheDevicesFirstSectorIsTheWindowsFirst(string kernel)
    {
        // offset = 8 sectors (vblade -o 8): device LBA 0 is byte 4096 of the store.
        FakeKernelState k = FakeKernels.Create(kernel);
        for (int i = 0; i < k.Disk.Length; i++)
            k.Disk[i] = (byte)(i / Sector);
        using StorageEngine e = k.Engine(baseOffset: 8 * Sector, immediate: ImmediateReadMode.NoWait);
        int w = Queue(e, IoKind.Write, 0, 1, 0xEE);
        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(8 * Sector, Assert.Single(k.InFlight).Offset);
        k.CompleteAll();
        Assert.Equal(new[] { (w, Sector) }, Reap(e).ToArray());
        Assert.All(k.Disk.AsSpan(8 * Sector, Sector).ToArray(), x => Assert.Equal(0xEE, x));
        Assert.Equal(7, k.Disk[8 * Sector - 1]); // the sector before the window is untouched

        var into = new byte[Sector];
        Assert.True(e.TryReadNow(3, 1, into));
        Assert.All(into, x => Assert.Equal(11, x)); // store sector 8 + 3
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void AdjacentWrites_GoInOneMergedOp_InOneSubmit_AndLandOnDisk(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        int a = Queue(e, IoKind.Write, 10, 2, 0xAA);
        int b = Queue(e, IoKind.Write, 12, 3, 0xBB);
        int c = Queue(e, IoKind.Write, 15, 1, 0xCC);

        Assert.Equal(3, e.SubmitPending());
        Assert.Equal(1, k.SubmitCalls);
        FakeIo op = Assert.Single(k.InFlight);
        Assert.Equal(IoKind.Write, op.Kind);
        Assert.True(op.Vectored);
        Assert.Equal(10 * Sector, op.Offset);
        Assert.Equal(new[] { 1024, 1536, 512 }, op.Buffers.Select(x => x.Length).ToArray());
        Assert.Equal(3, e.InFlightCount);

        k.CompleteAll();
        Assert.Equal(new[] { (a, 1024), (b, 1536), (c, 512) }, Reap(e).ToArray());
        Assert.All(k.Disk.AsSpan(10 * Sector, 1024).ToArray(), x => Assert.Equal(0xAA, x));
        Assert.All(k.Disk.AsSpan(12 * Sector, 1536).ToArray(), x => Assert.Equal(0xBB, x));
        Assert.Equal(0xCC, k.Disk[15 * Sector + 511]);
        Assert.Equal(0, k.Disk[16 * Sector]);

        Assert.Equal(3, e.Counters.WriteRequests);
        Assert.Equal(6, e.Counters.WriteSectors);
        Assert.Equal(3, e.Counters.MergedRequests);
        Assert.Equal(1, e.Counters.IocbsSubmitted);
        Assert.Equal(1, e.Counters.SubmitCalls);
        Assert.Equal(0, e.QueueDepth);
        Assert.Equal(8, e.FreeSlotCount);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void SingleRead_GoesUnvectored_AndDataArrivesInTheSlotBuffer(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        k.Disk.AsSpan(7 * Sector, Sector).Fill(0x5A);
        int s = Queue(e, IoKind.Read, 7, 1);
        e.SubmitPending();
        Assert.Equal(IoKind.Read, k.InFlight[0].Kind);
        Assert.False(k.InFlight[0].Vectored);
        k.CompleteAll();
        Assert.Equal((s, 512), Assert.Single(Reap(e, release: false)));
        Assert.All(e.SlotBuffer(s).Slice(0, Sector).ToArray(), x => Assert.Equal(0x5A, x));
        Assert.Equal(1, e.Counters.ReadRequests);
        Assert.Equal(0, e.Counters.MergedRequests);
        e.ReleaseSlot(s);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Eagain_WithNothingInFlight_KeepsEverythingForTheKernel_AndRetriesAfterADelay(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        k.Now = 5_000_000;
        Queue(e, IoKind.Read, 0, 1);
        Queue(e, IoKind.Read, 9, 1);
        k.SubmitScript.Enqueue(-(int)Errno.EAGAIN);

        e.SubmitPending();
        Assert.Empty(k.InFlight);
        Assert.Equal(1, e.Counters.SubmitEagain);
        Assert.Equal(2, e.QueueDepth);
        Assert.Equal(GateState.RetryLater, e.GateState);
        Assert.Equal(5_000_000 + 1_000_000, e.NextDeadlineNanos);
        Assert.True(e.HasQueued);

        e.SubmitPending(); // too early: no syscall
        Assert.Equal(1, k.SubmitCalls);

        k.Now += 1_000_000;
        e.SubmitPending();
        Assert.Equal(2, k.InFlight.Count);
        Assert.Equal(long.MaxValue, e.NextDeadlineNanos);
        Assert.False(e.HasQueued);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Eagain_WithOpsInFlight_WaitsForTheNextCompletion(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        Queue(e, IoKind.Write, 0, 1);
        e.SubmitPending();
        Queue(e, IoKind.Write, 50, 1);
        k.SubmitScript.Enqueue(-(int)Errno.EAGAIN);
        e.SubmitPending();
        Assert.Equal(GateState.KernelBusy, e.GateState);
        Assert.Equal(long.MaxValue, e.NextDeadlineNanos); // the eventfd will wake the reactor

        e.SubmitPending();
        Assert.Equal(2, k.SubmitCalls);

        k.CompleteAll();
        Assert.Single(Reap(e));
        e.SubmitPending();
        Assert.Equal(50 * Sector, Assert.Single(k.InFlight).Offset);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void FewerTakenThanOffered_TheRestIsOfferedAgainAtOnce(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        Queue(e, IoKind.Read, 0, 1);
        Queue(e, IoKind.Read, 100, 1);
        Queue(e, IoKind.Read, 200, 1);
        k.SubmitScript.Enqueue(1);
        Assert.Equal(3, e.SubmitPending());
        Assert.Equal(2, k.SubmitCalls);
        Assert.Equal(3, k.InFlight.Count);
        Assert.Equal(0, e.Counters.SubmitEagain);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void FewerTakenThenEagain_TheRestWaits_AndGoesAfterACompletion(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        Queue(e, IoKind.Read, 0, 1);
        Queue(e, IoKind.Read, 100, 1);
        Queue(e, IoKind.Read, 200, 1);
        k.SubmitScript.Enqueue(1);
        k.SubmitScript.Enqueue(-(int)Errno.EAGAIN);

        e.SubmitPending();
        Assert.Single(k.InFlight);
        Assert.Equal(1, e.Counters.SubmitEagain);
        Assert.Equal(3, e.QueueDepth);
        e.SubmitPending(); // blocked until a completion
        Assert.Equal(2, k.SubmitCalls);

        k.CompleteAll();
        Reap(e);
        e.SubmitPending();
        Assert.Equal(new long[] { 100 * Sector, 200 * Sector }, k.InFlight.Select(x => x.Offset).OrderBy(x => x).ToArray());
        k.CompleteAll();
        Assert.Equal(2, Reap(e).Count);
        Assert.Equal(3, e.Counters.ReadRequests);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void KernelError_FailsEveryRequestOfTheMergedOp(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        int[] slots = { Queue(e, IoKind.Write, 0, 2), Queue(e, IoKind.Write, 2, 2), Queue(e, IoKind.Write, 4, 2) };
        e.SubmitPending();
        k.Complete(0, res: -(int)Errno.EIO);
        Assert.Equal(slots.Select(s => (s, -(int)Errno.EIO)).ToArray(), Reap(e).ToArray());
        Assert.Equal(3, e.Counters.Errors);
        Assert.Equal(0, e.Counters.WriteRequests);
        Assert.Equal(8, e.FreeSlotCount);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void OutOfOrderCompletions_AreDeliveredInCompletionOrder(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        int a = Queue(e, IoKind.Read, 0, 1);
        int b = Queue(e, IoKind.Write, 100, 1);
        int c = Queue(e, IoKind.Read, 200, 1);
        e.SubmitPending();
        Assert.Equal(3, k.InFlight.Count);
        k.Complete(k.IndexOf(200 * Sector));
        k.Complete(k.IndexOf(0));
        Assert.Equal(new[] { (c, 512), (a, 512) }, Reap(e).ToArray());
        k.Complete(0);
        Assert.Equal(new[] { (b, 512) }, Reap(e).ToArray());
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void StaleOrForeignTokens_AreCountedAndIgnored(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        Queue(e, IoKind.Read, 0, 1);
        e.SubmitPending();
        ulong token = k.InFlight[0].Token;
        k.CompleteAll();
        Assert.Single(Reap(e));

        // The op index is reused with a new generation: the old token no longer matches.
        Queue(e, IoKind.Read, 8, 1);
        e.SubmitPending();
        Assert.NotEqual(token, k.InFlight[0].Token);
        Assert.Equal((uint)token, (uint)k.InFlight[0].Token); // same op index
        k.Post(token, 512);
        k.Post(0xFFFF_FFFF, 512);  // index out of range
        Assert.Empty(Reap(e));
        Assert.Equal(2, e.Counters.StaleCompletions);
        Assert.Equal(1, e.InFlightCount);

        k.CompleteAll();
        Assert.Single(Reap(e));
        Assert.Equal(2, e.Counters.ReadRequests);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void AnOpRefusedByTheKernel_FailsAlone_WithItsErrno(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        k.Refuse = f => f.Kind == IoKind.Write ? -(int)Errno.EBADF : 0; // a read-only fd
        int r = Queue(e, IoKind.Read, 0, 1);
        int w = Queue(e, IoKind.Write, 100, 1);
        int r2 = Queue(e, IoKind.Read, 200, 1);

        e.SubmitPending();
        Assert.Equal(2, k.InFlight.Count);
        Assert.Equal(0, e.QueuedCount);
        Assert.Equal(new[] { (w, -(int)Errno.EBADF) }, Reap(e).ToArray());
        k.CompleteAll();
        Assert.Equal(new[] { r, r2 }, Reap(e).Select(x => x.Slot).OrderBy(x => x).ToArray());
        Assert.Equal(1, e.Counters.Errors);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Flush_GoesAsADatasyncOp_OnlyAfterEarlierWritesCompleted(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        Queue(e, IoKind.Write, 0, 1);
        int f = Queue(e, IoKind.Flush, 0, 0);
        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(IoKind.Write, Assert.Single(k.InFlight).Kind);
        Assert.Equal(GateState.AllDeferred, e.GateState);
        k.CompleteAll();
        Reap(e);
        Assert.Equal(1, e.SubmitPending());
        FakeIo sync = Assert.Single(k.InFlight);
        Assert.Equal(IoKind.Flush, sync.Kind);
        if (kernel == FakeKernels.Aio)
            Assert.Equal(Aio.IOCB_CMD_FDSYNC, sync.Opcode);
        else
            Assert.Equal((int)IoUring.IORING_FSYNC_DATASYNC, sync.RwFlags);
        k.Complete(0, res: 0);
        Assert.Equal(new[] { (f, 0) }, Reap(e).ToArray());
        Assert.Equal(1, e.Counters.Flushes);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void FailedFlush_IsAnsweredWithItsError(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        int f = Queue(e, IoKind.Flush, 0, 0);
        e.SubmitPending();
        k.Complete(0, res: -(int)Errno.EIO);
        Assert.Equal(new[] { (f, -(int)Errno.EIO) }, Reap(e).ToArray());
        Assert.Equal(0, e.Counters.Flushes);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void OverlappingWrites_TheLaterIsSubmittedOnlyAfterTheEarlierCompleted(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        Queue(e, IoKind.Write, 4, 4, 0x11);
        Queue(e, IoKind.Write, 6, 4, 0x22);
        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(1, e.QueuedCount);
        Assert.Equal(long.MaxValue, e.NextDeadlineNanos);
        Assert.Equal(0, e.SubmitPending());
        Assert.Equal(1, k.SubmitCalls); // nothing to plan until a completion

        k.CompleteAll();
        Reap(e);
        Assert.Equal(1, e.SubmitPending());
        k.CompleteAll();
        Reap(e);
        Assert.Equal(0x11, k.Disk[5 * Sector]);
        Assert.Equal(0x22, k.Disk[6 * Sector]);
        Assert.Equal(0x22, k.Disk[9 * Sector]);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void MergeDelay_HoldsSubmissionUntilTheBurstIsOver(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine(mergeDelay: 1000, maxDelay: 5000);
        k.Now = 10_000;
        Queue(e, IoKind.Write, 0, 1);
        Assert.Equal(0, e.SubmitPending());
        Assert.Equal(11_000, e.NextDeadlineNanos);
        k.Now = 10_500;
        Queue(e, IoKind.Write, 1, 1);
        Assert.Equal(11_500, e.NextDeadlineNanos);
        k.Now = 11_499;
        Assert.Equal(0, e.SubmitPending());
        k.Now = 11_500;
        Assert.Equal(2, e.SubmitPending());
        Assert.True(Assert.Single(k.InFlight).Vectored);
        Assert.Equal(1, k.SubmitCalls);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void MaxDelay_BoundsTheWaitOfTheOldestRequest_UnderSteadyArrivals(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine(queueLength: 32, mergeDelay: 1000, maxDelay: 5000);
        k.Now = 0;
        for (int i = 0; i < 6; i++)
        {
            Queue(e, IoKind.Write, (ulong)i, 1);
            Assert.Equal(0, e.SubmitPending());
            k.Now += 900; // always inside merge-delay of the last arrival
        }
        Assert.Equal(5000, e.NextDeadlineNanos);
        k.Now = 5000;
        Assert.Equal(6, e.SubmitPending());
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void MergeDelay_FullQueueSubmitsAtOnce(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine(queueLength: 2, mergeDelay: 1_000_000, maxDelay: 1_000_000);
        Queue(e, IoKind.Read, 0, 1);
        Assert.Equal(0, e.SubmitPending());
        Queue(e, IoKind.Read, 1, 1);
        Assert.False(e.TryAcquireSlot(out _));
        Assert.Equal(2, e.SubmitPending());
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void NoMergeDelay_SubmitsOnEveryCall(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        Queue(e, IoKind.Read, 0, 1);
        Assert.Equal(long.MinValue, e.NextDeadlineNanos);
        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(long.MaxValue, e.NextDeadlineNanos);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void EdgeTriggeredMode_ReapsWithoutReadingTheEventFd(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine(queueLength: 4, slotBytes: 512, edgeTriggered: true);
        Queue(e, IoKind.Read, 0, 1);
        e.SubmitPending();
        k.CompleteAll();
        long counter = k.EventFdCounter;
        Assert.True(counter > 0);
        Assert.Single(Reap(e));
        Assert.Equal(counter, k.EventFdCounter); // never read
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void LevelTriggeredMode_ReadsTheEventFdBeforeReaping(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine(queueLength: 4, slotBytes: 512);
        Queue(e, IoKind.Read, 0, 1);
        e.SubmitPending();
        k.CompleteAll();
        Assert.Single(Reap(e));
        Assert.Equal(0, k.EventFdCounter);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void ExternalBuffer_IsUsedInsteadOfTheSlotBuffer_AndMayExceedSlotBytes(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine(slotBytes: 512);
        var mem = new byte[4 * Sector];
        k.Disk.AsSpan(0, 4 * Sector).Fill(0x77);
        fixed (byte* p = mem)
        {
            Assert.True(e.TryAcquireSlot(out int s));
            e.Enqueue(s, IoKind.Read, 0, 4, p);
            e.SubmitPending();
            Assert.Equal((nint)p, Assert.Single(k.InFlight).Buffers[0].Base);
            k.CompleteAll();
            Assert.Equal(new[] { (s, 4 * Sector) }, Reap(e).ToArray());
        }
        Assert.All(mem, x => Assert.Equal(0x77, x));

        // The next request on that slot uses the slot buffer again.
        Assert.True(e.TryAcquireSlot(out int s2));
        e.Enqueue(s2, IoKind.Read, 0, 1);
        e.SubmitPending();
        Assert.Equal((nint)e.SlotPointer(s2), k.InFlight[0].Buffers[0].Base);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Slots_RunOutAtQueueLength_AndComeBackOnRelease(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine(queueLength: 2);
        Assert.True(e.TryAcquireSlot(out int a));
        Assert.True(e.TryAcquireSlot(out int b));
        Assert.False(e.TryAcquireSlot(out int none));
        Assert.Equal(-1, none);
        Assert.NotEqual(a, b);
        e.ReleaseSlot(a); // acquired but never enqueued: allowed
        Assert.True(e.TryAcquireSlot(out int again));
        Assert.Equal(a, again);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void ContractViolations_Throw(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine(queueLength: 2);
        Assert.Throws<InvalidOperationException>(() => e.Enqueue(0, IoKind.Read, 0, 1)); // not acquired
        Assert.True(e.TryAcquireSlot(out int s));
        Assert.Throws<ArgumentOutOfRangeException>(() => e.Enqueue(s, IoKind.Read, 0, 18)); // > slot bytes
        Assert.Throws<ArgumentOutOfRangeException>(() => e.Enqueue(s, IoKind.Read, (ulong)k.Disk.Length / 512, 1)); // past the end
        Assert.Throws<ArgumentOutOfRangeException>(() => e.Enqueue(s, IoKind.Read, 0, 0));
        e.Enqueue(s, IoKind.Read, 0, 1);
        Assert.Throws<InvalidOperationException>(() => e.ReleaseSlot(s)); // still queued
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void CompletedSlots_StayOwnedUntilReleased_AndReleasingWhileIteratingIsSafe(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        for (int i = 0; i < 8; i++)
            Queue(e, IoKind.Write, (ulong)i, 1);
        e.SubmitPending();
        k.CompleteAll();
        ReadOnlySpan<IoCompletion> done = e.Reap();
        Assert.Equal(8, done.Length);
        Assert.Equal(0, e.FreeSlotCount);
        int released = 0;
        foreach (IoCompletion c in done)
        {
            Assert.Equal(512, c.Result);
            e.ReleaseSlot(c.Slot);
            released++;
        }
        Assert.Equal(8, released);
        Assert.Equal(8, e.FreeSlotCount);
        Assert.Equal(0, e.Reap().Length);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void WriteThrough_PutsRwfDsyncOnEveryWrite_AndOnNoRead(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine(writeThrough: true);
        Queue(e, IoKind.Write, 0, 1);
        Queue(e, IoKind.Write, 1, 1);  // merged with the first
        Queue(e, IoKind.Write, 100, 2);
        Queue(e, IoKind.Read, 300, 1);
        e.SubmitPending();
        Assert.Equal(3, k.InFlight.Count);
        Assert.All(k.InFlight.Where(x => x.Kind == IoKind.Write), w => Assert.Equal(Libc.RWF_DSYNC, w.RwFlags & Libc.RWF_DSYNC));
        Assert.Equal(0, k.InFlight.Single(x => x.Kind == IoKind.Read).RwFlags);
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void WithoutWriteThrough_NoWriteCarriesRwfDsync(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        using StorageEngine e = k.Engine();
        Queue(e, IoKind.Write, 0, 1);
        Queue(e, IoKind.Write, 100, 2);
        e.SubmitPending();
        Assert.Equal(2, k.InFlight.Count);
        Assert.All(k.InFlight, w => Assert.Equal(0, w.RwFlags & Libc.RWF_DSYNC));
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void RandomWorkload_AgainstAModelDisk_WithRandomCompletionOrder(string kernel)
    {
        FakeKernelState k = FakeKernels.Create(kernel);
        var rng = new Random(42);
        using StorageEngine e = k.Engine(queueLength: 16, limits: new MergeLimits(4, 8 * Sector), slotBytes: 4 * Sector);
        var load = new ModelWorkload(e, k.Disk.Length);
        for (int turn = 0; turn < 3000; turn++)
        {
            load.Arrive(rng, rng.Next(0, 4));
            e.SubmitPending();
            int completions = rng.Next(0, k.InFlight.Count + 1);
            for (int i = 0; i < completions; i++)
                k.Complete(rng.Next(k.InFlight.Count));
            load.Reap();
        }
        Assert.Equal(load.Model, k.Disk);
        Assert.True(e.Counters.MergedRequests > 0);
    }
}
