using System;
using System.Linq;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// What only the io_uring engine does, against a fake kernel that plays the rings: setup, short
/// transfers, results to resubmit, deferred completion work, CQ overflow, refusals by io_uring_enter and
/// fail-stop. The shared behaviour is in <see cref="EngineFakeKernelTests"/>.
/// </summary>
public unsafe class UringEngineFakeKernelTests
{
    private const int Sector = 512;
    private readonly FakeUring _k = new();

    private UringEngine<FakeUringKernel> Engine(int queueLength = 8, int slotBytes = 17 * Sector, bool edgeTriggered = true)
        => (UringEngine<FakeUringKernel>)_k.Engine(queueLength: queueLength, slotBytes: slotBytes, edgeTriggered: edgeTriggered);

    private static int Queue(StorageEngine e, IoKind kind, ulong lba, int sectors, byte fill = 0)
    {
        Assert.True(e.TryAcquireSlot(out int slot));
        if (kind == IoKind.Write)
            e.SlotBuffer(slot).Slice(0, sectors * Sector).Fill(fill);
        e.Enqueue(slot, kind, lba, sectors);
        return slot;
    }

    private void FillDisk()
    {
        for (int i = 0; i < _k.Disk.Length; i++)
            _k.Disk[i] = (byte)(i / Sector * 7 + i);
    }

    [Fact]
    public void Setup_TakesTheBestFlagsTheKernelKnows_SizesTheRings_AndRegistersTheEventFd()
    {
        using (var e = Engine(queueLength: 48))
        {
            Assert.Equal(EngineKind.IoUring, e.Kind);
            Assert.Single(_k.SetupAttempts);
            Assert.Equal(IoUring.IORING_SETUP_DEFER_TASKRUN | IoUring.IORING_SETUP_SINGLE_ISSUER | IoUring.IORING_SETUP_TASKRUN_FLAG
                         | IoUring.IORING_SETUP_SUBMIT_ALL | IoUring.IORING_SETUP_CQSIZE, e.SetupFlags);
            Assert.Equal(64u, e.SqEntries);
            Assert.Equal(128u, e.CqEntries); // twice the SQ: every op in flight (at most queue-length) has room for its CQE
            Assert.True(e.QueueLength <= e.CqEntries);
            Assert.Equal(FakeKernelState.EventFd, _k.RegisteredEventFd);
            Assert.Equal(FakeKernelState.EventFd, e.EventFd);
        }
        Assert.Equal(2, _k.Unmaps); // SQ/CQ region and SQEs
        Assert.Equal(2, _k.Closes); // ring and eventfd
    }

    [Fact]
    public void Setup_StepsDownTheLadder_WhenTheKernelRefusesNewerFlags()
    {
        // A 5.19 kernel: no SINGLE_ISSUER (6.0) nor DEFER_TASKRUN (6.1).
        _k.KnownSetupFlags = ~(IoUring.IORING_SETUP_SINGLE_ISSUER | IoUring.IORING_SETUP_DEFER_TASKRUN);
        using var e = Engine();
        Assert.Equal(3, _k.SetupAttempts.Count);
        Assert.Equal(IoUring.IORING_SETUP_COOP_TASKRUN | IoUring.IORING_SETUP_TASKRUN_FLAG | IoUring.IORING_SETUP_SUBMIT_ALL | IoUring.IORING_SETUP_CQSIZE, e.SetupFlags);
        Queue(e, IoKind.Read, 0, 1);
        e.SubmitPending();
        _k.CompleteAll();
        Assert.Single(Reaper.Reap(e));
    }

    [Theory]
    [InlineData(IoUring.IORING_FEAT_NODROP)]
    [InlineData(IoUring.IORING_FEAT_SUBMIT_STABLE)]
    public void Setup_WithoutAFeatureTheEngineReliesOn_FailsAndClosesTheRing(uint missing)
    {
        _k.Features &= ~missing;
        var ex = Assert.Throws<StorageException>(() => Engine());
        Assert.Contains("NODROP", ex.Message);
        Assert.Equal(2, _k.Closes); // the ring and the eventfd
    }

