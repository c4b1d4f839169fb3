using System.Linq;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>What only the Linux AIO engine does (the shared behaviour is in <see cref="EngineFakeKernelTests"/>).</summary>
public unsafe class AioEngineFakeKernelTests
{
    private const int Sector = 512;
    private readonly FakeAio _aio = new();

    private int Queue(StorageEngine e, IoKind kind, ulong lba, int sectors)
    {
        Assert.True(e.TryAcquireSlot(out int slot));
        e.Enqueue(slot, kind, lba, sectors);
        return slot;
    }

    [Fact]
    public void Construction_SizesTheContextFromQueueLength_AndAlignsEverySlot()
    {
        using var e = new AioEngine<FakeAioKernel>(new FakeAioKernel(_aio), 3, 2048, 8192, new EngineOptions { QueueLength = 5, SlotBytes = 8704 });
        Assert.Equal(5u, _aio.LastSetupEvents);
        Assert.Equal(8192, e.BufferAlignment);
        for (int s = 0; s < 5; s++)
        {
            Assert.Equal(0, (long)e.SlotPointer(s) % 8192);
            Assert.Equal(8704, e.SlotBuffer(s).Length);
        }
        Assert.Equal(FakeKernelState.EventFd, e.EventFd);
        Assert.Equal(EngineKind.Aio, e.Kind);
        e.Dispose();
        Assert.Equal(1, _aio.DestroyCalls);
    }

    [Fact]
    public void EveryIocb_SignalsCompletionThroughTheEventFd()
    {
        using StorageEngine e = _aio.Engine();
        Queue(e, IoKind.Write, 0, 1);
        Queue(e, IoKind.Read, 100, 1);
        e.SubmitPending();
        Assert.All(_aio.InFlight, cb =>
        {
            Assert.Equal(Aio.IOCB_FLAG_RESFD, cb.Flags);
            Assert.Equal((uint)FakeKernelState.EventFd, cb.ResFd);
        });
        Assert.Equal(new[] { (int)Aio.IOCB_CMD_PWRITE, Aio.IOCB_CMD_PREAD }, _aio.InFlight.Select(x => x.Opcode).OrderByDescending(x => x).ToArray());
    }

    [Fact]
    public void ShortTransfer_SucceedsTheFullyCoveredRequests_AndFailsTheRest()
    {
        using StorageEngine e = _aio.Engine();
        int a = Queue(e, IoKind.Read, 0, 2);
        int b = Queue(e, IoKind.Read, 2, 2);
        int c = Queue(e, IoKind.Read, 4, 2);
        e.SubmitPending();
        _aio.Complete(0, bytes: 2560); // a (1024) and b (1024) covered, c got 512 of 1024
        Assert.Equal(new[] { (a, 1024), (b, 1024), (c, -(int)Errno.ENODATA) }, Reaper.Reap(e).ToArray());
        Assert.Equal(2, e.Counters.ReadRequests);
        Assert.Equal(1, e.Counters.Errors);
    }

    [Fact]
    public void SubmitRefusedWithAnError_SignalsTheEventFd_SoAWaitingReactorReaps()
    {
        using StorageEngine e = _aio.Engine();
        _aio.Refuse = f => -(int)Errno.EBADF;
        int w = Queue(e, IoKind.Write, 100, 1);
        Assert.Equal(0, e.SubmitPending());
        Assert.True(_aio.EventFdCounter > 0);
        Assert.True(e.HasCompletions);
        Assert.Equal(new[] { (w, -(int)Errno.EBADF) }, Reaper.Reap(e).ToArray());
    }

    [Fact]
    public void FdsyncRefusedWithEinval_FallsBackToSynchronousFdatasync_FromThenOn()
    {
        var e = (AioEngine<FakeAioKernel>)_aio.Engine();
        using (e)
        {
            _aio.Refuse = f => f.Opcode == Aio.IOCB_CMD_FDSYNC ? -(int)Errno.EINVAL : 0;
            int f1 = Queue(e, IoKind.Flush, 0, 0);
            e.SubmitPending();
            Assert.True(e.FlushIsSynchronous);
            Assert.Equal(1, _aio.FdataSyncCalls);
            Assert.Equal(new[] { (f1, 0) }, Reaper.Reap(e).ToArray());

            int submitsBefore = _aio.SubmitCalls;
            int f2 = Queue(e, IoKind.Flush, 0, 0);
            e.SubmitPending();
            Assert.Equal(submitsBefore, _aio.SubmitCalls); // not offered to the kernel again
            Assert.Equal(2, _aio.FdataSyncCalls);
            Assert.Equal(new[] { (f2, 0) }, Reaper.Reap(e).ToArray());
            Assert.Equal(2, e.Counters.Flushes);
            Assert.Equal(2, e.Counters.SyncFlushFallbacks);
        }
    }
}
