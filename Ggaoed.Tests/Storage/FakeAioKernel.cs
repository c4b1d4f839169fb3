using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Ggaoed.Native;
using Ggaoed.Storage;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// One kernel op (an iocb or an SQE) the fake kernel accepted, described the same way for both
/// interfaces, with its iovecs copied when it was taken (as Linux does).
/// </summary>
internal sealed class FakeIo
{
    public ulong Token;
    public IoKind Kind;

    /// <summary>PREADV/PWRITEV or READV/WRITEV: the data is described by iovecs.</summary>
    public bool Vectored;

    /// <summary>The raw opcode (IOCB_CMD_* or IORING_OP_*).</summary>
    public int Opcode;
    public long Offset;

    /// <summary>RWF_* of a read or write (aio_rw_flags, sqe.rw_flags); sqe.fsync_flags of a flush.</summary>
    public int RwFlags;

    /// <summary>io_uring only: sqe.flags (IOSQE_*).</summary>
    public byte SqeFlags;

    // AIO only.
    public ulong Obj;
    public uint Flags;
    public uint ResFd;

    public (nint Base, int Length)[] Buffers = Array.Empty<(nint, int)>();

    public int Bytes
    {
        get
        {
            int total = 0;
            foreach (var b in Buffers)
                total += b.Length;
            return total;
        }
    }
}

/// <summary>The two fake kernels, by the names the parameterized tests use.</summary>
internal static class FakeKernels
{
    public const string Aio = "aio";
    public const string Uring = "io_uring";

    public static Xunit.TheoryData<string> Both => new() { Aio, Uring };

    public static FakeKernelState Create(string name) => name switch
    {
        Aio => new FakeAio(),
        Uring => new FakeUring(),
        _ => throw new ArgumentException(name),
    };
}

/// <summary>
/// What both fake kernels share: a RAM disk, the ops "in the kernel", the eventfd counter, the clock,
/// synchronous reads and knobs. The test decides when each op completes, in which order and with what
/// result (<see cref="Complete"/>); the subclass posts the completion the way its interface does.
/// </summary>
internal abstract unsafe class FakeKernelState
{
    public const int EventFd = 1000;

    public byte[] Disk = new byte[1 << 20];
    public readonly List<FakeIo> InFlight = new();
    public readonly List<FakeIo> AllSubmitted = new();

    /// <summary>Per submit syscall (io_submit, or io_uring_enter with SQEs): a negative value is returned as -errno; n ≥ 0 takes at most n ops.</summary>
    public readonly Queue<int> SubmitScript = new();

    /// <summary>Returns -errno to refuse an op when it is taken (0 accepts).</summary>
    public Func<FakeIo, int>? Refuse;

    public int SubmitCalls;
    public int ReadCalls;
    public int NoWaitReadCalls;
    public int FdataSyncCalls;
    public long EventFdCounter;

    /// <summary>Writes to the eventfd (the counter may be reset by reads in between).</summary>
    public long EventFdSignals;
    public long Now;

    /// <summary>When set, pread returns this (-errno, or a byte count to cut the read short) instead of reading all of it.</summary>
    public int? ReadResult;

    /// <summary>When set, preadv2(RWF_NOWAIT) returns this (e.g. -EAGAIN: not cached) instead of reading all of it.</summary>
    public int? NoWaitResult;

    public abstract string Name { get; }

    public abstract StorageEngine CreateEngine(EngineOptions options, int logicalBlockSize = 512);

    public StorageEngine Engine(int queueLength = 8, long mergeDelay = 0, long maxDelay = 0, MergeLimits limits = default, int slotBytes = 17 * 512,
        ImmediateReadMode immediate = ImmediateReadMode.None, bool writeThrough = false, bool edgeTriggered = false, long baseOffset = 0)
        => CreateEngine(new EngineOptions
        {
            QueueLength = queueLength, SlotBytes = slotBytes, MergeDelayNanos = mergeDelay, MaxDelayNanos = maxDelay, Limits = limits,
            ImmediateReads = immediate, WriteThrough = writeThrough, EdgeTriggeredEventFd = edgeTriggered, BaseOffsetBytes = baseOffset,
        });

    public int Read(byte* buffer, int length, long offset)
    {
        ReadCalls++;
        return Copy(ReadResult, buffer, length, offset);
    }

    public int ReadNoWait(byte* buffer, int length, long offset)
    {
        NoWaitReadCalls++;
        return Copy(NoWaitResult, buffer, length, offset);
    }

    private int Copy(int? result, byte* buffer, int length, long offset)
    {
        int n = result ?? length;
        if (n > 0)
            Disk.AsSpan((int)offset, Math.Min(n, length)).CopyTo(new Span<byte>(buffer, length));
        return n;
    }

    public void Signal()
    {
        EventFdCounter++;
        EventFdSignals++;
    }

    public int ReadEventFd()
    {
        if (EventFdCounter == 0)
            return -(int)Errno.EAGAIN;
        EventFdCounter = 0;
        return 0;
    }

    /// <summary>
    /// Completes InFlight[index]: performs the transfer on <see cref="Disk"/> for up to
    /// <paramref name="bytes"/> bytes (default: all), and reports <paramref name="res"/> (default: the
    /// bytes moved).
    /// </summary>
    public void Complete(int index, long? res = null, int? bytes = null)
    {
        FakeIo f = InFlight[index];
        InFlight.RemoveAt(index);
        int todo = bytes ?? f.Bytes;
        long done = 0;
        if (res is null or >= 0)
        {
            long pos = f.Offset;
            foreach (var (b, len) in f.Buffers)
            {
                int n = Math.Min(len, todo);
                if (n <= 0)
                    break;
                var mem = new Span<byte>((void*)b, n);
                if (f.Kind == IoKind.Read)
                    Disk.AsSpan((int)pos, n).CopyTo(mem);
                else
                    mem.CopyTo(Disk.AsSpan((int)pos, n));
                pos += n;
                todo -= n;
                done += n;
            }
        }
        Post(f.Token, res ?? done);
    }

