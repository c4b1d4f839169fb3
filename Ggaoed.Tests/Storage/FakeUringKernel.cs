using System;
using System.Collections.Generic;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Threading;
using Ggaoed.Native;
using Ggaoed.Storage;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// The state behind <see cref="FakeUringKernel"/>: it plays the kernel's side of the rings. Setup hands
/// out ring memory of its own (with the offsets it reports), Enter consumes SQEs between the SQ head and
/// tail into <see cref="FakeKernelState.InFlight"/>, and completions become CQEs: at once, or (with
/// DEFER_TASKRUN accepted) as "task work" posted only by an Enter with GETEVENTS, at most
/// <see cref="TaskRunBatch"/> per call, with IORING_SQ_TASKRUN set while some wait. A CQ holding
/// <see cref="CqLimit"/> unread CQEs overflows: further CQEs wait in the kernel with
/// IORING_SQ_CQ_OVERFLOW set until an Enter with GETEVENTS finds room.
/// </summary>
internal sealed unsafe class FakeUring : FakeKernelState, IDisposable
{
    public const int RingFd = 2000;

    // Knobs.
    /// <summary>Setup flags this "kernel" knows (others: EINVAL, as a kernel older than the flag).</summary>
    public uint KnownSetupFlags = uint.MaxValue;
    public uint Features = IoUring.IORING_FEAT_SINGLE_MMAP | IoUring.IORING_FEAT_NODROP | IoUring.IORING_FEAT_SUBMIT_STABLE;
    /// <summary>A setup error to return (-errno), 0 = none.</summary>
    public int SetupError;
    public readonly HashSet<byte> UnsupportedOpcodes = new();
    public int TaskRunBatch = 20;
    /// <summary>Signal the eventfd only when completions start to wait (work queued to an empty list, or the first unread CQE), as the kernel does with DEFER_TASKRUN.</summary>
    public bool CoalesceEventFd;
    /// <summary>Unread CQEs the CQ takes before it overflows (default: its entries).</summary>
    public uint? CqLimit;
    /// <summary>Per io_uring_enter without SQEs (reaping): a negative value is returned as -errno.</summary>
    public readonly Queue<int> ReapScript = new();

    // What happened.
    public readonly List<uint> SetupAttempts = new();
    public uint AcceptedFlags;
    public int EnterCalls;
    public int RegisteredEventFd = -1;
    public int Unmaps;
    public int Closes;

    private readonly List<(ulong Token, int Res)> _taskWork = new();
    private readonly List<(ulong Token, int Res)> _overflow = new();
    private byte* _ring;
    private io_uring_sqe* _sqes;
    private uint _sqEntries;
    private uint _cqEntries;
    private uint _ringBytes;
    private const uint SqHeadOff = 0, SqTailOff = 4, SqMaskOff = 8, SqEntriesOff = 12, SqFlagsOff = 16, SqDroppedOff = 20, SqArrayOff = 64;
    private uint _cqBase;

    public override string Name => FakeKernels.Uring;

    public override StorageEngine CreateEngine(EngineOptions options, int logicalBlockSize = 512)
        => new UringEngine<FakeUringKernel>(new FakeUringKernel(this), fd: 3, deviceSectors: (ulong)Disk.Length / 512, logicalBlockSize, options);

    public uint SqEntries => _sqEntries;

    public uint CqEntries => _cqEntries;

    public bool DeferTaskrun => (AcceptedFlags & IoUring.IORING_SETUP_DEFER_TASKRUN) != 0;

    private uint* U32(uint offset) => (uint*)(_ring + offset);

    public uint SqFlags => Volatile.Read(ref *U32(SqFlagsOff));

    public int TaskWorkWaiting => _taskWork.Count;

    public int OverflowWaiting => _overflow.Count;

    /// <summary>CQEs posted to the ring that the engine has not consumed.</summary>
    public uint CqUnread => _ring == null ? 0 : Volatile.Read(ref *U32(_cqBase + 4)) - Volatile.Read(ref *U32(_cqBase));

