using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Ggaoed.Native;
using Ggaoed.Storage;

namespace Ggaoed.Tests.Storage;

/// <summary>One iocb the fake kernel accepted, with its iovecs copied at submit time (as Linux does).</summary>
internal sealed class FakeIocb
{
    public ulong Data;
    public ulong Obj;
    public ushort Opcode;
    public long Offset;
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

/// <summary>
/// The state behind <see cref="FakeAioKernel"/>: a RAM disk, the iocbs "in the kernel", and knobs. The
/// test decides when each iocb completes, in which order and with what result.
/// </summary>
internal sealed unsafe class FakeAio
{
    public byte[] Disk = new byte[1 << 20];
    public readonly List<FakeIocb> InFlight = new();
    public readonly List<FakeIocb> AllSubmitted = new();
    private readonly Queue<io_event> _ready = new();

    /// <summary>Per io_submit call: a negative value is returned as -errno; n ≥ 0 accepts at most n iocbs.</summary>
    public readonly Queue<int> SubmitScript = new();

    /// <summary>Returns -errno to refuse an iocb at submit time (0 accepts).</summary>
    public Func<FakeIocb, int>? Refuse;

    public int SubmitCalls;
    public int ReadCalls;

    /// <summary>When set, pread returns this (-errno, or a byte count to cut the read short) instead of reading all of it.</summary>
    public int? ReadResult;

    public int Read(byte* buffer, int length, long offset)
    {
        ReadCalls++;
        int n = ReadResult ?? length;
        if (n > 0)
            Disk.AsSpan((int)offset, Math.Min(n, length)).CopyTo(new Span<byte>(buffer, length));
        return n;
    }
    public int SetupCalls;
    public int DestroyCalls;
    public int FdataSyncCalls;
    public long EventFdCounter;
    public long Now;
    public uint LastSetupEvents;
    public const int EventFd = 1000;
    public const ulong Context = 0xC0FFEE;

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
            var f = new FakeIocb
            {
                Data = cb->aio_data,
                Obj = (ulong)cb,
                Opcode = cb->aio_lio_opcode,
                Offset = cb->aio_offset,
                Flags = cb->aio_flags,
                ResFd = cb->aio_resfd,
            };
            if (cb->aio_lio_opcode is Aio.IOCB_CMD_PREAD or Aio.IOCB_CMD_PWRITE)
            {
                f.Buffers = new[] { ((nint)cb->aio_buf, (int)cb->aio_nbytes) };
            }
            else if (cb->aio_lio_opcode is Aio.IOCB_CMD_PREADV or Aio.IOCB_CMD_PWRITEV)
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

    /// <summary>
    /// Completes InFlight[index]: performs the transfer on <see cref="Disk"/> for up to
    /// <paramref name="bytes"/> bytes (default: all), and reports <paramref name="res"/> (default: the
    /// bytes moved).
    /// </summary>
    public void Complete(int index, long? res = null, int? bytes = null)
    {
        FakeIocb f = InFlight[index];
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
                if (f.Opcode is Aio.IOCB_CMD_PREAD or Aio.IOCB_CMD_PREADV)
                    Disk.AsSpan((int)pos, n).CopyTo(mem);
                else
                    mem.CopyTo(Disk.AsSpan((int)pos, n));
                pos += n;
                todo -= n;
                done += n;
            }
        }
        _ready.Enqueue(new io_event { data = f.Data, obj = f.Obj, res = res ?? done });
        EventFdCounter++;
    }

    public void CompleteAll()
    {
        while (InFlight.Count > 0)
            Complete(0);
    }

    /// <summary>Delivers a completion the engine did not submit (or no longer tracks).</summary>
    public void InjectEvent(ulong data, long res)
    {
        _ready.Enqueue(new io_event { data = data, res = res });
        EventFdCounter++;
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

    public int CreateEventFd() => FakeAio.EventFd;

    public int ReadEventFd(int fd)
    {
        if (State.EventFdCounter == 0)
            return -(int)Errno.EAGAIN;
        State.EventFdCounter = 0;
        return 0;
    }

    public int SignalEventFd(int fd)
    {
        State.EventFdCounter++;
        return 0;
    }

    public int Read(int fd, byte* buffer, int length, long offset) => State.Read(buffer, length, offset);

    public int Close(int fd) => 0;

    public int FdataSync(int fd)
    {
        State.FdataSyncCalls++;
        return 0;
    }

    public long NowNanos() => State.Now;
}

/// <summary>Records completions; optionally releases each slot from inside the callback.</summary>
internal struct RecordingHandler : ICompletionHandler
{
    public List<(int Slot, int Result)> Done;
    public Action<int>? Release;

    public RecordingHandler()
    {
        Done = new List<(int, int)>();
        Release = null;
    }

    public void OnCompleted(int slot, int result)
    {
        Done.Add((slot, result));
        Release?.Invoke(slot);
    }
}
