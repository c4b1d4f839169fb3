using System.Runtime.InteropServices;
using System.Threading;
using Ggaoed.Native;
using Ggaoed.Storage;
using Ggaoed.Tests.Storage;
using Xunit;

namespace Ggaoed.Tests.Native;

/// <summary>
/// The io_uring syscalls through libc's variadic syscall() with fixed-arity prototypes: the errno path
/// (-1 and errno, never -errno), and one real ring where the kernel has io_uring: setup, the offsets
/// the kernel fills in against our struct layout, and a NOP whose user_data comes back.
/// </summary>
public unsafe class IoUringSyscallTests
{
    [Fact]
    public void Errors_AreMinusOneWithErrno()
    {
        Assert.Equal(-1, IoUring.io_uring_enter(-1, 0, 0, 0));
        Assert.Equal((int)Errno.EBADF, Marshal.GetLastPInvokeError());
        byte* probe = stackalloc byte[16 + 256 * 8];
        // Not -1: recent kernels take -1 as "no ring" for a few opcodes (EINVAL for the others).
        Assert.Equal(-1, IoUring.io_uring_register(1 << 20, IoUring.IORING_REGISTER_PROBE, probe, 256));
        Assert.Equal((int)Errno.EBADF, Marshal.GetLastPInvokeError());

        io_uring_params p = default;
        p.resv[1] = 1; // reserved fields must be zero
        int r = IoUring.io_uring_setup(4, &p);
        Assert.Equal(-1, r);
        int errno = Marshal.GetLastPInvokeError();
        // EINVAL where io_uring works; ENOSYS/EPERM where it is off (the probe's reasons).
        Assert.Contains((Errno)errno, new[] { Errno.EINVAL, Errno.ENOSYS, Errno.EPERM, Errno.EACCES });
    }

    [Theory]
    [EngineData(RealEngines.Uring)]
    public void ARealRing_TakesANop_AndReturnsItsUserData(string engine)
    {
        Assert.Equal(RealEngines.Uring, engine);
        var kernel = new LinuxUringKernel();
        Assert.Equal(0, UringRing.Create(ref kernel, 8, out UringRing ring, out string step));
        try
        {
            Assert.Equal("", step);
            Assert.Equal(8u, ring.SqEntries);
            Assert.Equal(16u, ring.CqEntries); // CQSIZE: twice the SQ
            Assert.Equal(7u, ring.SqMask);
            Assert.Equal(15u, ring.CqMask);
            Assert.Equal(0u, ring.SqUnconsumed);
            for (int i = 0; i < 20; i++) // more than the SQ holds: the indices wrap
            {
                io_uring_sqe* sqe = ring.NextSqe();
                Assert.True(sqe != null);
                sqe->opcode = IoUring.IORING_OP_NOP;
                sqe->user_data = 0xABCD_0000UL + (ulong)i;
                ring.PublishSqTail();
                Assert.Equal(1, kernel.Enter(ring.Fd, 1, 1, IoUring.IORING_ENTER_GETEVENTS));
                Assert.Equal(0u, ring.SqUnconsumed);
                uint head = *ring.CqHead;
                Assert.Equal(head + 1, Volatile.Read(ref *ring.CqTail));
                io_uring_cqe cqe = ring.Cqes[head & ring.CqMask];
                Assert.Equal(0xABCD_0000UL + (ulong)i, cqe.user_data);
                Assert.Equal(0, cqe.res);
                Volatile.Write(ref *ring.CqHead, head + 1);
            }
            Assert.Equal(0, ring.CheckOpcodes(ref kernel, UringEngine<LinuxUringKernel>.RequiredOpcodes, out int missing));
            Assert.Equal(-1, missing);
        }
        finally
        {
            ring.Destroy(ref kernel);
        }
    }
}