    public int Setup(uint entries, io_uring_params* p)
    {
        SetupAttempts.Add(p->flags);
        if (SetupError != 0)
            return SetupError;
        uint flags = p->flags;
        if ((flags & ~KnownSetupFlags) != 0)
            return -(int)Errno.EINVAL;
        if ((flags & IoUring.IORING_SETUP_DEFER_TASKRUN) != 0 && (flags & IoUring.IORING_SETUP_SINGLE_ISSUER) == 0)
            return -(int)Errno.EINVAL;
        if ((flags & IoUring.IORING_SETUP_COOP_TASKRUN) != 0 && (flags & IoUring.IORING_SETUP_DEFER_TASKRUN) != 0)
            return -(int)Errno.EINVAL;
        AcceptedFlags = flags;
        _sqEntries = BitOperations.RoundUpToPowerOf2(entries);
        _cqEntries = (flags & IoUring.IORING_SETUP_CQSIZE) != 0 ? BitOperations.RoundUpToPowerOf2(p->cq_entries) : 2 * _sqEntries;
        if (_cqEntries < _sqEntries)
            return -(int)Errno.EINVAL;
        _cqBase = (SqArrayOff + 4 * _sqEntries + 63) / 64 * 64;
        _ringBytes = _cqBase + 64 + 16 * _cqEntries;
        _ring = (byte*)NativeMemory.AllocZeroed(_ringBytes);
        _sqes = (io_uring_sqe*)NativeMemory.AllocZeroed(_sqEntries, (nuint)sizeof(io_uring_sqe));
        *U32(SqMaskOff) = _sqEntries - 1;
        *U32(SqEntriesOff) = _sqEntries;
        *U32(_cqBase + 8) = _cqEntries - 1;
        *U32(_cqBase + 12) = _cqEntries;
        p->sq_entries = _sqEntries;
        p->cq_entries = _cqEntries;
        p->features = Features;
        p->sq_off = new io_sqring_offsets { head = SqHeadOff, tail = SqTailOff, ring_mask = SqMaskOff, ring_entries = SqEntriesOff, flags = SqFlagsOff, dropped = SqDroppedOff, array = SqArrayOff };
        p->cq_off = new io_cqring_offsets { head = _cqBase, tail = _cqBase + 4, ring_mask = _cqBase + 8, ring_entries = _cqBase + 12, overflow = _cqBase + 16, flags = _cqBase + 20, cqes = _cqBase + 64 };
        return RingFd;
    }

    public int Map(int fd, nuint length, long offset, out void* address)
    {
        address = null;
        if (fd != RingFd || _ring == null)
            return -(int)Errno.EBADF;
        if (offset == IoUring.IORING_OFF_SQES)
        {
            if (length > _sqEntries * (nuint)sizeof(io_uring_sqe))
                return -(int)Errno.EINVAL;
            address = _sqes;
            return 0;
        }
        if (length > _ringBytes)
            return -(int)Errno.EINVAL;
        address = _ring; // SQ and CQ ring share the region; the CQ offsets are relative to it too
        return 0;
    }

    public int Unmap()
    {
        Unmaps++;
        return 0;
    }

    public int Register(int fd, uint opcode, void* arg, uint nrArgs)
    {
        if (fd != RingFd)
            return -(int)Errno.EBADF;
        switch (opcode)
        {
            case IoUring.IORING_REGISTER_EVENTFD:
                RegisteredEventFd = *(int*)arg;
                return 0;
            case IoUring.IORING_REGISTER_PROBE:
                var probe = (io_uring_probe*)arg;
                var ops = (io_uring_probe_op*)((byte*)arg + sizeof(io_uring_probe));
                probe->last_op = IoUring.IORING_OP_WRITE + 20;
                probe->ops_len = (byte)Math.Min(nrArgs, 48u);
                for (int i = 0; i < probe->ops_len; i++)
                {
                    ops[i].op = (byte)i;
                    ops[i].flags = UnsupportedOpcodes.Contains((byte)i) ? (ushort)0 : IoUring.IO_URING_OP_SUPPORTED;
                }
                return 0;
            default:
                return -(int)Errno.EINVAL;
        }
    }

    public int Enter(int fd, uint toSubmit, uint minComplete, uint flags)
    {
        if (fd != RingFd)
            return -(int)Errno.EBADF;
        EnterCalls++;
        int consumed = 0;
        if (toSubmit > 0)
        {
            SubmitCalls++;
            uint limit = toSubmit;
            if (SubmitScript.Count > 0)
            {
                int v = SubmitScript.Dequeue();
                if (v < 0)
                    return v;
                limit = Math.Min((uint)v, toSubmit);
            }
            consumed = Consume(limit);
        }
        else if (ReapScript.Count > 0)
        {
            int v = ReapScript.Dequeue();
            if (v < 0)
                return v;
        }
        if ((flags & IoUring.IORING_ENTER_GETEVENTS) != 0)
        {
            // Waiting for min_complete: the fake "waits" by completing the oldest ops.
            while (minComplete > 0 && CqUnread + (uint)_taskWork.Count < minComplete && InFlight.Count > 0)
                Complete(0);
            RunTaskWork(TaskRunBatch);
            FlushOverflow();
        }
        return consumed;
    }

    private int Consume(uint limit)
    {
        uint head = *U32(SqHeadOff);
        uint tail = Volatile.Read(ref *U32(SqTailOff));
        int consumed = 0;
        uint* array = U32(SqArrayOff);
        while (consumed < limit && head != tail)
        {
            io_uring_sqe* sqe = _sqes + array[head & (_sqEntries - 1)];
            head++;
            consumed++;
            if (sqe->opcode == IoUring.IORING_OP_NOP)
            {
                PostCqe(sqe->user_data, 0);
                continue;
            }
            FakeIo f = Describe(sqe);
            int refusal = Refuse?.Invoke(f) ?? 0;
            if (refusal < 0)
            {
                PostCqe(f.Token, refusal);
                continue;
            }
            InFlight.Add(f);
            AllSubmitted.Add(f);
        }
        Volatile.Write(ref *U32(SqHeadOff), head);
        return consumed;
    }

