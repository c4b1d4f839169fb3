using System;
using System.IO;
using System.Runtime.InteropServices;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

public unsafe class LinuxAioKernelTests
{
    [Fact]
    public void Context_ExposesTheUserRing_AndReapingFromItReturnsEveryCompletionOnce()
    {
        using var tmp = new TempStore(1 << 16);
        File.WriteAllBytes(tmp.FilePath, new byte[1 << 16]);
        using BackingStore store = BackingStore.Open(tmp.FilePath, false, directIo: false);
        var k = new LinuxAioKernel();
        Assert.Equal(0, k.Setup(4, out ulong ctx));
        byte* buf = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
        try
        {
            Assert.True(LinuxAioKernel.HasUserRing(ctx));
            var events = new io_event[8];
            // More rounds than ring entries: the head must wrap correctly.
            for (int round = 0; round < 50; round++)
            {
                var cbs = new iocb[3];
                iocb*[] ptrs = new iocb*[3];
                fixed (iocb* p = cbs)
                fixed (iocb** pp = ptrs)
                fixed (io_event* ev = events)
                {
                    for (int i = 0; i < 3; i++)
                    {
                        p[i] = new iocb { aio_data = (ulong)(round * 10 + i), aio_fildes = (uint)store.Fd, aio_lio_opcode = Aio.IOCB_CMD_PREAD, aio_buf = (ulong)(buf + i * 512), aio_nbytes = 512, aio_offset = i * 512 };
                        pp[i] = p + i;
                    }
                    Assert.Equal(3, k.Submit(ctx, 3, pp));
                    int got = 0;
                    var seen = new bool[3];
                    for (int spin = 0; got < 3 && spin < 1_000_000; spin++)
                    {
                        int n = k.GetEvents(ctx, 8, ev + got);
                        Assert.True(n >= 0);
                        got += n;
                    }
                    Assert.Equal(3, got);
                    for (int i = 0; i < 3; i++)
                    {
                        Assert.Equal(512, ev[i].res);
                        int idx = (int)ev[i].data - round * 10;
                        Assert.False(seen[idx]);
                        seen[idx] = true;
                    }
                    Assert.Equal(0, k.GetEvents(ctx, 8, ev));
                }
            }
        }
        finally
        {
            k.Destroy(ctx);
            NativeMemory.AlignedFree(buf);
        }
    }

    [Fact]
    public void Errors_ComeBackAsNegativeErrno()
    {
        var k = new LinuxAioKernel();
        Assert.Equal(-(int)Errno.EINVAL, k.Destroy(12345)); // not a context
        Assert.Equal(-(int)Errno.EBADF, k.Close(-1));
        int efd = k.CreateEventFd();
        Assert.True(efd >= 0);
        Assert.Equal(-(int)Errno.EAGAIN, k.ReadEventFd(efd)); // non-blocking and empty
        Assert.Equal(0, k.SignalEventFd(efd));
        Assert.Equal(0, k.ReadEventFd(efd));
        Assert.Equal(0, k.Close(efd));
        long t1 = k.NowNanos();
        Assert.True(k.NowNanos() >= t1);
    }
}
