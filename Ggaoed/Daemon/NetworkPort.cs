using System;
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
    /// <summary>Replies without I/O (config, IDENTIFY, ...) lost because the TX ring had no free frame; the
    /// initiator asks again.</summary>
    public long TxFullDrops;
    /// <summary>I/O answers that waited in the reply queue for a free TX frame (each counted once).</summary>
    public long DeferredReplies;
    /// <summary>Unsolicited Query Config responses sent (TargetDaemon.Adverts).</summary>
    public long Advertisements;
}

/// <summary>
/// One interface the daemon serves on: its packet port (rings), the AoE view of it (our MAC, the MTU
/// that bounds sectors per request), the devices exported on it and the queue of answers they owe
/// here. The daemon calls it at two points of a loop turn, and it calls only its devices:
/// <list type="bullet">
/// <item><see cref="Receive"/> (EPOLLIN): ring -> parser (<see cref="AoeEngine.Handle"/>) -> answered at
/// once in a TX frame, or handed to the device (fold, read at once, or queue);</item>
/// <item><see cref="Flush"/> (end of the turn): the reply queue -> TX frames (the device writes each
/// answer), then one kick.</item>
/// </list>
/// </summary>
internal sealed class NetworkPort : IDisposable
{
    /// <summary>Frames handled per wake-up before other descriptors get a turn (fairness between ports).</summary>
    private const int ReceiveBudget = 512;

    /// <summary>Non-I/O replies are built here first: the largest (a full Mac Mask List, a 1024-byte
    /// config string, IDENTIFY) is bounded by the MTU, and jumbo frames stay below 16 KiB.</summary>
    private const int ReplyScratchBytes = 16 * 1024;

    private readonly byte[] _replyScratch = new byte[ReplyScratchBytes];
    private readonly ReplyQueue _replies = new();
    private ExportedDevice[] _devices = Array.Empty<ExportedDevice>();
    private AoeInterface _iface;
    // The last Flush found no free TX frame for every answer: queued answers go before reads
    // answered at once, so a port under TX pressure answers in completion order.
    private bool _txStarved;

    public PortCounters Counters;

    public NetworkPort(PacketPort port, int maxMtu)
    {
        Port = port;
        SetMtuLimit(maxMtu);
    }

    public PacketPort Port { get; }
    public string Name => Port.Name;
    public ref readonly AoeInterface Aoe => ref _iface;
    public ReadOnlySpan<ExportedDevice> Devices => _devices;

    /// <summary>Answers owed here: something for <see cref="Flush"/> to do even if nothing came in.</summary>
    public bool HasRepliesQueued => _replies.Count > 0;

    /// <summary>
    /// Set once an exception escaped this port's own code (<see cref="HandlerFaults"/>): what failed.
    /// The daemon stops receiving on it and its answers are dropped, until a reload or a link change
    /// reopens it. Null while it is well.
    /// </summary>
    public string? FaultReason { get; private set; }

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

    // ---- a frame comes in --------------------------------------------------------------------------------

    /// <summary>EPOLLIN: handles what the RX ring holds, up to a budget, giving each frame back at once.</summary>
    public void Receive()
    {
        for (int budget = ReceiveBudget; budget > 0; budget--)
        {
            if (!Port.TryReceive(out int index, out Span<byte> frame))
                return;
            try
            {
                Handle(frame);
            }
            finally
            {
                Port.ReleaseRx(index); // also when a device threw: the frame must go back to the kernel
            }
        }
        // More may be waiting: epoll is level-triggered, so we are woken again next turn.
    }

