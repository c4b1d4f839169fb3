using System;
using System.Diagnostics;
using System.IO;
using Ggaoed.Daemon.Config;
using Ggaoed.Protocol;
using Ggaoed.Storage;

namespace Ggaoed.Daemon;

/// <summary>AoE-level counters of one device (the I/O counters live in the engine).</summary>
internal struct DeviceCounters
{
    /// <summary>Requests dropped because queue-length requests were already held; the initiator retransmits.</summary>
    public long QueueFullDrops;
    /// <summary>Completed requests whose reply could not be queued (TX ring full or interface gone).</summary>
    public long ReplyDrops;
    /// <summary>Requests that completed with an I/O error (answered with ATA error status).</summary>
    public long IoErrors;
    /// <summary>Requests refused before any I/O because they asked for more than a slot holds.</summary>
    public long Oversized;
    /// <summary>Retransmits (same initiator, command, sectors and data, new tag) of a request still
    /// queued or at the disk, folded into it instead of doing the I/O twice.</summary>
    public long FoldedRetransmits;
    /// <summary>Saves of the AoE state that failed (logged, rate-limited; retried with the next change).</summary>
    public long StateSaveFailures;
    /// <summary>Requests that arrived while the advertised buffer count (queue-length) of requests was
    /// already held: the initiator sent more than it was told it may.</summary>
    public long QueueStalls;
    /// <summary>Requests held beyond the advertised buffer count and still served.</summary>
    public long QueueOver;
    /// <summary>Requests the data path finished (from the disk, or at once by pread), errors included.</summary>
    public long Completed;
    /// <summary>Stopwatch ticks from acceptance to completion, summed over <see cref="Completed"/>. 128 bits:
    /// nanosecond ticks at 64 requests in flight would overflow 63 bits in 4.5 years.</summary>
    public Int128 ServiceTicks;
    /// <summary>Requests in service integrated over time (requests x Stopwatch ticks) up to the last change;
    /// see <see cref="ExportedDevice.QueueDepthTicksAt"/> for the value at a given moment.</summary>
    public Int128 QueueDepthTicks;
}

/// <summary>
/// One exported device at run time: its configuration, AoE protocol state, backing store and storage engine.
/// Per queue slot it remembers the request (for the reply) and the port it came in on (by id and
/// generation, so a reply for an interface that went away is dropped, not sent on a reused port).
/// </summary>
internal sealed class ExportedDevice : IEventHandler, IDisposable
{
    private readonly TargetDaemon _daemon;
    private readonly AoeIoRequest[] _requests;
    private readonly int[] _slotPort;
    private readonly int[] _slotPortGeneration;
    private readonly byte[] _slotStatus;
    private readonly byte[] _slotError;
    // Slots holding a request (acquired until released), for the retransmit check: a dense list
    // and each slot's position in it, so adding and removing are O(1) and the scan sees only these.
    private readonly int[] _held;
    private readonly int[] _heldIndex;
    private readonly long[] _heldSince;   // Stopwatch timestamp of acceptance
    private int _heldCount;
    // Requests between acceptance and completion, and when that number last changed (Stopwatch ticks):
    // the integral of the one over the other is DeviceCounters.QueueDepthTicks (iostat's avgqu-sz).
    private int _inService;
    private long _inServiceSince;

    /// <summary>
    /// A request must have been held this long before a duplicate counts as its retransmit. Linux
    /// retransmits only from its 100 ms retransmit timer (AOE-NOTES 3.3); a duplicate that comes
    /// sooner is a second, concurrent request for the same sectors (two readers of one block), which
    /// must get its own answer: folding it would leave one tag unanswered until it timed out.
    /// </summary>
    private static readonly long RetransmitMinAgeTicks = Stopwatch.Frequency / 100;
    private LogLimiter _ioErrorLimiter;
    private bool _engineFailureLogged;

    public DeviceCounters Counters;

