using System;
using System.Linq;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

public unsafe class AioEngineFakeKernelTests
{
    private const int Sector = 512;
    private readonly FakeAio _aio = new();

    private AioEngine<FakeAioKernel> Engine(int queueLength = 8, long mergeDelay = 0, long maxDelay = 0, MergeLimits limits = default, int slotBytes = 17 * Sector)
        => new(new FakeAioKernel(_aio), fd: 3, deviceSectors: (ulong)_aio.Disk.Length / Sector, logicalBlockSize: 512,
            new AioEngineOptions { QueueLength = queueLength, SlotBytes = slotBytes, MergeDelayNanos = mergeDelay, MaxDelayNanos = maxDelay, Limits = limits });

    private static int Queue(AioEngine<FakeAioKernel> e, IoKind kind, ulong lba, int sectors, byte fill = 0)
    {
        Assert.True(e.TryAcquireSlot(out int slot));
        if (kind == IoKind.Write)
            e.SlotBuffer(slot).Slice(0, sectors * Sector).Fill(fill);
        e.Enqueue(slot, kind, lba, sectors);
        return slot;
    }

    private static RecordingHandler Reap(AioEngine<FakeAioKernel> e, bool release = true)
    {
        var h = new RecordingHandler();
        if (release)
            h.Release = e.ReleaseSlot;
        e.ReapCompletions(ref h);
        return h;
    }

    [Fact]
    public void Construction_SizesTheContextFromQueueLength_AndAlignsEverySlot()
    {
        using var e = new AioEngine<FakeAioKernel>(new FakeAioKernel(_aio), 3, 2048, 8192, new AioEngineOptions { QueueLength = 5, SlotBytes = 8704 });
        Assert.Equal(5u, _aio.LastSetupEvents);
        Assert.Equal(8192, e.BufferAlignment);
        for (int s = 0; s < 5; s++)
        {
            Assert.Equal(0, (long)e.SlotPointer(s) % 8192);
            Assert.Equal(8704, e.SlotBuffer(s).Length);
        }
        Assert.Equal(FakeAio.EventFd, e.EventFd);
        e.Dispose();
        Assert.Equal(1, _aio.DestroyCalls);
    }

    [Fact]
    public void AdjacentWrites_GoInOneMergedIocb_InOneSubmit_AndLandOnDisk()
    {
        using var e = Engine();
        int a = Queue(e, IoKind.Write, 10, 2, 0xAA);
        int b = Queue(e, IoKind.Write, 12, 3, 0xBB);
        int c = Queue(e, IoKind.Write, 15, 1, 0xCC);

        Assert.Equal(3, e.SubmitPending());
        Assert.Equal(1, _aio.SubmitCalls);
        FakeIocb cb = Assert.Single(_aio.InFlight);
        Assert.Equal(Aio.IOCB_CMD_PWRITEV, cb.Opcode);
        Assert.Equal(10 * Sector, cb.Offset);
        Assert.Equal(Aio.IOCB_FLAG_RESFD, cb.Flags);
        Assert.Equal((uint)FakeAio.EventFd, cb.ResFd);
        Assert.Equal(new[] { 1024, 1536, 512 }, cb.Buffers.Select(x => x.Length).ToArray());
        Assert.Equal(3, e.InFlightCount);

        _aio.CompleteAll();
        RecordingHandler h = Reap(e);
        Assert.Equal(new[] { (a, 1024), (b, 1536), (c, 512) }, h.Done.ToArray());
        Assert.All(_aio.Disk.AsSpan(10 * Sector, 1024).ToArray(), x => Assert.Equal(0xAA, x));
        Assert.All(_aio.Disk.AsSpan(12 * Sector, 1536).ToArray(), x => Assert.Equal(0xBB, x));
        Assert.Equal(0xCC, _aio.Disk[15 * Sector + 511]);
        Assert.Equal(0, _aio.Disk[16 * Sector]);

        Assert.Equal(3, e.Counters.WriteRequests);
        Assert.Equal(6, e.Counters.WriteSectors);
        Assert.Equal(3, e.Counters.MergedRequests);
        Assert.Equal(1, e.Counters.IocbsSubmitted);
        Assert.Equal(1, e.Counters.SubmitCalls);
        Assert.Equal(0, e.QueueDepth);
        Assert.Equal(8, e.FreeSlotCount);
    }