    private void Handle(ReadOnlySpan<byte> frame)
    {
        // A group source MAC (I/G bit, byte 6) can't be answered: counted here, not dropped silently by the engine.
        if (!AoeEngine.TryPeekHeader(frame, out ushort shelf, out byte slot, out bool isResponse) || isResponse ||
            (frame[AoeWire.EthSourceOffset] & 1) != 0)
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
            try
            {
                HandleFor(device, frame);
            }
            catch (Exception e) when (HandlerFaults.IsContainable(e))
            {
                // The device's code failed, not the port's: the dispatch point faults that device.
                throw new DeviceFaultException(device, "taking a request", e);
            }
        }
        if (!matched)
            Counters.NoDevice++;
    }

    private void HandleFor(ExportedDevice device, ReadOnlySpan<byte> frame)
    {
        AoeDecision decision = AoeEngine.Handle(frame, device.Target, _iface, _replyScratch, out int length, out AoeIoRequest io);
        if (decision == AoeDecision.Io)
        {
            Serve(device, io, frame);
            return;
        }
        if (device.Tracing)
            IoTrace.Command(device.Name, frame, decision, _replyScratch.AsSpan(0, length));
        if (decision == AoeDecision.Reply)
            Send(_replyScratch.AsSpan(0, length));
    }

    /// <summary>A read, write or flush the protocol engine accepted for <paramref name="device"/>.</summary>
    private void Serve(ExportedDevice device, in AoeIoRequest io, ReadOnlySpan<byte> frame)
    {
        // A device in error answers at once, with ATA ABRT.
        if (device.Faulted)
        {
            device.Refuse(io);
            SendIoAnswer(io, Ata.StatusFailed, Ata.ErrorAbrt);
            return;
        }
        // The same request is still at the disk (a retransmit): its completion answers this frame too.
        if (device.TryFold(io, frame, _replies))
            return;
        // The page cache (or tmpfs) has it: answered now, straight into a TX frame.
        if (io.Kind == IoKind.Read && device.CanReadNow && TryReadNow(device, io))
            return;
        // Everything else waits for the disk; its completion puts a ticket into _replies.
        device.Enqueue(io, frame, _replies);
    }

    /// <summary>
    /// Answers a read of a buffered or in-memory store at once: from the page cache (or tmpfs) into the
    /// payload of a TX frame, so the data is copied once and no kernel op, completion or slot is involved.
    /// False when answers queued earlier still wait for TX frames (they go first), no frame is free, the
    /// data is not cached, or the read failed or came back short; the caller then queues it as usual.
    /// </summary>
    private bool TryReadNow(ExportedDevice device, in AoeIoRequest io)
    {
        if (_txStarved || !Port.TryGetTxBuffer(out int tx, out Span<byte> buffer))
            return false;
        if (!device.TryReadNow(io, buffer.Slice(AoeWire.AtaPayloadOffset, io.ByteLength)))
        {
            Port.CancelTx(tx);
            return false;
        }
        Port.CommitTx(tx, AoeEngine.WriteIoReply(buffer, io, _iface, Ata.StatusReady, 0));
        return true;
    }

    private void SendIoAnswer(in AoeIoRequest io, byte status, byte error)
    {
        if (TryGetTxBufferOrCountDrop(out int tx, out Span<byte> buffer))
            Port.CommitTx(tx, AoeEngine.WriteIoReply(buffer, io, _iface, status, error));
    }

    private void Send(ReadOnlySpan<byte> reply)
    {
        if (!TryGetTxBufferOrCountDrop(out int tx, out Span<byte> buffer))
            return;
        reply.CopyTo(buffer);
        Port.CommitTx(tx, reply.Length);
    }

    /// <summary>A TX frame for an answer made now; none free: the answer is dropped and counted.</summary>
    private bool TryGetTxBufferOrCountDrop(out int tx, out Span<byte> buffer)
    {
        if (Port.TryGetTxBuffer(out tx, out buffer))
            return true;
        Counters.TxFullDrops++;
        return false;
    }

    // ---- answers go out ------------------------------------------------------------------------------

    /// <summary>
    /// End of the loop turn: the answers devices queued here go into TX frames, oldest first, and
    /// everything committed this turn leaves with one kick. When the TX ring ran out, the kick frees
    /// frames (on veth at once) and the rest gets a second try; what still has no frame waits for the
    /// next turn (the daemon asks for EPOLLOUT meanwhile, <see cref="PacketPort.WantsWritable"/>).
    /// </summary>
    public void Flush()
    {
        DrainReplies();
        if (Port.HasUnkickedTx)
            Port.Kick();
        if (_replies.Count > 0 && DrainReplies() > 0)
            Port.Kick();
        if (_replies.Count > 0)
            Counters.DeferredReplies += _replies.CountNewlyDeferred();
    }

    private int DrainReplies()
    {
        int sent = 0;
        while (_replies.TryPeek(out ReplyTicket t))
        {
            if (!Port.TryGetTxBuffer(out int tx, out Span<byte> buffer))
            {
                _txStarved = true;
                return sent;
            }
            Port.CommitTx(tx, t.Device.WriteReply(t.Slot, t.Recipient, buffer, _iface));
            _replies.Take();
            t.Device.ReplySent(t.Slot);
            sent++;
        }
        _txStarved = false;
        return sent;
    }

    /// <summary>
    /// An exception escaped this port's code (<see cref="HandlerFaults"/>): it goes into error
    /// (<see cref="FaultReason"/>; the first reason is kept) and drops the answers it still owes.
    /// Returns false when it was in error already.
    /// </summary>
    public bool Fault(string reason)
    {
        if (FaultReason != null)
            return false;
        FaultReason = reason;
        DropReplies();
        return true;
    }

    /// <summary>Answers still queued are dropped (the initiators retransmit); later completions see the queue closed.</summary>
    private void DropReplies()
    {
        while (_replies.TryTakeForClose(out ReplyTicket t))
            t.Device.ReplyDropped(t.Slot);
    }

    /// <summary>Closes the port; answers still waiting for a TX frame are dropped (the initiator retransmits).</summary>
    public void Dispose()
    {
        DropReplies();
        Port.Dispose();
    }
}