    public void CompleteAll()
    {
        while (InFlight.Count > 0)
            Complete(0);
    }

    /// <summary>The op at <paramref name="offset"/> (bytes) among those in flight.</summary>
    public int IndexOf(long offset) => InFlight.FindIndex(x => x.Offset == offset);

    /// <summary>Posts a completion for <paramref name="token"/> (also one the engine did not submit, or no longer tracks).</summary>
    public abstract void Post(ulong token, long res);
}

/// <summary>
/// The state behind <see cref="FakeAioKernel"/>: io_submit takes iocbs into <see cref="FakeKernelState.InFlight"/>;
/// completions wait in a queue for io_getevents and count on the eventfd (IOCB_FLAG_RESFD).
/// </summary>
internal sealed unsafe class FakeAio : FakeKernelState
{
    private readonly Queue<io_event> _ready = new();

    public int SetupCalls;
    public int DestroyCalls;
    public uint LastSetupEvents;
    public const ulong Context = 0xC0FFEE;

    public override string Name => FakeKernels.Aio;

    public override StorageEngine CreateEngine(EngineOptions options, int logicalBlockSize = 512)
        => new AioEngine<FakeAioKernel>(new FakeAioKernel(this), fd: 3, deviceSectors: (ulong)Disk.Length / 512, logicalBlockSize, options);

    public int Submit(int count, iocb** iocbs)
    {
        SubmitCalls++;
        int limit = count;
        if (SubmitScript.Count > 0)
        {
            int v = SubmitScript.Dequeue();
            if (v < 0)
                return v;
            limit = Math.Min(v, count);
        }
        for (int i = 0; i < limit; i++)
        {
            iocb* cb = iocbs[i];
            var f = new FakeIo
            {
                Token = cb->aio_data,
                Obj = (ulong)cb,
                Opcode = cb->aio_lio_opcode,
                Offset = cb->aio_offset,
                Flags = cb->aio_flags,
                ResFd = cb->aio_resfd,
                RwFlags = cb->aio_rw_flags,
                Kind = cb->aio_lio_opcode switch
                {
                    Aio.IOCB_CMD_PREAD or Aio.IOCB_CMD_PREADV => IoKind.Read,
                    Aio.IOCB_CMD_PWRITE or Aio.IOCB_CMD_PWRITEV => IoKind.Write,
                    _ => IoKind.Flush,
                },
                Vectored = cb->aio_lio_opcode is Aio.IOCB_CMD_PREADV or Aio.IOCB_CMD_PWRITEV,
            };
            if (cb->aio_lio_opcode is Aio.IOCB_CMD_PREAD or Aio.IOCB_CMD_PWRITE)
            {
                f.Buffers = new[] { ((nint)cb->aio_buf, (int)cb->aio_nbytes) };
            }
            else if (f.Vectored)
            {
                iovec* iov = (iovec*)cb->aio_buf;
                f.Buffers = new (nint, int)[cb->aio_nbytes];
                for (int j = 0; j < f.Buffers.Length; j++)
                    f.Buffers[j] = ((nint)iov[j].iov_base, (int)iov[j].iov_len);
            }
            int refusal = Refuse?.Invoke(f) ?? 0;
            if (refusal < 0)
                return i == 0 ? refusal : i;
            InFlight.Add(f);
            AllSubmitted.Add(f);
        }
        return limit;
    }

    public override void Post(ulong token, long res)
    {
        _ready.Enqueue(new io_event { data = token, res = res });
        Signal();
    }

    public int GetEvents(int max, io_event* events)
    {
        int n = 0;
        while (n < max && _ready.Count > 0)
            events[n++] = _ready.Dequeue();
        return n;
    }
}

internal unsafe struct FakeAioKernel : IAioKernel
{
    public FakeAio State;

    public FakeAioKernel(FakeAio state) => State = state;

    public int Setup(uint nrEvents, out ulong context)
    {
        State.SetupCalls++;
        State.LastSetupEvents = nrEvents;
        context = FakeAio.Context;
        return 0;
    }

    public int Destroy(ulong context)
    {
        State.DestroyCalls++;
        return 0;
    }

    public int Submit(ulong context, int count, iocb** iocbs) => State.Submit(count, iocbs);

    public int GetEvents(ulong context, int max, io_event* events) => State.GetEvents(max, events);

    public int CreateEventFd() => FakeKernelState.EventFd;

    public int ReadEventFd(int fd) => State.ReadEventFd();

    public int SignalEventFd(int fd)
    {
        State.Signal();
        return 0;
    }

    public int Read(int fd, byte* buffer, int length, long offset) => State.Read(buffer, length, offset);

    public int ReadNoWait(int fd, byte* buffer, int length, long offset) => State.ReadNoWait(buffer, length, offset);

    public int Close(int fd) => 0;

    public int FdataSync(int fd)
    {
        State.FdataSyncCalls++;
        return 0;
    }

    public long NowNanos() => State.Now;
}

/// <summary>Drives an engine's reap like the daemon does: copies the completions out, optionally releasing each slot.</summary>
internal static class Reaper
{
    public static List<(int Slot, int Result)> Reap(StorageEngine e, bool release = true)
    {
        var done = new List<(int, int)>();
        foreach (IoCompletion c in e.Reap())
        {
            done.Add((c.Slot, c.Result));
            if (release)
                e.ReleaseSlot(c.Slot);
        }
        return done;
    }
}