    [Fact]
    public void SingleRead_UsesPread_AndDataArrivesInTheSlotBuffer()
    {
        using var e = Engine();
        _aio.Disk.AsSpan(7 * Sector, Sector).Fill(0x5A);
        int s = Queue(e, IoKind.Read, 7, 1);
        e.SubmitPending();
        Assert.Equal(Aio.IOCB_CMD_PREAD, _aio.InFlight[0].Opcode);
        _aio.CompleteAll();
        RecordingHandler h = Reap(e, release: false);
        Assert.Equal((s, 512), Assert.Single(h.Done));
        Assert.All(e.SlotBuffer(s).Slice(0, Sector).ToArray(), x => Assert.Equal(0x5A, x));
        Assert.Equal(1, e.Counters.ReadRequests);
        Assert.Equal(0, e.Counters.MergedRequests);
        e.ReleaseSlot(s);
    }

    [Fact]
    public void Eagain_KeepsEverythingQueued_AndRetriesAfterADelayWhenNothingIsInFlight()
    {
        using var e = Engine();
        _aio.Now = 5_000_000;
        Queue(e, IoKind.Read, 0, 1);
        Queue(e, IoKind.Read, 9, 1);
        _aio.SubmitScript.Enqueue(-(int)Errno.EAGAIN);

        Assert.Equal(0, e.SubmitPending());
        Assert.Equal(1, e.Counters.SubmitEagain);
        Assert.Equal(2, e.QueuedCount);
        Assert.Equal(5_000_000 + 1_000_000, e.NextDeadlineNanos);

        Assert.Equal(0, e.SubmitPending()); // too early: no syscall
        Assert.Equal(1, _aio.SubmitCalls);

        _aio.Now += 1_000_000;
        Assert.Equal(2, e.SubmitPending());
        Assert.Equal(2, _aio.InFlight.Count);
        Assert.Equal(long.MaxValue, e.NextDeadlineNanos);
    }

    [Fact]
    public void Eagain_WithIocbsInFlight_WaitsForTheNextCompletion()
    {
        using var e = Engine();
        Queue(e, IoKind.Write, 0, 1);
        e.SubmitPending();
        Queue(e, IoKind.Write, 50, 1);
        _aio.SubmitScript.Enqueue(-(int)Errno.EAGAIN);
        Assert.Equal(0, e.SubmitPending());
        Assert.Equal(long.MaxValue, e.NextDeadlineNanos); // the eventfd will wake the reactor

        Assert.Equal(0, e.SubmitPending());
        Assert.Equal(2, _aio.SubmitCalls);

        _aio.CompleteAll();
        Assert.Single(Reap(e).Done);
        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(50 * Sector, Assert.Single(_aio.InFlight).Offset);
    }

    [Fact]
    public void PartialSubmit_OffersTheRestAgainAtOnce()
    {
        using var e = Engine();
        Queue(e, IoKind.Read, 0, 1);
        Queue(e, IoKind.Read, 100, 1);
        Queue(e, IoKind.Read, 200, 1);
        _aio.SubmitScript.Enqueue(1);
        Assert.Equal(3, e.SubmitPending());
        Assert.Equal(2, _aio.SubmitCalls);
        Assert.Equal(3, _aio.InFlight.Count);
        Assert.Equal(0, e.Counters.SubmitEagain);
    }

    [Fact]
    public void PartialSubmitThenEagain_KeepsTheRestQueued_AndSubmitsItAfterACompletion()
    {
        using var e = Engine();
        Queue(e, IoKind.Read, 0, 1);
        Queue(e, IoKind.Read, 100, 1);
        Queue(e, IoKind.Read, 200, 1);
        _aio.SubmitScript.Enqueue(1);
        _aio.SubmitScript.Enqueue(-(int)Errno.EAGAIN);

        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(1, e.Counters.SubmitEagain);
        Assert.Equal(2, e.QueuedCount);
        Assert.Equal(1, e.InFlightCount);
        Assert.Equal(0, e.SubmitPending()); // blocked until a completion
        Assert.Equal(2, _aio.SubmitCalls);

        _aio.CompleteAll();
        Reap(e);
        Assert.Equal(2, e.SubmitPending());
        Assert.Equal(new long[] { 100 * Sector, 200 * Sector }, _aio.InFlight.Select(x => x.Offset).OrderBy(x => x).ToArray());
        _aio.CompleteAll();
        Assert.Equal(2, Reap(e).Done.Count);
        Assert.Equal(3, e.Counters.ReadRequests);
    }