    /// <param name="predecessor">The store of the device this one replaces on a reload (same file or
    /// disk), whose claim (O_EXCL, OFD lock) is handed over instead of refused as a second exporter.</param>
    public ExportedDevice(TargetDaemon daemon, DeviceConfig config, int slotBytes, EngineKind engine, BackingStore? predecessor = null)
    {
        _daemon = daemon;
        Config = config;
        Store = BackingStore.Open(config.Path, new BackingStoreOptions
        {
            ReadOnly = config.ReadOnly,
            DirectIo = config.DirectIo,
            Shared = config.Shared,
            OffsetSectors = config.OffsetSectors,
            LengthSectors = config.LengthSectors,
            Predecessor = predecessor,
        });
        try
        {
            Target = new AoeTarget(config.Shelf, config.Slot, Store.Sectors)
            {
                Name = config.Name,
            };
            ApplySettings(config);
            Target.BufferCount = (ushort)Math.Min(config.QueueLength, ushort.MaxValue);
            Engine = EngineChoice.Create(engine, Store, new EngineOptions
            {
                QueueLength = config.QueueLength,
                SlotBytes = slotBytes,
                MergeDelayNanos = (long)(config.MergeDelay * 1e9),
                MaxDelayNanos = (long)(config.MaxDelay * 1e9),
                EdgeTriggeredEventFd = true, // TargetDaemon registers the eventfd with EPOLLET
                ImmediateReads = ImmediateReads.For(Store.DirectIo, Store.InMemory),
                BufferedStore = !Store.DirectIo && !Store.InMemory,
                // write-cache = false (the default): an answered WRITE is on stable storage.
                WriteThrough = !Target.WriteCache,
                BaseOffsetBytes = Store.BaseOffsetBytes,
            });
        }
        catch
        {
            Store.Dispose();
            throw;
        }
        _requests = new AoeIoRequest[config.QueueLength];
        _slotPort = new int[config.QueueLength];
        _slotPortGeneration = new int[config.QueueLength];
        _slotStatus = new byte[config.QueueLength];
        _slotError = new byte[config.QueueLength];
        _held = new int[config.QueueLength];
        _heldIndex = new int[config.QueueLength];
        _heldSince = new long[config.QueueLength];
    }

    public DeviceConfig Config { get; private set; }
    public string Name => Config.Name;
    public AoeTarget Target { get; }
    public BackingStore Store { get; }
    public StorageEngine Engine { get; }

    /// <summary>Taken out of service by a reload or shutdown: no new requests, finishing in-flight I/O.</summary>
    public bool Retiring { get; set; }

    /// <summary>Queued for SubmitPending at the end of this loop turn.</summary>
    public bool Dirty { get; set; }

    public int ReactorToken { get; set; } = -1;

    public long SavedStateVersion { get; set; }

    /// <summary>The last state save failed (its error was logged); the next success says so.</summary>
    public bool StateSaveFailing { get; set; }

    /// <summary>CLOCK_MONOTONIC time of the last state save (rate limit, see TargetDaemon.StateSaveIntervalNanos).</summary>
    public long StateSavedAtNanos { get; set; }

    public string StateFile => Path.Combine(_daemon.StateDirectory, Name + ".state");

    /// <summary>Applies settings that can change without reopening the store (reload).</summary>
    public void Update(DeviceConfig config)
    {
        Config = config;
        ApplySettings(config);
    }

    /// <summary>True when a reload with <paramref name="next"/> needs the device reopened.</summary>
    public bool NeedsReopen(DeviceConfig next)
        => next.Path != Config.Path || next.Shelf != Config.Shelf || next.Slot != Config.Slot ||
           next.DirectIo != Config.DirectIo || next.QueueLength != Config.QueueLength ||
           next.MergeDelay != Config.MergeDelay || next.MaxDelay != Config.MaxDelay || next.IoEngine != Config.IoEngine ||
           next.OffsetSectors != Config.OffsetSectors || next.LengthSectors != Config.LengthSectors || next.Shared != Config.Shared ||
           (next.ReadOnly != Config.ReadOnly && !next.ReadOnly);

    /// <summary>The protocol settings that follow the configuration (at open and on reload).</summary>
    private void ApplySettings(DeviceConfig config)
    {
        Target.ReadOnly = config.ReadOnly;
        Target.AnnounceByBroadcast = config.Broadcast;
        Target.Shared = config.Shared;
        Target.ConfigureWriteCache(config.WriteCache, config.WriteCachePinned);
        ApplyAccessLists(Target, config);
    }

    /// <summary>The configuration's accept, deny and admin-accept lists as the protocol engine checks them.</summary>
    internal static void ApplyAccessLists(AoeTarget target, DeviceConfig config)
    {
        // Null = no list; empty = a list that names nobody (fail closed), kept apart by MacSet?.
        target.AcceptList = ToSet(config.Accept);
        target.DenyList = ToSet(config.Deny) ?? MacSet.Empty;
        target.AdminAcceptList = ToSet(config.AdminAccept);
    }

    private static MacSet? ToSet(ulong[]? values)
    {
        if (values == null)
            return null;
        var macs = new MacAddress[values.Length];
        for (int i = 0; i < values.Length; i++)
            macs[i] = new MacAddress(values[i]);
        return new MacSet(macs);
    }

