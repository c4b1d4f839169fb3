using System;
using Ggaoed.Native;
using Ggaoed.Network;
using Ggaoed.Protocol;
using Ggaoed.Storage;

namespace Ggaoed.Daemon;

/// <summary>AoE-level counters of one interface (frame counters live in the packet port).</summary>
internal struct PortCounters
{
    /// <summary>Frames that were not AoE requests we could parse or answer (too short, responses, group source MAC).</summary>
    public long Ignored;
    /// <summary>Requests addressed to no device exported here.</summary>
    public long NoDevice;
    /// <summary>Non-I/O replies (config, IDENTIFY, ...) lost because the TX ring had no free frame; the
    /// initiator asks again.</summary>
    public long TxFullDrops;
    /// <summary>I/O replies that had to wait in the deferred queue for a free TX frame.</summary>
    public long DeferredReplies;
}

/// <summary>
/// One interface the daemon serves on: its packet port (rings), the AoE view of it (our MAC, the MTU
/// that bounds sectors per request) and the devices exported on it. Receiving runs the data flow
/// ring -> parser -> device queue; replies to non-I/O commands are written straight into TX frames.
/// </summary>
internal sealed class NetworkPort : IEventHandler, IDisposable
{
    /// <summary>Frames handled per wake-up before other descriptors get a turn (fairness between ports).</summary>
    private const int ReceiveBudget = 512;

    /// <summary>Non-I/O replies are built here first: the largest (a full Mac Mask List, a 1024-byte
    /// config string, IDENTIFY) is bounded by the MTU, and jumbo frames stay below 16 KiB.</summary>
    private const int ReplyScratchBytes = 16 * 1024;

    private readonly TargetDaemon _daemon;
    private readonly byte[] _replyScratch = new byte[ReplyScratchBytes];
    private ExportedDevice[] _devices = Array.Empty<ExportedDevice>();
    private AoeInterface _iface;

    public PortCounters Counters;

    /// <summary>Completed I/O whose reply found the TX ring full, oldest first.</summary>
    private readonly System.Collections.Generic.Queue<DeferredReply> _deferred = new(256);

    private readonly record struct DeferredReply(ExportedDevice Device, int Slot);

    public NetworkPort(TargetDaemon daemon, PacketPort port, int id, int generation, int maxMtu)
    {
        _daemon = daemon;
        Port = port;
        Id = id;
        Generation = generation;
        SetMtuLimit(maxMtu);
    }

    public PacketPort Port { get; }
    public string Name => Port.Name;
    public int Id { get; }
    public int Generation { get; }
    public int ReactorToken { get; set; } = -1;
    public bool Dirty { get; set; }
    public bool Receiving { get; set; } = true;
    public uint EpollMask { get; set; } = Libc.EPOLLIN;
    public ref readonly AoeInterface Aoe => ref _iface;
    public ReadOnlySpan<ExportedDevice> Devices => _devices;

    /// <summary>
    /// The AoE MTU: the link's, but never more than the device slot buffers hold, so Query Config never
    /// advertises more sectors per request than we can take.
    /// </summary>
    public void SetMtuLimit(int maxMtu)
    {
        int mtu = Math.Min(Port.Mtu, maxMtu);
        _iface = new AoeInterface(new MacAddress(Port.Interface.Mac.Value), mtu);
    }

    public void SetDevices(ExportedDevice[] devices) => _devices = devices;

    public void OnEvents(uint events)
    {
        if ((events & Libc.EPOLLIN) != 0 && Receiving)
            ReceiveBatch();
        if ((events & Libc.EPOLLOUT) != 0)
            _daemon.MarkDirty(this);
    }

    private void ReceiveBatch()
    {
        for (int budget = ReceiveBudget; budget > 0; budget--)
        {
            if (!Port.TryReceive(out int index, out Span<byte> frame))
                return;
            Handle(frame);
            Port.ReleaseRx(index);
        }
        // More may be waiting: epoll is level-triggered, so we are woken again next turn.
    }

    private void Handle(ReadOnlySpan<byte> frame)
    {
        // A group source MAC (I/G bit, byte 6) can't be answered: counted here, not dropped silently by the engine.
        if (!AoeEngine.TryPeekHeader(frame, out ushort shelf, out byte slot, out bool isResponse) || isResponse || (frame[6] & 1) != 0)
        {
            Counters.Ignored++;
            return;
        }
        bool matched = false;
        ExportedDevice[] devices = _devices;
        for (int i = 0; i < devices.Length; i++)
        {
            ExportedDevice device = devices[i];
            if (device.Retiring || !device.Target.IsAddressedBy(shelf, slot))
                continue;
            matched = true;
            AoeDecision decision = AoeEngine.Handle(frame, device.Target, _iface, _replyScratch, out int length, out AoeIoRequest io);
            if (decision == AoeDecision.Reply)
                Send(_replyScratch.AsSpan(0, length));
            else if (decision == AoeDecision.Io)
                device.Accept(io, frame, this);
        }
        if (!matched)
            Counters.NoDevice++;
    }