    [Fact]
    public void KernelError_FailsEveryRequestOfTheMergedIocb()
    {
        using var e = Engine();
        int[] slots = { Queue(e, IoKind.Write, 0, 2), Queue(e, IoKind.Write, 2, 2), Queue(e, IoKind.Write, 4, 2) };
        e.SubmitPending();
        _aio.Complete(0, res: -(int)Errno.EIO);
        RecordingHandler h = Reap(e);
        Assert.Equal(slots.Select(s => (s, -(int)Errno.EIO)).ToArray(), h.Done.ToArray());
        Assert.Equal(3, e.Counters.Errors);
        Assert.Equal(0, e.Counters.WriteRequests);
        Assert.Equal(8, e.FreeSlotCount);
    }

    [Fact]
    public void ShortRead_SucceedsTheFullyCoveredRequests_AndFailsTheRest()
    {
        using var e = Engine();
        int a = Queue(e, IoKind.Read, 0, 2);
        int b = Queue(e, IoKind.Read, 2, 2);
        int c = Queue(e, IoKind.Read, 4, 2);
        e.SubmitPending();
        _aio.Complete(0, bytes: 2560); // a (1024) and b (1024) covered, c got 512 of 1024
        RecordingHandler h = Reap(e);
        Assert.Equal(new[] { (a, 1024), (b, 1024), (c, -(int)Errno.EIO) }, h.Done.ToArray());
        Assert.Equal(2, e.Counters.ReadRequests);
        Assert.Equal(1, e.Counters.Errors);
    }

    [Fact]
    public void OutOfOrderCompletions_AreDeliveredInCompletionOrder()
    {
        using var e = Engine();
        int a = Queue(e, IoKind.Read, 0, 1);
        int b = Queue(e, IoKind.Write, 100, 1);
        int c = Queue(e, IoKind.Read, 200, 1);
        e.SubmitPending();
        Assert.Equal(3, _aio.InFlight.Count);
        int IndexOf(long offset) => _aio.InFlight.FindIndex(x => x.Offset == offset);
        _aio.Complete(IndexOf(200 * Sector));
        _aio.Complete(IndexOf(0));
        RecordingHandler h1 = Reap(e);
        Assert.Equal(new[] { (c, 512), (a, 512) }, h1.Done.ToArray());
        _aio.Complete(0);
        Assert.Equal(new[] { (b, 512) }, Reap(e).Done.ToArray());
    }

    [Fact]
    public void StaleOrForeignTokens_AreCountedAndIgnored()
    {
        using var e = Engine();
        Queue(e, IoKind.Read, 0, 1);
        e.SubmitPending();
        ulong token = _aio.InFlight[0].Data;
        _aio.CompleteAll();
        Assert.Single(Reap(e).Done);

        // The op index is reused with a new generation: the old token no longer matches.
        Queue(e, IoKind.Read, 8, 1);
        e.SubmitPending();
        Assert.NotEqual(token, _aio.InFlight[0].Data);
        Assert.Equal((uint)token, (uint)_aio.InFlight[0].Data); // same op index
        _aio.InjectEvent(token, 512);
        _aio.InjectEvent(0xFFFF_FFFF, 512);  // index out of range
        Assert.Empty(Reap(e).Done);
        Assert.Equal(2, e.Counters.StaleCompletions);
        Assert.Equal(1, e.InFlightCount);

        _aio.CompleteAll();
        Assert.Single(Reap(e).Done);
        Assert.Equal(2, e.Counters.ReadRequests);
    }

