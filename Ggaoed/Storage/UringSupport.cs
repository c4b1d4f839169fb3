using System;
using System.IO;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>
/// Whether this process can use io_uring, found out once by <see cref="Probe{TKernel}"/>: set up a
/// small ring with the same flag ladder the engine uses, check the features and opcodes the engine
/// needs, register an eventfd and run one NOP through the ring. <see cref="Reason"/> is one line for
/// the log: why not (the step, the errno and what it means here), or which setup flags were accepted.
/// </summary>
public sealed class UringSupport
{
    private static UringSupport? s_current;

    public UringSupport(bool available, string reason)
    {
        Available = available;
        Reason = reason;
    }

    public bool Available { get; }

    public string Reason { get; }

    /// <summary>This process's answer, probed on first use with the real kernel.</summary>
    public static UringSupport Current
    {
        get
        {
            if (s_current == null)
            {
                var kernel = new LinuxUringKernel();
                s_current = Probe(ref kernel);
            }
            return s_current;
        }
    }

    /// <summary>Runs the probe against <paramref name="kernel"/>; leaves nothing open.</summary>
    public static unsafe UringSupport Probe<TKernel>(ref TKernel kernel) where TKernel : struct, IUringKernel
    {
        int r = UringRing.Create(ref kernel, 4, out UringRing ring, out string step);
        if (r < 0)
            return new UringSupport(false, step == "io_uring_setup" ? DescribeSetupFailure(-r, ReadDisabledSysctl(), ReadMemlockLimit()) : step + ": " + ErrnoText.Describe(-r));
        int efd = -1;
        try
        {
            r = ring.CheckOpcodes(ref kernel, UringEngine<TKernel>.RequiredOpcodes, out int missing);
            if (r < 0)
            {
                return new UringSupport(false, missing >= 0
                    ? "the kernel's io_uring lacks opcode " + missing + " (the engine needs READ, WRITE, READV, WRITEV and FSYNC: Linux 5.6 or later)"
                    : "IORING_REGISTER_PROBE: " + ErrnoText.Describe(-r) + " (Linux 5.6 or later is needed)");
            }
            efd = kernel.CreateEventFd();
            if (efd < 0)
                return new UringSupport(false, "eventfd: " + ErrnoText.Describe(-efd));
            r = kernel.Register(ring.Fd, IoUring.IORING_REGISTER_EVENTFD, &efd, 1);
            if (r < 0)
                return new UringSupport(false, "IORING_REGISTER_EVENTFD: " + ErrnoText.Describe(-r));

            io_uring_sqe* sqe = ring.NextSqe();
            sqe->opcode = IoUring.IORING_OP_NOP;
            sqe->user_data = 0x6767;
            ring.PublishSqTail();
            do
                r = kernel.Enter(ring.Fd, 1, 1, IoUring.IORING_ENTER_GETEVENTS);
            while (r == -(int)Errno.EINTR);
            if (r != 1)
                return new UringSupport(false, "io_uring_enter (a NOP): " + (r < 0 ? ErrnoText.Describe(-r) : "consumed " + r + " of 1 SQE"));
            uint head = *ring.CqHead;
            if (System.Threading.Volatile.Read(ref *ring.CqTail) == head)
                return new UringSupport(false, "io_uring_enter (a NOP) returned without its completion");
            io_uring_cqe cqe = ring.Cqes[head & ring.CqMask];
            System.Threading.Volatile.Write(ref *ring.CqHead, head + 1);
            if (cqe.user_data != 0x6767 || cqe.res != 0)
                return new UringSupport(false, "a NOP came back as user_data " + cqe.user_data + ", res " + cqe.res);
            return new UringSupport(true, "io_uring available (setup flags 0x" + ring.SetupFlags.ToString("x") + ")");
        }
        finally
        {
            ring.Destroy(ref kernel);
            if (efd >= 0)
                kernel.Close(efd);
        }
    }

    /// <summary>
    /// Why io_uring_setup failed, for an admin: ENOSYS (not built in), EPERM (the
    /// kernel.io_uring_disabled sysctl, named with its value, else a seccomp filter such as a
    /// container runtime's default profile), ENOMEM (RLIMIT_MEMLOCK: kernels before 5.12 charge the
    /// rings to it).
    /// </summary>
    /// <param name="disabledSysctl">kernel.io_uring_disabled, null when the kernel has none (before 6.6).</param>
    /// <param name="memlockBytes">RLIMIT_MEMLOCK's soft limit, null when unknown, ulong.MaxValue when unlimited.</param>
    public static string DescribeSetupFailure(int errno, int? disabledSysctl, ulong? memlockBytes)
    {
        string prefix = "io_uring_setup: " + ErrnoText.Describe(errno);
        switch ((Errno)errno)
        {
            case Errno.ENOSYS:
                return prefix + ": the kernel is built without io_uring (CONFIG_IO_URING)";
            case Errno.EPERM:
            case Errno.EACCES:
                if (disabledSysctl == 2)
                    return prefix + ": kernel.io_uring_disabled = 2 turns io_uring off for every process";
                if (disabledSysctl == 1)
                    return prefix + ": kernel.io_uring_disabled = 1 allows io_uring only to CAP_SYS_ADMIN or the kernel.io_uring_group";
                return prefix + ": kernel.io_uring_disabled is " + (disabledSysctl == null ? "absent" : disabledSysctl.Value.ToString(System.Globalization.CultureInfo.InvariantCulture))
                    + ", so a seccomp filter blocks it (a container runtime's default profile does)";
            case Errno.ENOMEM:
                string limit = memlockBytes == null ? "unknown" : memlockBytes == ulong.MaxValue ? "unlimited" : (memlockBytes.Value / 1024).ToString(System.Globalization.CultureInfo.InvariantCulture) + " KiB";
                return prefix + ": RLIMIT_MEMLOCK (" + limit + ") is too low for the rings (kernels before 5.12 charge them to it): raise LimitMEMLOCK / ulimit -l";
            default:
                return prefix;
        }
    }

    /// <summary>kernel.io_uring_disabled (Linux 6.6), or null when the kernel has no such sysctl.</summary>
    public static int? ReadDisabledSysctl()
    {
        try
        {
            string text = File.ReadAllText("/proc/sys/kernel/io_uring_disabled").Trim();
            return int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v) ? v : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static unsafe ulong? ReadMemlockLimit()
    {
        rlimit lim;
        return Libc.getrlimit(Libc.RLIMIT_MEMLOCK, &lim) == 0 ? lim.rlim_cur : null;
    }
}