    [Fact]
    public void Setup_WhenAnOpcodeIsMissing_FailsNamingIt()
    {
        _k.UnsupportedOpcodes.Add(IoUring.IORING_OP_READ);
        var ex = Assert.Throws<StorageException>(() => Engine());
        Assert.Contains("opcode " + IoUring.IORING_OP_READ, ex.Message);
    }

    [Fact]
    public void Setup_Refused_ThrowsWithTheErrno()
    {
        _k.SetupError = -(int)Errno.EPERM;
        var ex = Assert.Throws<StorageException>(() => Engine());
        Assert.Equal((int)Errno.EPERM, ex.Errno);
        Assert.Contains("io_uring_setup", ex.Message);
    }

    [Fact]
    public void EverythingPreparedInATurn_GoesInOneEnter()
    {
        using var e = Engine(queueLength: 16);
        for (int i = 0; i < 10; i++)
            Queue(e, i % 2 == 0 ? IoKind.Read : IoKind.Write, (ulong)(i * 100), 1);
        Assert.Equal(10, e.SubmitPending());
        Assert.Equal(1, _k.EnterCalls);
        Assert.Equal(10, _k.InFlight.Count);
        Assert.Equal(10, e.Counters.IocbsSubmitted);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ReadsOfABufferedStore_GoToTheKernelsWorkers_WritesAndDirectReadsDoNot(bool buffered)
    {
        // A page-cache miss makes the submitter start the disk I/O (readahead, a VM exit per request on a
        // virtio disk): IOSQE_ASYNC leaves that to io-wq instead of our io_uring_enter.
        using StorageEngine e = _k.CreateEngine(new EngineOptions { QueueLength = 8, SlotBytes = 17 * Sector, BufferedStore = buffered });
        Queue(e, IoKind.Read, 0, 1);
        Queue(e, IoKind.Read, 1, 1);   // merged: READV
        Queue(e, IoKind.Read, 100, 2);
        Queue(e, IoKind.Write, 300, 1);
        Queue(e, IoKind.Flush, 0, 0);
        e.SubmitPending();
        Assert.Equal(3, _k.InFlight.Count);
        Assert.All(_k.InFlight.Where(x => x.Kind == IoKind.Read), r => Assert.Equal(buffered ? IoUring.IOSQE_ASYNC : 0, r.SqeFlags));
        Assert.Equal(0, _k.InFlight.Single(x => x.Kind == IoKind.Write).SqeFlags);
    }

    [Fact]
    public void ShortRead_IsResubmittedForTheRest_AndTheRequestSucceeds()
    {
        FillDisk();
        using var e = Engine();
        int s = Queue(e, IoKind.Read, 10, 4);
        e.SubmitPending();
        _k.Complete(0, bytes: 1000);
        Assert.Empty(Reaper.Reap(e));
        Assert.True(e.HasQueued);
        Assert.Equal(long.MinValue, e.NextDeadlineNanos);
        e.SubmitPending();
        FakeIo rest = Assert.Single(_k.InFlight);
        Assert.Equal(10 * Sector + 1000, rest.Offset);
        Assert.Equal(4 * Sector - 1000, rest.Bytes);
        Assert.Equal((nint)(e.SlotPointer(s) + 1000), rest.Buffers[0].Base);
        _k.CompleteAll();
        Assert.Equal(new[] { (s, 4 * Sector) }, Reaper.Reap(e, release: false).ToArray());
        Assert.Equal(_k.Disk.AsSpan(10 * Sector, 4 * Sector).ToArray(), e.SlotBuffer(s).Slice(0, 4 * Sector).ToArray());
        Assert.Equal(1, e.Counters.ShortTransfers);
        Assert.Equal(1, e.Counters.ReadRequests);
    }

    [Fact]
    public void ShortVectoredRead_ResubmitsFromTheMiddleOfARequest()
    {
        FillDisk();
        using var e = Engine();
        int a = Queue(e, IoKind.Read, 0, 2);
        int b = Queue(e, IoKind.Read, 2, 2);
        int c = Queue(e, IoKind.Read, 4, 2);
        e.SubmitPending();
        Assert.True(_k.InFlight[0].Vectored);
        _k.Complete(0, bytes: 1024 + 300); // a done, b 300 bytes in
        Reaper.Reap(e);
        e.SubmitPending();
        FakeIo rest = Assert.Single(_k.InFlight);
        Assert.True(rest.Vectored);
        Assert.Equal(1024 + 300, rest.Offset);
        Assert.Equal(new[] { 1024 - 300, 1024 }, rest.Buffers.Select(x => x.Length).ToArray());
        Assert.Equal((nint)(e.SlotPointer(b) + 300), rest.Buffers[0].Base);
        _k.CompleteAll();
        Assert.Equal(new[] { (a, 1024), (b, 1024), (c, 1024) }, Reaper.Reap(e, release: false).ToArray());
        Assert.Equal(_k.Disk.AsSpan(0, 6 * Sector).ToArray(),
            e.SlotBuffer(a).Slice(0, 1024).ToArray().Concat(e.SlotBuffer(b).Slice(0, 1024).ToArray()).Concat(e.SlotBuffer(c).Slice(0, 1024).ToArray()).ToArray());
    }

    [Fact]
    public void ShortRead_ThenEndOfFile_FailsOnlyTheRequestsNotCovered()
    {
        using var e = Engine();
        int a = Queue(e, IoKind.Read, 0, 2);
        int b = Queue(e, IoKind.Read, 2, 2);
        int c = Queue(e, IoKind.Read, 4, 2);
        e.SubmitPending();
        _k.Complete(0, bytes: 2560); // a and b covered, c half
        Reaper.Reap(e);
        e.SubmitPending();
        _k.Complete(0, res: 0);       // the file ends there (truncated under us)
        Assert.Equal(new[] { (a, 1024), (b, 1024), (c, -(int)Errno.ENODATA) }, Reaper.Reap(e).ToArray());
        Assert.Equal(2, e.Counters.ReadRequests);
        Assert.Equal(1, e.Counters.Errors);
        Assert.False(e.HasQueued);
    }

    [Fact]
    public void ShortWrite_IsResubmittedForTheRest_AndTheDataLands()
    {
        using var e = Engine();
        int s = Queue(e, IoKind.Write, 20, 3, 0x3C);
        e.SubmitPending();
        _k.Complete(0, bytes: 512);
        Reaper.Reap(e);
        e.SubmitPending();
        Assert.Equal(21 * Sector, Assert.Single(_k.InFlight).Offset);
        _k.CompleteAll();
        Assert.Equal(new[] { (s, 3 * Sector) }, Reaper.Reap(e).ToArray());
        Assert.All(_k.Disk.AsSpan(20 * Sector, 3 * Sector).ToArray(), x => Assert.Equal(0x3C, x));
    }

    [Fact]
    public void ErrorAfterAShortTransfer_KeepsTheCoveredRequests()
    {
        using var e = Engine();
        int a = Queue(e, IoKind.Read, 0, 2);
        int b = Queue(e, IoKind.Read, 2, 2);
        e.SubmitPending();
        _k.Complete(0, bytes: 1024);
        Reaper.Reap(e);
        e.SubmitPending();
        _k.Complete(0, res: -(int)Errno.EIO);
        Assert.Equal(new[] { (a, 1024), (b, -(int)Errno.EIO) }, Reaper.Reap(e).ToArray());
    }

    [Theory]
    [InlineData(Errno.EAGAIN)]
    [InlineData(Errno.EINTR)]
    public void EagainOrEintrResult_IsResubmitted_AndSucceedsLater(Errno errno)
    {
        using var e = Engine();
        int s = Queue(e, IoKind.Read, 5, 1);
        e.SubmitPending();
        ulong first = _k.InFlight[0].Token;
        _k.Complete(0, res: -(int)errno);
        Assert.Empty(Reaper.Reap(e));
        e.SubmitPending();
        FakeIo again = Assert.Single(_k.InFlight);
        Assert.Equal(5 * Sector, again.Offset);
        Assert.NotEqual(first, again.Token); // a late CQE of the first SQE is stale
        _k.Post(first, 512);
        _k.CompleteAll();
        Assert.Equal(new[] { (s, 512) }, Reaper.Reap(e).ToArray());
        Assert.Equal(1, e.Counters.Resubmits);
        Assert.Equal(1, e.Counters.StaleCompletions);
    }

    [Fact]
    public void EagainResultForever_FailsAfterTheBound()
    {
        using var e = Engine();
        int s = Queue(e, IoKind.Read, 5, 1);
        e.SubmitPending();
        for (int i = 0; i < UringEngine<FakeUringKernel>.MaxResubmits; i++)
        {
            _k.Complete(0, res: -(int)Errno.EAGAIN);
            Assert.Empty(Reaper.Reap(e));
            e.SubmitPending();
        }
        _k.Complete(0, res: -(int)Errno.EAGAIN);
        Assert.Equal(new[] { (s, -(int)Errno.EAGAIN) }, Reaper.Reap(e).ToArray());
        Assert.False(e.HasQueued);
    }

    [Fact]
    public void Ecanceled_FailsTheRequests_WithoutResubmitting()
    {
        using var e = Engine();
        int a = Queue(e, IoKind.Write, 0, 1);
        int b = Queue(e, IoKind.Write, 1, 1);
        e.SubmitPending();
        _k.Complete(0, res: -(int)Errno.ECANCELED);
        Assert.Equal(new[] { (a, -(int)Errno.ECANCELED), (b, -(int)Errno.ECANCELED) }, Reaper.Reap(e).ToArray());
        Assert.False(e.HasQueued);
        Assert.Equal(0, e.QueueDepth);
    }

    [Fact]
    public void DeferredCompletionWork_WithACoalescedEventFd_IsAllReapedByOneWakeUp()
    {
        // DEFER_TASKRUN: completions wait as task work until we enter; one enter runs only a few, and
        // the eventfd fires once, when work is queued to an empty list.
        _k.TaskRunBatch = 3;
        _k.CoalesceEventFd = true;
        using var e = Engine(queueLength: 16);
        for (int i = 0; i < 10; i++)
            Queue(e, IoKind.Read, (ulong)(i * 10), 1);
        e.SubmitPending();
        long signalsBefore = _k.EventFdSignals;
        _k.CompleteAll();
        Assert.Equal(1, _k.EventFdSignals - signalsBefore);
        Assert.Equal(0u, _k.CqUnread); // nothing visible until we enter
        Assert.Equal(10, Reaper.Reap(e).Count);
        Assert.Equal(0, _k.TaskWorkWaiting);
        Assert.Equal(0u, _k.SqFlags & IoUring.IORING_SQ_TASKRUN);
    }

    [Fact]
    public void CompletionWorkLeftAfterASubmit_SignalsTheEventFd_SoTheReactorReapsIt()
    {
        // The submit's enter (GETEVENTS) runs only a batch of the waiting completion work; the kernel
        // signals the eventfd only when work is queued to an empty list, so nobody would announce the rest.
        _k.TaskRunBatch = 2;
        _k.CoalesceEventFd = true;
        using var e = Engine(queueLength: 16);
        for (int i = 0; i < 6; i++)
            Queue(e, IoKind.Read, (ulong)(i * 10), 1);
        e.SubmitPending();
        _k.CompleteAll();
        _k.EventFdCounter = 0; // that wake-up is spent (as if the reactor had seen the edge already)
        Queue(e, IoKind.Read, 500, 1);
        e.SubmitPending();
        Assert.NotEqual(0u, _k.SqFlags & IoUring.IORING_SQ_TASKRUN);
        Assert.True(_k.EventFdCounter > 0, "completion work is left and nothing will wake the reactor for it");
        Assert.Equal(6, Reaper.Reap(e).Count);
    }

    [Fact]
    public void CoalescedEventFd_WithoutDeferredWork_OneReapDrainsTheWholeCq()
    {
        _k.KnownSetupFlags = ~(IoUring.IORING_SETUP_SINGLE_ISSUER | IoUring.IORING_SETUP_DEFER_TASKRUN);
        _k.CoalesceEventFd = true;
        using var e = Engine(queueLength: 16);
        for (int i = 0; i < 10; i++)
            Queue(e, IoKind.Write, (ulong)(i * 10), 1);
        e.SubmitPending();
        long signalsBefore = _k.EventFdSignals;
        _k.CompleteAll();
        Assert.Equal(1, _k.EventFdSignals - signalsBefore);
        Assert.Equal(10, Reaper.Reap(e).Count);
    }

    [Fact]
    public void CqOverflow_CompletionsTheKernelHeldBack_AreReapedInTheSameWakeUp()
    {
        _k.KnownSetupFlags = ~(IoUring.IORING_SETUP_SINGLE_ISSUER | IoUring.IORING_SETUP_DEFER_TASKRUN);
        _k.CqLimit = 2;
        using var e = Engine(queueLength: 16);
        for (int i = 0; i < 6; i++)
            Queue(e, IoKind.Read, (ulong)(i * 10), 1);
        e.SubmitPending();
        _k.CompleteAll();
        Assert.Equal(4, _k.OverflowWaiting);
        Assert.NotEqual(0u, _k.SqFlags & IoUring.IORING_SQ_CQ_OVERFLOW);
        Assert.Equal(6, Reaper.Reap(e).Count);
        Assert.Equal(0, _k.OverflowWaiting);
        Assert.Equal(0, e.QueueDepth);
    }

    [Theory]
    [InlineData(Errno.EBUSY)]
    [InlineData(Errno.EAGAIN)]
    public void EnterRefused_ReapsWhatCompleted_AndRetriesAtOnce(Errno errno)
    {
        using var e = Engine();
        int a = Queue(e, IoKind.Read, 0, 1);
        e.SubmitPending();
        _k.Complete(0); // its completion waits (as task work) when the next submit is refused
        Queue(e, IoKind.Read, 100, 1);
        _k.SubmitScript.Enqueue(-(int)errno);
        e.SubmitPending();
        Assert.Equal(100 * Sector, Assert.Single(_k.InFlight).Offset);
        Assert.Equal(0, e.Counters.SubmitEagain);
        Assert.True(e.HasCompletions);
        Assert.Equal(new[] { (a, 512) }, Reaper.Reap(e).ToArray());
    }

    [Fact]
    public void EnterInterrupted_IsRetried()
    {
        using var e = Engine();
        Queue(e, IoKind.Read, 0, 1);
        _k.SubmitScript.Enqueue(-(int)Errno.EINTR);
        e.SubmitPending();
        Assert.Single(_k.InFlight);
    }

    [Fact]
    public void Ebadr_LostCompletions_StopTheEngine_AndEveryRequestIsAnsweredOnce()
    {
        using var e = Engine();
        int a = Queue(e, IoKind.Read, 0, 1);
        int b = Queue(e, IoKind.Write, 100, 1);
        e.SubmitPending();
        _k.Complete(0);
        _k.ReapScript.Enqueue(-(int)Errno.EBADR);
        var done = Reaper.Reap(e);
        Assert.Equal(new[] { a, b }, done.Select(x => x.Slot).OrderBy(x => x).ToArray());
        Assert.All(done, d => Assert.Equal(-(int)Errno.EIO, d.Result));
        Assert.NotNull(e.FailureReason);
        Assert.Contains("EBADR", e.FailureReason);
        Assert.Equal(GateState.Stopped, e.GateState);

        // The kernel's late completions are stale; new requests are answered with an error at once.
        _k.CompleteAll();
        Assert.Empty(Reaper.Reap(e));
        int c = Queue(e, IoKind.Read, 5, 1);
        int enters = _k.SubmitCalls;
        e.SubmitPending();
        Assert.Equal(enters, _k.SubmitCalls);
        Assert.Equal(new[] { (c, -(int)Errno.EIO) }, Reaper.Reap(e).ToArray());
        Assert.False(e.CanReadNow);
    }

    [Fact]
    public void UnexpectedEnterError_StopsTheEngine()
    {
        using var e = Engine();
        int a = Queue(e, IoKind.Read, 0, 1);
        _k.SubmitScript.Enqueue(-(int)Errno.EFAULT);
        e.SubmitPending();
        Assert.Contains("EFAULT", e.FailureReason);
        Assert.Equal(new[] { (a, -(int)Errno.EIO) }, Reaper.Reap(e).ToArray());
    }

    [Fact]
    public void Dispose_WaitsForTheOpsTheKernelHolds()
    {
        var e = Engine();
        Queue(e, IoKind.Write, 0, 1);
        Queue(e, IoKind.Write, 50, 1);
        e.SubmitPending();
        Assert.Equal(2, _k.InFlight.Count);
        e.Dispose();
        Assert.Empty(_k.InFlight);
        Assert.Equal(2, _k.Unmaps);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(11)]
    [InlineData(23)]
    [InlineData(42)]
    [InlineData(99)]
    public void RandomFaults_AgainstAModelDisk_NothingLostOrAnsweredTwice(int seed)
    {
        var rng = new Random(seed);
        _k.TaskRunBatch = 4;
        _k.CoalesceEventFd = true;
        using var e = Engine(queueLength: 16, slotBytes: 4 * Sector);
        var load = new ModelWorkload(e, _k.Disk.Length);
        for (int turn = 0; turn < 4000; turn++)
        {
            load.Arrive(rng, rng.Next(0, 4));
            if (rng.Next(10) == 0)
                _k.SubmitScript.Enqueue(rng.Next(3) switch { 0 => -(int)Errno.EAGAIN, 1 => -(int)Errno.EBUSY, _ => rng.Next(0, 2) });
            e.SubmitPending();
            int completions = rng.Next(0, _k.InFlight.Count + 1);
            for (int i = 0; i < completions; i++)
            {
                int index = rng.Next(_k.InFlight.Count);
                FakeIo f = _k.InFlight[index];
                switch (rng.Next(8))
                {
                    case 0 when f.Bytes > 1:
                        _k.Complete(index, bytes: rng.Next(1, f.Bytes)); // short
                        break;
                    case 1:
                        _k.Complete(index, res: rng.Next(2) == 0 ? -(int)Errno.EAGAIN : -(int)Errno.EINTR);
                        break;
                    default:
                        _k.Complete(index);
                        break;
                }
            }
            if (rng.Next(4) == 0)
                _k.Now += 2_000_000; // lets a RetryLater gate retry
            load.Reap();
        }
        // Drain: everything issued is answered exactly once.
        for (int round = 0; round < 1000 && e.QueueDepth > 0; round++)
        {
            _k.Now += 2_000_000;
            e.SubmitPending();
            _k.CompleteAll();
            load.Reap();
        }
        Assert.True(load.Issued == load.Answered, $"issued {load.Issued}, answered {load.Answered}; depth {e.QueueDepth}, gate {e.GateState}, kernel holds {_k.InFlight.Count}");
        Assert.True(load.Issued > 3000, "issued only " + load.Issued);
        Assert.Equal(load.Model, _k.Disk);
        Assert.True(e.Counters.ShortTransfers > 0 && e.Counters.Resubmits > 0 && e.Counters.SubmitEagain > 0,
            $"short {e.Counters.ShortTransfers}, resubmits {e.Counters.Resubmits}, eagain {e.Counters.SubmitEagain}");
    }
}