    [Fact]
    public void SubmitRefusedWithAnError_FailsThatIocbOnly_AndSignalsTheEventFd()
    {
        using var e = Engine();
        _aio.Refuse = f => f.Opcode == Aio.IOCB_CMD_PWRITE ? -(int)Errno.EBADF : 0; // a read-only fd
        int r = Queue(e, IoKind.Read, 0, 1);
        int w = Queue(e, IoKind.Write, 100, 1);
        int r2 = Queue(e, IoKind.Read, 200, 1);

        Assert.Equal(2, e.SubmitPending());
        Assert.Equal(2, _aio.InFlight.Count);
        Assert.True(_aio.EventFdCounter > 0);
        Assert.Equal(0, e.QueuedCount);

        RecordingHandler h = Reap(e);
        Assert.Equal(new[] { (w, -(int)Errno.EBADF) }, h.Done.ToArray());
        _aio.CompleteAll();
        Assert.Equal(new[] { r, r2 }, Reap(e).Done.Select(x => x.Slot).OrderBy(x => x).ToArray());
        Assert.Equal(1, e.Counters.Errors);
    }

    [Fact]
    public void Flush_GoesAsFdsync_AfterEarlierWritesCompleted()
    {
        using var e = Engine();
        Queue(e, IoKind.Write, 0, 1);
        int f = Queue(e, IoKind.Flush, 0, 0);
        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(Aio.IOCB_CMD_PWRITE, Assert.Single(_aio.InFlight).Opcode);
        _aio.CompleteAll();
        Reap(e);
        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(Aio.IOCB_CMD_FDSYNC, Assert.Single(_aio.InFlight).Opcode);
        _aio.Complete(0, res: 0);
        Assert.Equal(new[] { (f, 0) }, Reap(e).Done.ToArray());
        Assert.Equal(1, e.Counters.Flushes);
        Assert.False(e.FlushIsSynchronous);
    }

    [Fact]
    public void FdsyncRefusedWithEinval_FallsBackToSynchronousFdatasync_FromThenOn()
    {
        using var e = Engine();
        _aio.Refuse = f => f.Opcode == Aio.IOCB_CMD_FDSYNC ? -(int)Errno.EINVAL : 0;
        int f1 = Queue(e, IoKind.Flush, 0, 0);
        e.SubmitPending();
        Assert.True(e.FlushIsSynchronous);
        Assert.Equal(1, _aio.FdataSyncCalls);
        Assert.Equal(new[] { (f1, 0) }, Reap(e).Done.ToArray());

        int submitsBefore = _aio.SubmitCalls;
        int f2 = Queue(e, IoKind.Flush, 0, 0);
        e.SubmitPending();
        Assert.Equal(submitsBefore, _aio.SubmitCalls); // not offered to the kernel again
        Assert.Equal(2, _aio.FdataSyncCalls);
        Assert.Equal(new[] { (f2, 0) }, Reap(e).Done.ToArray());
        Assert.Equal(2, e.Counters.Flushes);
        Assert.Equal(2, e.Counters.SyncFlushFallbacks);
    }

    [Fact]
    public void OverlappingWrites_TheLaterIsSubmittedOnlyAfterTheEarlierCompleted()
    {
        using var e = Engine();
        Queue(e, IoKind.Write, 4, 4, 0x11);
        Queue(e, IoKind.Write, 6, 4, 0x22);
        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(1, e.QueuedCount);
        Assert.Equal(long.MaxValue, e.NextDeadlineNanos);
        Assert.Equal(0, e.SubmitPending());
        Assert.Equal(1, _aio.SubmitCalls); // nothing to plan until a completion

        _aio.CompleteAll();
        Reap(e);
        Assert.Equal(1, e.SubmitPending());
        _aio.CompleteAll();
        Reap(e);
        Assert.Equal(0x11, _aio.Disk[5 * Sector]);
        Assert.Equal(0x22, _aio.Disk[6 * Sector]);
        Assert.Equal(0x22, _aio.Disk[9 * Sector]);
    }