    /// <summary>
    /// Queues a read, write or flush the protocol engine accepted. Copies a write's payload out of the
    /// RX frame so the frame can go back to the kernel at once. Returns false when the request was
    /// dropped (queue full).
    /// </summary>
    public bool Accept(in AoeIoRequest io, ReadOnlySpan<byte> frame, NetworkPort port)
    {
        if (io.ByteLength > Engine.SlotBytes)
        {
            Counters.Oversized++;
            return false;
        }
        // trace-io: one line per request, at Info so it shows without -d (the admin asked for it).
        if (Config.TraceIo)
            Log.Info($"{Name}: {io.Kind} lba {io.Lba} sectors {io.SectorCount} tag 0x{io.Tag:x8} from {io.Source}");
        if (_heldCount > 0 && TryFoldRetransmit(io, frame, port))
            return true;
        // A read the page cache (or tmpfs) can serve without waiting goes now, straight into a TX frame (StorageEngine.TryReadNow).
        if (io.Kind == IoKind.Read && Engine.CanReadNow)
        {
            long start = Stopwatch.GetTimestamp();
            if (port.TrySendImmediateRead(io, Engine))
            {
                StartService(start);
                FinishService(Stopwatch.GetTimestamp(), start);
                return true;
            }
        }
        if (_heldCount >= Target.BufferCount)
            Counters.QueueStalls++;
        if (!Engine.TryAcquireSlot(out int slot))
        {
            Counters.QueueFullDrops++;
            return false;
        }
        _requests[slot] = io;
        _heldIndex[slot] = _heldCount;
        _held[_heldCount++] = slot;
        if (_heldCount > Target.BufferCount)
            Counters.QueueOver++;
        long now = Stopwatch.GetTimestamp();
        _heldSince[slot] = now;
        StartService(now);
        _slotPort[slot] = port.Id;
        _slotPortGeneration[slot] = port.Generation;
        if (io.Kind == IoKind.Write)
            frame.Slice(io.PayloadOffset, io.ByteLength).CopyTo(Engine.SlotBuffer(slot));
        Engine.Enqueue(slot, io.Kind, io.Lba, io.SectorCount);
        _daemon.MarkDirty(this);
        return true;
    }

    /// <summary>
    /// End of a loop turn: hands the queued requests to the kernel (one syscall) and delivers whatever
    /// has already completed. Requests the kernel serves inside the submit (page cache hits with AIO,
    /// tmpfs) are in the completion ring when it returns: reaping them here puts their replies into
    /// this turn's TX kick instead of the next turn's, saving an epoll_wait round trip per batch.
    /// Reaping from the mapped ring makes no syscall, so with a real disk (nothing done yet) it costs a
    /// few loads.
    /// </summary>
    public void Submit()
    {
        // The write cache follows the configuration and SET FEATURES from initiators (AoeTarget).
        Engine.WriteThrough = !Target.WriteCache;
        if (Engine.SubmitPending() == 0 && !Engine.HasCompletions)
            return;
        Deliver(Engine.Reap());
    }

    /// <summary>The engine's eventfd became readable: deliver completions as replies.</summary>
    public void OnEvents(uint events) => Deliver(Engine.Reap());

    private void Deliver(ReadOnlySpan<IoCompletion> done)
    {
        foreach (IoCompletion c in done)
            Complete(c.Slot, c.Result);
        if (Engine.HasQueued)
            _daemon.MarkDirty(this);
        if (Engine.FailureReason != null && !_engineFailureLogged)
        {
            _engineFailureLogged = true;
            Log.Error($"{Name}: the {EngineChoice.Name(Engine.Kind)} storage engine stopped: {Engine.FailureReason}; " +
                      "every request is answered with an ATA error until the daemon is restarted");
        }
    }

