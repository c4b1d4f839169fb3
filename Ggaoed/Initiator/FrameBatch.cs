using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Initiator;

/// <summary>
/// The descriptors one recvmmsg/sendmmsg call takes: <see cref="Capacity"/> mmsghdr entries, each with one
/// iovec of its own, preallocated on the pinned object heap so the kernel can use them without pinning
/// per call and the GC never moves them. No msg_name: the socket is bound to one interface and EtherType.
/// </summary>
public abstract unsafe class MmsgBatch
{
    private readonly mmsghdr[] _headers;
    private readonly iovec[] _iov;

    private protected MmsgBatch(int capacity)
    {
        if (capacity < 1 || capacity > 1024)
            throw new ArgumentOutOfRangeException(nameof(capacity), "capacity must be 1..1024 (UIO_MAXIOV caps vlen)");
        Capacity = capacity;
        _headers = GC.AllocateArray<mmsghdr>(capacity, pinned: true);
        _iov = GC.AllocateArray<iovec>(capacity, pinned: true);
        Headers = (mmsghdr*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_headers));
        Iov = (iovec*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_iov));
        for (int i = 0; i < capacity; i++)
        {
            Headers[i].msg_hdr.msg_iov = Iov + i;
            Headers[i].msg_hdr.msg_iovlen = 1;
        }
    }

    public int Capacity { get; }

    internal mmsghdr* Headers { get; }

    /// <summary>Message i's single iovec.</summary>
    private protected iovec* Iov { get; }
}

/// <summary>
/// Receive buffers for <see cref="PacketSocket.Receive(RxBatch, bool)"/>: <see cref="MmsgBatch.Capacity"/>
/// frame buffers, pinned like the descriptors they hang from, so recvmmsg fills them in place.
/// </summary>
/// <remarks>
/// Ownership: the frames of one receive are valid until the next receive into the same batch.
/// A frame longer than <see cref="FrameSize"/> keeps only its first FrameSize bytes, and
/// <see cref="WireLength"/> still gives its whole length: a reader that needs only headers sizes the
/// buffers for them and the kernel skips copying the payloads.
/// </remarks>
public sealed unsafe class RxBatch : MmsgBatch
{
    private readonly byte[] _buffers;
    private readonly byte* _b;
    private readonly int _stride;

    /// <param name="capacity">Frames per receive.</param>
    /// <param name="frameSize">Bytes kept of each frame (Ethernet header included); longer frames are cut.</param>
    public RxBatch(int capacity, int frameSize) : base(capacity)
    {
        if (frameSize < 14 || frameSize > 65536)
            throw new ArgumentOutOfRangeException(nameof(frameSize));
        FrameSize = frameSize;
        // A cache line per buffer start: the kernel copies whole frames in, the pipeline reads headers.
        _stride = (frameSize + 63) & ~63;
        _buffers = GC.AllocateUninitializedArray<byte>(capacity * _stride, pinned: true);
        _b = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_buffers));
        for (int i = 0; i < capacity; i++)
        {
            Iov[i].iov_base = _b + i * _stride;
            Iov[i].iov_len = (nuint)frameSize;
        }
    }

    public int FrameSize { get; }

    /// <summary>Frames the last receive returned.</summary>
    public int Count { get; internal set; }

    /// <summary>
    /// The kept bytes of received frame <paramref name="index"/> (0 ≤ index &lt; <see cref="Count"/>),
    /// Ethernet header included: the whole frame, or its first <see cref="FrameSize"/> bytes.
    /// </summary>
    public ReadOnlySpan<byte> this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count)
                ThrowIndex();
            return new ReadOnlySpan<byte>(_b + index * _stride, Math.Min((int)Headers[index].msg_len, FrameSize));
        }
    }

    /// <summary>The length of frame <paramref name="index"/> as it arrived (received with MSG_TRUNC, so not cut to <see cref="FrameSize"/>).</summary>
    public int WireLength(int index)
    {
        if ((uint)index >= (uint)Count)
            ThrowIndex();
        return (int)Headers[index].msg_len;
    }

    /// <summary>The frame was longer than <see cref="FrameSize"/>: its tail was not copied.</summary>
    public bool IsTruncated(int index) => WireLength(index) > FrameSize;

    [DoesNotReturn]
    private static void ThrowIndex() => throw new ArgumentOutOfRangeException("index");
}

/// <summary>
/// Frames queued for one sendmmsg by <see cref="PacketSocket.Send(TxBatch)"/>. The batch holds only
/// descriptors: it points at the caller's frames, which must not move or change until the send (native
/// memory, or arrays from <c>GC.AllocateArray(pinned: true)</c>).
/// </summary>
public sealed unsafe class TxBatch : MmsgBatch
{
    public TxBatch(int capacity) : base(capacity)
    {
    }

    public int Count { get; private set; }
    public bool IsFull => Count == Capacity;

    /// <summary>Queues <paramref name="frame"/>, which must stay at its address, unchanged, until the send.</summary>
    public void Add(ReadOnlySpan<byte> frame)
    {
        if (Count == Capacity)
            ThrowFull();
        Iov[Count].iov_base = Unsafe.AsPointer(ref MemoryMarshal.GetReference(frame));
        Iov[Count].iov_len = (nuint)frame.Length;
        Count++;
    }

    public void Clear() => Count = 0;

    [DoesNotReturn]
    private static void ThrowFull() => throw new InvalidOperationException("TxBatch is full: send it first");
}