    [Fact]
    public void MergeDelay_HoldsSubmissionUntilTheBurstIsOver()
    {
        using var e = Engine(mergeDelay: 1000, maxDelay: 5000);
        _aio.Now = 10_000;
        Queue(e, IoKind.Write, 0, 1);
        Assert.Equal(0, e.SubmitPending());
        Assert.Equal(11_000, e.NextDeadlineNanos);
        _aio.Now = 10_500;
        Queue(e, IoKind.Write, 1, 1);
        Assert.Equal(11_500, e.NextDeadlineNanos);
        _aio.Now = 11_499;
        Assert.Equal(0, e.SubmitPending());
        _aio.Now = 11_500;
        Assert.Equal(2, e.SubmitPending());
        Assert.Equal(Aio.IOCB_CMD_PWRITEV, Assert.Single(_aio.InFlight).Opcode);
        Assert.Equal(1, _aio.SubmitCalls);
    }

    [Fact]
    public void MaxDelay_BoundsTheWaitOfTheOldestRequest_UnderSteadyArrivals()
    {
        using var e = Engine(queueLength: 32, mergeDelay: 1000, maxDelay: 5000);
        _aio.Now = 0;
        for (int i = 0; i < 6; i++)
        {
            Queue(e, IoKind.Write, (ulong)i, 1);
            Assert.Equal(0, e.SubmitPending());
            _aio.Now += 900; // always inside merge-delay of the last arrival
        }
        Assert.Equal(5000, e.NextDeadlineNanos);
        _aio.Now = 5000;
        Assert.Equal(6, e.SubmitPending());
    }

    [Fact]
    public void MergeDelay_FullQueueSubmitsAtOnce()
    {
        using var e = Engine(queueLength: 2, mergeDelay: 1_000_000, maxDelay: 1_000_000);
        Queue(e, IoKind.Read, 0, 1);
        Assert.Equal(0, e.SubmitPending());
        Queue(e, IoKind.Read, 1, 1);
        Assert.False(e.TryAcquireSlot(out _));
        Assert.Equal(2, e.SubmitPending());
    }

    [Fact]
    public void NoMergeDelay_SubmitsOnEveryCall()
    {
        using var e = Engine();
        Queue(e, IoKind.Read, 0, 1);
        Assert.Equal(long.MinValue, e.NextDeadlineNanos);
        Assert.Equal(1, e.SubmitPending());
        Assert.Equal(long.MaxValue, e.NextDeadlineNanos);
    }

    [Fact]
    public void EdgeTriggeredMode_ReapsWithoutReadingTheEventFd()
    {
        using var e = new AioEngine<FakeAioKernel>(new FakeAioKernel(_aio), 3, 2048, 512,
            new AioEngineOptions { QueueLength = 4, SlotBytes = 512, EdgeTriggeredEventFd = true });
        Queue(e, IoKind.Read, 0, 1);
        e.SubmitPending();
        _aio.CompleteAll();
        Assert.Single(Reap(e).Done);
        Assert.Equal(1, _aio.EventFdCounter); // never read
    }

    [Fact]
    public void ExternalBuffer_IsUsedInsteadOfTheSlotBuffer_AndMayExceedSlotBytes()
    {
        using var e = Engine(slotBytes: 512);
        var mem = new byte[4 * Sector];
        _aio.Disk.AsSpan(0, 4 * Sector).Fill(0x77);
        fixed (byte* p = mem)
        {
            Assert.True(e.TryAcquireSlot(out int s));
            e.Enqueue(s, IoKind.Read, 0, 4, p);
            e.SubmitPending();
            Assert.Equal((nint)p, Assert.Single(_aio.InFlight).Buffers[0].Base);
            _aio.CompleteAll();
            Assert.Equal(new[] { (s, 4 * Sector) }, Reap(e).Done.ToArray());
        }
        Assert.All(mem, x => Assert.Equal(0x77, x));

        // The next request on that slot uses the slot buffer again.
        Assert.True(e.TryAcquireSlot(out int s2));
        e.Enqueue(s2, IoKind.Read, 0, 1);
        e.SubmitPending();
        Assert.Equal((nint)e.SlotPointer(s2), _aio.InFlight[0].Buffers[0].Base);
    }