    /// <summary>
    /// Linux retransmits a request that timed out with a new tag (AOE-NOTES 16), often while the
    /// original still waits at a slow disk. Doing it again would double the load exactly when the
    /// disk is behind; instead, if the same initiator's same command for the same sectors (and, for a
    /// write, the same data) is still queued or in flight after at least 10 ms, the original is
    /// re-labelled with the new tag and port, so its one completion answers the tag the initiator is
    /// waiting for (an answer with the old tag would be thrown away as "unexpected").
    /// </summary>
    private bool TryFoldRetransmit(in AoeIoRequest io, ReadOnlySpan<byte> frame, NetworkPort port)
    {
        long now = 0;
        for (int i = 0; i < _heldCount; i++)
        {
            int slot = _held[i];
            ref readonly AoeIoRequest held = ref _requests[slot];
            if (held.Lba != io.Lba || held.SectorCount != io.SectorCount || held.Kind != io.Kind ||
                held.AtaCommand != io.AtaCommand || held.Source != io.Source || held.Tag == io.Tag ||
                !Engine.IsPending(slot))
                continue;
            if (now == 0)
                now = Stopwatch.GetTimestamp();
            if (now - _heldSince[slot] < RetransmitMinAgeTicks)
                continue;
            if (io.Kind == IoKind.Write &&
                !frame.Slice(io.PayloadOffset, io.ByteLength).SequenceEqual(Engine.SlotBuffer(slot).Slice(0, io.ByteLength)))
                continue;
            _requests[slot] = io;
            _slotPort[slot] = port.Id;
            _slotPortGeneration[slot] = port.Generation;
            Counters.FoldedRetransmits++;
            return true;
        }
        return false;
    }

    // Service time and queue depth are measured on the monotonic clock at the two ends of a request:
    // acceptance (queued, or read at once) and completion (the disk answered; the reply is built or
    // waits for a TX frame). Depth counts the requests between those two points.
    private void StartService(long now)
    {
        AdvanceDepthClock(now);
        _inService++;
    }

    private void FinishService(long now, long acceptedAt)
    {
        AdvanceDepthClock(now);
        _inService--;
        Counters.Completed++;
        Counters.ServiceTicks += now - acceptedAt;
    }

    private void AdvanceDepthClock(long now)
    {
        Counters.QueueDepthTicks += (long)_inService * (now - _inServiceSince);
        _inServiceSince = now;
    }

    /// <summary>Requests in service integrated over time up to <paramref name="now"/> (Stopwatch ticks).</summary>
    public Int128 QueueDepthTicksAt(long now) => Counters.QueueDepthTicks + (long)_inService * (now - _inServiceSince);

    private void Unhold(int slot)
    {
        int i = _heldIndex[slot];
        int last = _held[--_heldCount];
        _held[i] = last;
        _heldIndex[last] = i;
    }

    private void Complete(int slot, int result)
    {
        FinishService(Stopwatch.GetTimestamp(), _heldSince[slot]);
        ref readonly AoeIoRequest io = ref _requests[slot];
        byte status = Ata.StatusReady;
        byte error = 0;
        if (result < 0)
        {
            AoeEngine.MapIoError(-result, io.Kind, out status, out error);
            Counters.IoErrors++;
            Target.Counters.CountAtaError(error);
            long now = TimerFd.NowNanos();
            if (_ioErrorLimiter.ShouldLog(now, out long suppressed))
                Log.Error($"{Name}: {io.Kind} of {io.SectorCount} sector(s) at LBA {io.Lba} on {Config.Path} failed: " +
                          $"{ErrnoText.Describe(-result)}; answered with ATA error{(suppressed > 0 ? $" ({suppressed} similar errors not logged)" : "")}");
        }
        _slotStatus[slot] = status;
        _slotError[slot] = error;
        NetworkPort? port = _daemon.PortById(_slotPort[slot], _slotPortGeneration[slot]);
        if (port == null)
        {
            DropReply(slot);
            return;
        }
        // Replies already waiting for TX frames go first, so a port answers in completion order.
        if (port.HasDeferredReplies || !TrySendReply(slot, port))
        {
            // The TX ring is full: keep the slot (and its data) until the kernel frees a frame, rather
            // than drop a finished request and make the initiator retransmit it (and redo the I/O).
            DeferredReplies++;
            port.DeferReply(this, slot);
        }
    }

    /// <summary>Completed requests whose replies wait in a port's queue for a free TX frame.</summary>
    public int DeferredReplies { get; private set; }

    /// <summary>Sends a completed request's reply and frees its slot; false when the port has no free TX frame.</summary>
    internal bool TrySendReply(int slot, NetworkPort port)
    {
        if (!port.TrySendIoReply(_requests[slot], _slotStatus[slot], _slotError[slot], Engine.SlotBuffer(slot)))
            return false;
        Unhold(slot);
        Engine.ReleaseSlot(slot);
        return true;
    }

    /// <summary>A deferred reply left its port's queue (sent by <see cref="TrySendReply"/> or dropped).</summary>
    internal void DeferredReplyDone() => DeferredReplies--;

    /// <summary>The reply can't be sent (its interface went away): count it and free the slot.</summary>
    internal void DropReply(int slot)
    {
        Counters.ReplyDrops++;
        Unhold(slot);
        Engine.ReleaseSlot(slot);
    }

    public void Dispose()
    {
        Engine.Dispose();
        Store.Dispose();
    }
}
