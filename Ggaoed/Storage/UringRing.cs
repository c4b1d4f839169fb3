using System;
using System.Threading;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>
/// One io_uring instance as mapped into our address space: the SQ ring (indices, flags, the SQE index
/// array), the CQ ring (indices, CQEs) and the SQE array. Setup, mapping and teardown go through an
/// <see cref="IUringKernel"/>, so a test's fake can hand out memory of its own.
///
/// Memory ordering (one producer and one consumer per ring, so no interlocked operations): the kernel
/// reads the SQ tail and writes the SQ head, the CQ tail and the flags; we write the SQ tail (release
/// store after filling SQEs) and the CQ head (release store after reading CQEs), and read the CQ tail,
/// the SQ head and the flags with acquire loads (Volatile.Read).
/// </summary>
internal unsafe struct UringRing
{
    /// <summary>
    /// Setup flags, best first; a kernel that does not know a flag refuses setup with EINVAL and the next
    /// rung is tried. DEFER_TASKRUN (6.1, needs SINGLE_ISSUER 6.0) runs completion work only when we
    /// enter the kernel, on our thread: no interrupts of the reactor, no EINTR from epoll_wait.
    /// TASKRUN_FLAG (5.19) shows pending work as IORING_SQ_TASKRUN, so a reap enters only when needed.
    /// COOP_TASKRUN (5.19) drops the IPI. SUBMIT_ALL (5.18) keeps submitting past a bad SQE.
    /// Every rung sets CQSIZE (5.5): the CQ gets twice the SQ's entries.
    /// </summary>
    public static readonly uint[] SetupLadder =
    [
        IoUring.IORING_SETUP_DEFER_TASKRUN | IoUring.IORING_SETUP_SINGLE_ISSUER | IoUring.IORING_SETUP_TASKRUN_FLAG | IoUring.IORING_SETUP_SUBMIT_ALL,
        IoUring.IORING_SETUP_SINGLE_ISSUER | IoUring.IORING_SETUP_COOP_TASKRUN | IoUring.IORING_SETUP_TASKRUN_FLAG | IoUring.IORING_SETUP_SUBMIT_ALL,
        IoUring.IORING_SETUP_COOP_TASKRUN | IoUring.IORING_SETUP_TASKRUN_FLAG | IoUring.IORING_SETUP_SUBMIT_ALL,
        IoUring.IORING_SETUP_SUBMIT_ALL,
        0,
    ];

    /// <summary>Features the engine relies on: overflowed CQEs kept, not dropped (5.5); iovecs copied at submit (5.5).</summary>
    public const uint RequiredFeatures = IoUring.IORING_FEAT_NODROP | IoUring.IORING_FEAT_SUBMIT_STABLE;

    public int Fd;
    public uint SetupFlags;
    public uint Features;
    public uint SqEntries;
    public uint CqEntries;

    public uint* SqHead;
    public uint* SqTail;
    public uint* SqFlags;
    public uint* SqArray;
    public uint SqMask;
    public io_uring_sqe* Sqes;

    public uint* CqHead;
    public uint* CqTail;
    public uint CqMask;
    public io_uring_cqe* Cqes;

    /// <summary>Our copy of the SQ tail: SQEs written, published with <see cref="PublishSqTail"/>.</summary>
    public uint LocalSqTail;

    private void* _ringMap;
    private nuint _ringMapLength;
    private void* _cqMap;
    private nuint _cqMapLength;
    private void* _sqeMap;
    private nuint _sqeMapLength;