    [Fact]
    public void Slots_RunOutAtQueueLength_AndComeBackOnRelease()
    {
        using var e = Engine(queueLength: 2);
        Assert.True(e.TryAcquireSlot(out int a));
        Assert.True(e.TryAcquireSlot(out int b));
        Assert.False(e.TryAcquireSlot(out int none));
        Assert.Equal(-1, none);
        Assert.NotEqual(a, b);
        e.ReleaseSlot(a); // acquired but never enqueued: allowed
        Assert.True(e.TryAcquireSlot(out int again));
        Assert.Equal(a, again);
    }

    [Fact]
    public void ContractViolations_Throw()
    {
        using var e = Engine(queueLength: 2);
        Assert.Throws<InvalidOperationException>(() => e.Enqueue(0, IoKind.Read, 0, 1)); // not acquired
        Assert.True(e.TryAcquireSlot(out int s));
        Assert.Throws<ArgumentOutOfRangeException>(() => e.Enqueue(s, IoKind.Read, 0, 18)); // > slot bytes
        Assert.Throws<ArgumentOutOfRangeException>(() => e.Enqueue(s, IoKind.Read, (ulong)_aio.Disk.Length / 512, 1)); // past the end
        Assert.Throws<ArgumentOutOfRangeException>(() => e.Enqueue(s, IoKind.Read, 0, 0));
        e.Enqueue(s, IoKind.Read, 0, 1);
        Assert.Throws<InvalidOperationException>(() => e.ReleaseSlot(s)); // still queued
    }

    [Fact]
    public void ReleasingInsideTheHandler_IsSafe_ForMergedIocbs()
    {
        using var e = Engine();
        for (int i = 0; i < 8; i++)
            Queue(e, IoKind.Write, (ulong)i, 1);
        e.SubmitPending();
        _aio.CompleteAll();
        RecordingHandler h = Reap(e, release: true);
        Assert.Equal(8, h.Done.Count);
        Assert.Equal(8, e.FreeSlotCount);
        Assert.All(h.Done, d => Assert.Equal(512, d.Result));
    }

    [Fact]
    public void RandomWorkload_AgainstAModelDisk_WithRandomCompletionOrder()
    {
        var rng = new Random(42);
        using var e = Engine(queueLength: 16, limits: new MergeLimits(4, 8 * Sector), slotBytes: 4 * Sector);
        var model = new byte[_aio.Disk.Length];
        var expectRead = new byte[16][];
        var h = new RecordingHandler();
        byte stamp = 1;
        for (int turn = 0; turn < 3000; turn++)
        {
            int arrivals = rng.Next(0, 4);
            for (int i = 0; i < arrivals && e.TryAcquireSlot(out int s); i++)
            {
                ulong lba = (ulong)rng.Next(0, 64);
                int sectors = rng.Next(1, 5);
                if (rng.Next(2) == 0)
                {
                    e.SlotBuffer(s).Slice(0, sectors * Sector).Fill(stamp);
                    model.AsSpan((int)lba * Sector, sectors * Sector).Fill(stamp);
                    stamp = (byte)(stamp % 250 + 1);
                    e.Enqueue(s, IoKind.Write, lba, sectors);
                    expectRead[s] = null!;
                }
                else
                {
                    // Reads see every write that arrived before them (the engine keeps arrival order).
                    expectRead[s] = model.AsSpan((int)lba * Sector, sectors * Sector).ToArray();
                    e.Enqueue(s, IoKind.Read, lba, sectors);
                }
            }
            e.SubmitPending();
            int completions = rng.Next(0, _aio.InFlight.Count + 1);
            for (int i = 0; i < completions; i++)
                _aio.Complete(rng.Next(_aio.InFlight.Count));
            h.Done.Clear();
            e.ReapCompletions(ref h);
            foreach (var (slot, result) in h.Done)
            {
                Assert.True(result > 0);
                if (expectRead[slot] != null)
                    Assert.Equal(expectRead[slot], e.SlotBuffer(slot).Slice(0, result).ToArray());
                e.ReleaseSlot(slot);
            }
        }
        Assert.Equal(model, _aio.Disk);
        Assert.True(e.Counters.MergedRequests > 0);
    }
}
