using System;
using Ggaoed.Daemon;
using Ggaoed.Daemon.Config;
using Ggaoed.Native;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>The io_uring probe (what it checks, what it says when it fails) and the engine choice built on it.</summary>
public class UringSupportTests
{
    private static UringSupport Probe(FakeUring fake)
    {
        var kernel = new FakeUringKernel(fake);
        return UringSupport.Probe(ref kernel);
    }

    [Fact]
    public void Probe_OnAWorkingKernel_RunsANopThroughTheRing_AndLeavesNothingOpen()
    {
        var fake = new FakeUring();
        UringSupport s = Probe(fake);
        Assert.True(s.Available, s.Reason);
        Assert.Contains("setup flags 0x", s.Reason);
        Assert.Equal(2, fake.Closes);  // ring and eventfd
        Assert.Equal(2, fake.Unmaps);
    }

    [Fact]
    public void Probe_SetupRefused_SaysWhyInOneLine()
    {
        var fake = new FakeUring { SetupError = -(int)Errno.ENOSYS };
        UringSupport s = Probe(fake);
        Assert.False(s.Available);
        Assert.Equal("io_uring_setup: " + ErrnoText.Describe((int)Errno.ENOSYS) + ": the kernel is built without io_uring (CONFIG_IO_URING)", s.Reason);
        Assert.DoesNotContain('\n', s.Reason);
    }

    [Fact]
    public void Probe_WithoutAnOpcode_NamesIt()
    {
        var fake = new FakeUring();
        fake.UnsupportedOpcodes.Add(IoUring.IORING_OP_FSYNC);
        UringSupport s = Probe(fake);
        Assert.False(s.Available);
        Assert.Contains("opcode " + IoUring.IORING_OP_FSYNC, s.Reason);
        Assert.Equal(1, fake.Closes);
    }

    [Fact]
    public void Probe_WithoutNodrop_IsUnavailable()
    {
        var fake = new FakeUring { Features = IoUring.IORING_FEAT_SINGLE_MMAP | IoUring.IORING_FEAT_SUBMIT_STABLE };
        Assert.False(Probe(fake).Available);
    }

    [Theory]
    [InlineData((int)Errno.EPERM, 2, null, "kernel.io_uring_disabled = 2 turns io_uring off for every process")]
    [InlineData((int)Errno.EPERM, 1, null, "kernel.io_uring_disabled = 1 allows io_uring only to CAP_SYS_ADMIN or the kernel.io_uring_group")]
    [InlineData((int)Errno.EPERM, 0, null, "kernel.io_uring_disabled is 0, so a seccomp filter blocks it")]
    [InlineData((int)Errno.EPERM, null, null, "kernel.io_uring_disabled is absent, so a seccomp filter blocks it")]
    [InlineData((int)Errno.ENOMEM, null, 65536UL, "RLIMIT_MEMLOCK (64 KiB) is too low for the rings")]
    [InlineData((int)Errno.ENOSYS, null, null, "built without io_uring")]
    public void SetupFailure_NamesTheCause(int errno, int? sysctl, ulong? memlock, string expected)
    {
        string reason = UringSupport.DescribeSetupFailure(errno, sysctl, memlock);
        Assert.StartsWith("io_uring_setup: ", reason);
        Assert.Contains("(" + ((Errno)errno).ToString() + ")", reason);
        Assert.Contains(expected, reason);
    }

    [Fact]
    public void TheRealProbe_AgreesWithTheSysctl()
    {
        UringSupport s = UringSupport.Current;
        if (UringSupport.ReadDisabledSysctl() == 2)
            Assert.False(s.Available);
        if (s.Available)
            Assert.StartsWith("io_uring available", s.Reason);
        else
            Assert.DoesNotContain('\n', s.Reason);
    }

    [Fact]
    public void EngineChoice_AutoTakesIoUringWhereItWorks_ElseAio_AndAnExplicitIoUringFailsNamingTheDevice()
    {
        var yes = new UringSupport(true, "io_uring available");
        var no = new UringSupport(false, "io_uring_setup: Operation not permitted (EPERM): kernel.io_uring_disabled = 2 turns io_uring off for every process");
        Assert.Equal(EngineKind.IoUring, EngineChoice.Resolve("d", IoEngineSetting.Auto, yes));
        Assert.Equal(EngineKind.Aio, EngineChoice.Resolve("d", IoEngineSetting.Auto, no));
        Assert.Equal(EngineKind.Aio, EngineChoice.Resolve("d", IoEngineSetting.Aio, yes));
        Assert.Equal(EngineKind.IoUring, EngineChoice.Resolve("d", IoEngineSetting.IoUring, yes));
        var e = Assert.Throws<StorageException>(() => EngineChoice.Resolve("disk7", IoEngineSetting.IoUring, no));
        Assert.Equal("disk7: io-engine = io_uring, but io_uring is not available: " + no.Reason
                     + "; set io-engine = auto (which falls back to Linux AIO) or aio", e.Message);
        Assert.Equal("io_uring", EngineChoice.Name(EngineKind.IoUring));
        Assert.Equal("aio", EngineChoice.Name(EngineKind.Aio));
    }
}