    private static FakeIo Describe(io_uring_sqe* sqe)
    {
        var f = new FakeIo
        {
            Token = sqe->user_data,
            Opcode = sqe->opcode,
            SqeFlags = sqe->flags,
            Offset = (long)sqe->off,
            RwFlags = (int)sqe->rw_flags,
            Kind = sqe->opcode switch
            {
                IoUring.IORING_OP_READ or IoUring.IORING_OP_READV => IoKind.Read,
                IoUring.IORING_OP_WRITE or IoUring.IORING_OP_WRITEV => IoKind.Write,
                IoUring.IORING_OP_FSYNC => IoKind.Flush,
                _ => throw new InvalidOperationException("unexpected opcode " + sqe->opcode),
            },
            Vectored = sqe->opcode is IoUring.IORING_OP_READV or IoUring.IORING_OP_WRITEV,
        };
        if (sqe->opcode is IoUring.IORING_OP_READ or IoUring.IORING_OP_WRITE)
        {
            f.Buffers = new[] { ((nint)sqe->addr, (int)sqe->len) };
        }
        else if (f.Vectored)
        {
            var iov = (iovec*)sqe->addr;
            f.Buffers = new (nint, int)[sqe->len];
            for (int j = 0; j < f.Buffers.Length; j++)
                f.Buffers[j] = ((nint)iov[j].iov_base, (int)iov[j].iov_len);
        }
        return f;
    }

    public override void Post(ulong token, long res)
    {
        if (DeferTaskrun)
        {
            bool wasEmpty = _taskWork.Count == 0;
            _taskWork.Add((token, (int)res));
            if (wasEmpty)
                SetFlag(IoUring.IORING_SQ_TASKRUN, true);
            if (wasEmpty || !CoalesceEventFd)
                Signal();
            return;
        }
        bool noneUnread = CqUnread == 0 && _overflow.Count == 0;
        PostCqe(token, (int)res);
        if (noneUnread || !CoalesceEventFd)
            Signal();
    }

    private void PostCqe(ulong token, int res)
    {
        uint head = Volatile.Read(ref *U32(_cqBase));
        uint tail = *U32(_cqBase + 4);
        if (_overflow.Count > 0 || tail - head >= (CqLimit ?? _cqEntries))
        {
            _overflow.Add((token, res));
            SetFlag(IoUring.IORING_SQ_CQ_OVERFLOW, true);
            return;
        }
        var cqes = (io_uring_cqe*)(_ring + _cqBase + 64);
        cqes[tail & (_cqEntries - 1)] = new io_uring_cqe { user_data = token, res = res };
        Volatile.Write(ref *U32(_cqBase + 4), tail + 1);
    }

    private void RunTaskWork(int max)
    {
        int n = Math.Min(max, _taskWork.Count);
        for (int i = 0; i < n; i++)
            PostCqe(_taskWork[i].Token, _taskWork[i].Res);
        _taskWork.RemoveRange(0, n);
        SetFlag(IoUring.IORING_SQ_TASKRUN, _taskWork.Count > 0);
    }

    private void FlushOverflow()
    {
        var waiting = new List<(ulong, int)>(_overflow);
        _overflow.Clear();
        SetFlag(IoUring.IORING_SQ_CQ_OVERFLOW, false);
        foreach (var (token, res) in waiting)
            PostCqe(token, res);
    }

    private void SetFlag(uint flag, bool on)
    {
        uint f = *U32(SqFlagsOff);
        Volatile.Write(ref *U32(SqFlagsOff), on ? f | flag : f & ~flag);
    }

    public void Dispose()
    {
        NativeMemory.Free(_ring);
        NativeMemory.Free(_sqes);
        _ring = null;
        _sqes = null;
    }
}

internal unsafe struct FakeUringKernel : IUringKernel
{
    public FakeUring State;

    public FakeUringKernel(FakeUring state) => State = state;

    public int Setup(uint entries, io_uring_params* p) => State.Setup(entries, p);

    public int Map(int ringFd, nuint length, long offset, out void* address) => State.Map(ringFd, length, offset, out address);

    public int Unmap(void* address, nuint length) => State.Unmap();

    public int Enter(int ringFd, uint toSubmit, uint minComplete, uint flags) => State.Enter(ringFd, toSubmit, minComplete, flags);

    public int Register(int ringFd, uint opcode, void* arg, uint nrArgs) => State.Register(ringFd, opcode, arg, nrArgs);

    public int CreateEventFd() => FakeKernelState.EventFd;

    public int ReadEventFd(int fd) => State.ReadEventFd();

    public int SignalEventFd(int fd)
    {
        State.Signal();
        return 0;
    }

    public int Close(int fd)
    {
        State.Closes++;
        return 0;
    }

    public int Read(int fd, byte* buffer, int length, long offset) => State.Read(buffer, length, offset);

    public int ReadNoWait(int fd, byte* buffer, int length, long offset) => State.ReadNoWait(buffer, length, offset);

    public int FdataSync(int fd)
    {
        State.FdataSyncCalls++;
        return 0;
    }

    public long NowNanos() => State.Now;
}