    /// <summary>
    /// Sets up a ring of at least <paramref name="entries"/> SQEs (CQ twice that), trying
    /// <see cref="SetupLadder"/> from the top, and maps it. Returns 0, or -errno with
    /// <paramref name="step"/> naming what failed; nothing is left open on failure.
    /// </summary>
    public static int Create<TKernel>(ref TKernel kernel, uint entries, out UringRing ring, out string step) where TKernel : struct, IUringKernel
    {
        ring = default;
        ring.Fd = -1;
        io_uring_params p = default;
        int fd = -(int)Errno.EINVAL;
        foreach (uint flags in SetupLadder)
        {
            p = default;
            p.flags = flags | IoUring.IORING_SETUP_CQSIZE;
            p.cq_entries = entries * 2;
            fd = kernel.Setup(entries, &p);
            if (fd != -(int)Errno.EINVAL)
                break;
        }
        if (fd < 0)
        {
            step = "io_uring_setup";
            return fd;
        }
        ring.Fd = fd;
        ring.SetupFlags = p.flags;
        ring.Features = p.features;
        ring.SqEntries = p.sq_entries;
        ring.CqEntries = p.cq_entries;
        if ((p.features & RequiredFeatures) != RequiredFeatures)
        {
            step = "io_uring_setup: the kernel lacks IORING_FEAT_NODROP or IORING_FEAT_SUBMIT_STABLE (Linux 5.5)";
            ring.Destroy(ref kernel);
            return -(int)Errno.ENOSYS;
        }

        nuint sqLength = p.sq_off.array + p.sq_entries * sizeof(uint);
        nuint cqLength = p.cq_off.cqes + p.cq_entries * (uint)sizeof(io_uring_cqe);
        bool single = (p.features & IoUring.IORING_FEAT_SINGLE_MMAP) != 0;
        ring._ringMapLength = single ? Math.Max(sqLength, cqLength) : sqLength;
        int r = kernel.Map(fd, ring._ringMapLength, IoUring.IORING_OFF_SQ_RING, out ring._ringMap);
        if (r == 0 && !single)
        {
            ring._cqMapLength = cqLength;
            r = kernel.Map(fd, cqLength, IoUring.IORING_OFF_CQ_RING, out ring._cqMap);
        }
        if (r == 0)
        {
            ring._sqeMapLength = p.sq_entries * (uint)sizeof(io_uring_sqe);
            r = kernel.Map(fd, ring._sqeMapLength, IoUring.IORING_OFF_SQES, out ring._sqeMap);
        }
        if (r < 0)
        {
            step = "mmap of the io_uring rings";
            ring.Destroy(ref kernel);
            return r;
        }

        byte* sq = (byte*)ring._ringMap;
        byte* cq = single ? sq : (byte*)ring._cqMap;
        ring.SqHead = (uint*)(sq + p.sq_off.head);
        ring.SqTail = (uint*)(sq + p.sq_off.tail);
        ring.SqFlags = (uint*)(sq + p.sq_off.flags);
        ring.SqArray = (uint*)(sq + p.sq_off.array);
        ring.SqMask = *(uint*)(sq + p.sq_off.ring_mask);
        ring.Sqes = (io_uring_sqe*)ring._sqeMap;
        ring.CqHead = (uint*)(cq + p.cq_off.head);
        ring.CqTail = (uint*)(cq + p.cq_off.tail);
        ring.CqMask = *(uint*)(cq + p.cq_off.ring_mask);
        ring.Cqes = (io_uring_cqe*)(cq + p.cq_off.cqes);
        ring.LocalSqTail = *ring.SqTail;
        // SQE index i always lives in array slot i (we never reorder), so the array is filled once.
        for (uint i = 0; i < p.sq_entries; i++)
            ring.SqArray[i] = i;
        step = "";
        return 0;
    }

    /// <summary>SQEs written and published that the kernel has not consumed yet.</summary>
    public readonly uint SqUnconsumed => LocalSqTail - Volatile.Read(ref *SqHead);

    /// <summary>The next free SQE, zeroed, or null when the SQ is full.</summary>
    public io_uring_sqe* NextSqe()
    {
        if (LocalSqTail - Volatile.Read(ref *SqHead) >= SqEntries)
            return null;
        io_uring_sqe* sqe = Sqes + (LocalSqTail & SqMask);
        *sqe = default;
        LocalSqTail++;
        return sqe;
    }

    /// <summary>Makes the SQEs written so far visible to the kernel (release: their contents first).</summary>
    public readonly void PublishSqTail() => Volatile.Write(ref *SqTail, LocalSqTail);

    public readonly uint ReadFlags() => Volatile.Read(ref *SqFlags);

    /// <summary>Unmaps and closes (the kernel tears the instance down asynchronously).</summary>
    public void Destroy<TKernel>(ref TKernel kernel) where TKernel : struct, IUringKernel
    {
        if (_sqeMap != null)
            kernel.Unmap(_sqeMap, _sqeMapLength);
        if (_cqMap != null)
            kernel.Unmap(_cqMap, _cqMapLength);
        if (_ringMap != null)
            kernel.Unmap(_ringMap, _ringMapLength);
        _sqeMap = _cqMap = _ringMap = null;
        if (Fd >= 0)
            kernel.Close(Fd);
        Fd = -1;
    }

    /// <summary>
    /// Asks the kernel which opcodes it supports (IORING_REGISTER_PROBE, Linux 5.6): 0 when every one
    /// of <paramref name="opcodes"/> is, else -errno (-EINVAL from kernels without the probe), with
    /// <paramref name="missing"/> = the first unsupported opcode or -1.
    /// </summary>
    public readonly int CheckOpcodes<TKernel>(ref TKernel kernel, ReadOnlySpan<byte> opcodes, out int missing) where TKernel : struct, IUringKernel
    {
        const int maxOps = 256;
        byte* buffer = stackalloc byte[sizeof(io_uring_probe) + maxOps * sizeof(io_uring_probe_op)];
        new Span<byte>(buffer, sizeof(io_uring_probe) + maxOps * sizeof(io_uring_probe_op)).Clear();
        missing = -1;
        int r = kernel.Register(Fd, IoUring.IORING_REGISTER_PROBE, buffer, maxOps);
        if (r < 0)
            return r;
        var probe = (io_uring_probe*)buffer;
        var ops = (io_uring_probe_op*)(buffer + sizeof(io_uring_probe));
        foreach (byte op in opcodes)
        {
            if (op >= probe->ops_len || (ops[op].flags & IoUring.IO_URING_OP_SUPPORTED) == 0)
            {
                missing = op;
                return -(int)Errno.EOPNOTSUPP;
            }
        }
        return 0;
    }
}