    private void Send(ReadOnlySpan<byte> reply)
    {
        if (!Port.TryGetTxBuffer(out int tx, out Span<byte> buffer))
        {
            Counters.TxFullDrops++;
            return;
        }
        reply.CopyTo(buffer);
        Port.CommitTx(tx, reply.Length);
        _daemon.MarkDirty(this);
    }

    /// <summary>Builds the reply of a finished I/O request in a TX frame; false when none is free.</summary>
    /// <remarks>
    /// Read data is copied from the slot buffer into the frame, on purpose. Measured (perf, q16 random
    /// 8.5 KiB reads over veth, tests/bench/README.md): this memcpy is about 9 % of the daemon's CPU
    /// time per request (~0.8 us of ~9 us); the kernel's side of the same request (ring, veth, the
    /// file read, which copies the data once already) is about 85 %. Reading straight into TX frames
    /// would need the payload 512-byte aligned for O_DIRECT (frame data at a PACKET_TX_HAS_OFF
    /// offset) and, worse, a TX frame reserved for the whole disk latency: TX frames leave in
    /// reservation order, so one slow read would hold back every reply reserved after it, on every
    /// device of the port. Not worth 9 %.
    /// </remarks>
    public bool TrySendIoReply(in AoeIoRequest io, byte status, byte error, ReadOnlySpan<byte> data)
    {
        if (!Port.TryGetTxBuffer(out int tx, out Span<byte> buffer))
            return false;
        int length = AoeEngine.WriteIoReply(buffer, io, _iface, status, error);
        if (length > AoeWire.AtaPayloadOffset && io.Kind == IoKind.Read)
            data.Slice(0, io.ByteLength).CopyTo(buffer.Slice(AoeWire.AtaPayloadOffset));
        Port.CommitTx(tx, length);
        _daemon.MarkDirty(this);
        return true;
    }

    /// <summary>
    /// Answers a read of a buffered or in-memory store at once: straight from the page cache (or tmpfs)
    /// into the payload of a TX frame, so the data is copied once and no kernel op, completion or slot
    /// is involved (<see cref="StorageEngine.TryReadNow"/>, which never waits for a disk). False when
    /// replies are waiting for TX frames (they go first), no frame is free, the data is not cached, or
    /// the read failed or came back short; the caller then queues it as usual.
    /// </summary>
    public bool TrySendImmediateRead(in AoeIoRequest io, StorageEngine engine)
    {
        if (HasDeferredReplies || !Port.TryGetTxBuffer(out int tx, out Span<byte> buffer))
            return false;
        if (!engine.TryReadNow(io.Lba, io.SectorCount, buffer.Slice(AoeWire.AtaPayloadOffset, io.ByteLength)))
        {
            Port.CancelTx(tx);
            return false;
        }
        int length = AoeEngine.WriteIoReply(buffer, io, _iface, Ata.StatusReady, 0);
        Port.CommitTx(tx, length);
        _daemon.MarkDirty(this);
        return true;
    }

    public bool HasDeferredReplies => _deferred.Count > 0;

    /// <summary>Queues a completed request whose reply found no free TX frame (see <see cref="SendDeferredReplies"/>).</summary>
    public void DeferReply(ExportedDevice device, int slot)
    {
        _deferred.Enqueue(new DeferredReply(device, slot));
        Counters.DeferredReplies++;
        _daemon.MarkDirty(this);
    }

    /// <summary>Sends queued replies, oldest first, while TX frames are free; returns how many left.</summary>
    public int SendDeferredReplies()
    {
        int sent = 0;
        while (_deferred.TryPeek(out DeferredReply r))
        {
            if (!r.Device.TrySendReply(r.Slot, this))
                break;
            _deferred.Dequeue();
            r.Device.DeferredReplyDone();
            sent++;
        }
        return sent;
    }

    /// <summary>Closes the port; replies still waiting for a TX frame are dropped (the initiator retransmits).</summary>
    public void Dispose()
    {
        while (_deferred.TryDequeue(out DeferredReply r))
        {
            r.Device.DeferredReplyDone();
            r.Device.DropReply(r.Slot);
        }
        Port.Dispose();
    }
}
