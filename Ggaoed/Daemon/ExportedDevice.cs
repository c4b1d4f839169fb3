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
    /// <summary>Requests dropped because every slot was taken (the safety cap, <see cref="ExportedDevice.SlotCount"/>); the initiator retransmits.</summary>
    public long QueueFullDrops;
    /// <summary>Answers of completed requests that could not be sent (their interface went away).</summary>
    public long ReplyDrops;
    /// <summary>Requests that completed with an I/O error (answered with ATA error status).</summary>
    public long IoErrors;
    /// <summary>Requests refused before any I/O because they asked for more than a slot holds.</summary>
    public long Oversized;
    /// <summary>Frames that repeat a request still queued or at the disk byte for byte (same initiator,
    /// command, sectors and, for a write, data; a retransmit has a new tag), answered by its one I/O.</summary>
    public long FoldedRetransmits;
    /// <summary>Saves of the AoE state that failed (logged, rate-limited; retried with the next change).</summary>
    public long StateSaveFailures;
    /// <summary>Requests that arrived while the advertised buffer count (queue-length) of requests was
    /// already held: the initiator sent more than it was told it may.</summary>
    public long QueueStalls;
    /// <summary>Requests held beyond the advertised buffer count and still served (up to the slot cap).</summary>
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

/// <summary>What the daemon decides for a device it opens, besides the device's own configuration.</summary>
internal readonly record struct DeviceSetup(
    string StateDirectory,
    int SlotBytes,
    int SlotCount,
    EngineKind Engine,
    BackingStore? Predecessor,
    bool TraceAll,
    Action<FaultPoint, string>? FaultInjector);

/// <summary>
/// One exported device at run time: its configuration, AoE protocol state, backing store and storage
/// engine, and the requests it holds. Its ports call it; it never calls them, nor the daemon:
/// <list type="number">
/// <item>a port hands it a request the protocol engine accepted: <see cref="TryFold"/> (the same
/// request is still at the disk), <see cref="TryReadNow"/> (the page cache has it), else
/// <see cref="Enqueue"/>, which queues it in the engine with the port's <see cref="ReplyQueue"/>;</item>
/// <item>at the end of the loop turn the daemon calls <see cref="Submit"/> (the engine's one syscall)
/// and, when the engine's eventfd fires, <see cref="Deliver"/>: each completion becomes one ticket
/// per recipient in that recipient's reply queue;</item>
/// <item>the port takes the ticket, has <see cref="WriteReply"/> build the answer in a TX frame, and
/// gives the slot back with <see cref="ReplySent"/> (or <see cref="ReplyDropped"/> when it closed).</item>
/// </list>
/// A slot is held from acceptance until its last recipient's answer left (or was dropped).
/// </summary>
internal sealed class ExportedDevice : IDisposable
{
    /// <summary>
    /// Frames one request answers: the first and up to two byte-identical repeats (Linux retransmits a
    /// request that timed out, with a new tag, AOE-NOTES 3.3; a third repeat while the first is still at
    /// the disk means the disk is far behind). A fourth is served as a request of its own.
    /// </summary>
    public const int MaxRecipients = 3;

    private readonly string _stateDirectory;
    private readonly bool _traceAll;
    private readonly Action<FaultPoint, string>? _faultInjector;
    // Per slot: who gets the answer ([slot * MaxRecipients + r], r < _recipientCount[slot]; recipient 0
    // is the frame that was queued), the answer's ATA status and error, when it was accepted, and how
    // many answers are still in reply queues.
    private readonly AoeIoRequest[] _recipients;
    private readonly ReplyQueue?[] _replyTo;
    private readonly byte[] _recipientCount;
    private readonly byte[] _repliesOwed;
    private readonly byte[] _slotStatus;
    private readonly byte[] _slotError;
    private readonly long[] _acceptedAt; // Stopwatch timestamp
    // Slots holding a request (acquired until released), for the retransmit check: a dense list
    // and each slot's position in it, so adding and removing are O(1) and the scan sees only these.
    private readonly int[] _held;
    private readonly int[] _heldIndex;
    private int _heldCount;
    // Requests between acceptance and completion, and when that number last changed (Stopwatch ticks):
    // the integral of the one over the other is DeviceCounters.QueueDepthTicks (iostat's avgqu-sz).
    private int _inService;
    private long _inServiceSince;
    private LogLimiter _ioErrorLimiter;
    private LogLimiter _queueFullLimiter;
    private bool _engineFailureLogged;

    public DeviceCounters Counters;

    public ExportedDevice(DeviceConfig config, in DeviceSetup setup)
    {
        Config = config;
        _stateDirectory = setup.StateDirectory;
        _traceAll = setup.TraceAll;
        _faultInjector = setup.FaultInjector;
        Store = BackingStore.Open(config.Path, new BackingStoreOptions
        {
            ReadOnly = config.ReadOnly,
            DirectIo = config.DirectIo,
            Shared = config.Shared,
            OffsetSectors = config.OffsetSectors,
            LengthSectors = config.LengthSectors,
            // The store of the device this one replaces on a reload (same file or disk): its claim
            // (O_EXCL, OFD lock) is handed over instead of refused as a second exporter.
            Predecessor = setup.Predecessor,
        });
        try
        {
            Target = new AoeTarget(config.Shelf, config.Slot, Store.Sectors)
            {
                Name = config.Name,
            };
            ApplySettings(config);
            // Advertised as the buffer count; the engine has more slots (SlotCount), see Enqueue.
            Target.BufferCount = (ushort)Math.Min(config.QueueLength, ushort.MaxValue);
            Engine = EngineChoice.Create(EngineChoice.ForStore(setup.Engine, config.IoEngine, Store.InMemory), Store, new EngineOptions
            {
                QueueLength = setup.SlotCount,
                SlotBytes = setup.SlotBytes,
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
        int slots = setup.SlotCount;
        _recipients = new AoeIoRequest[slots * MaxRecipients];
        _replyTo = new ReplyQueue?[slots * MaxRecipients];
        _recipientCount = new byte[slots];
        _repliesOwed = new byte[slots];
        _slotStatus = new byte[slots];
        _slotError = new byte[slots];
        _acceptedAt = new long[slots];
        _held = new int[slots];
        _heldIndex = new int[slots];
    }

    public DeviceConfig Config { get; private set; }
    public string Name => Config.Name;
    public AoeTarget Target { get; }
    public BackingStore Store { get; }
    public StorageEngine Engine { get; }

    /// <summary>trace-io for this device, or -d for all: one log line per command (<see cref="IoTrace"/>).</summary>
    public bool Tracing => Config.TraceIo || _traceAll;

    /// <summary>Taken out of service by a reload or shutdown: no new requests, finishing in-flight I/O.</summary>
    public bool Retiring { get; private set; }

    public void Retire() => Retiring = true;

    /// <summary>Holds no request: nothing queued, at the disk, or waiting in a reply queue.</summary>
    public bool IsIdle => _heldCount == 0;

    /// <summary>Answers of completed requests waiting in reply queues for a TX frame now.</summary>
    public int RepliesWaiting { get; private set; }

    /// <summary>
    /// Set once an exception escaped this device's code (<see cref="HandlerFaults"/>): what failed. The
    /// device then answers every read, write and flush with ATA ABRT at once (Query Config and IDENTIFY
    /// still work, so the initiator sees the device and fails its I/O instead of retrying for minutes),
    /// until a reload reopens it. Null while it is well.
    /// </summary>
    public string? FaultReason { get; private set; }

    public bool Faulted => FaultReason != null;

    public long SavedStateVersion { get; set; }

    /// <summary>The last state save failed (its error was logged); the next success says so.</summary>
    public bool StateSaveFailing { get; set; }

    /// <summary>CLOCK_MONOTONIC time of the last state save (rate limit, see TargetDaemon.StateSaveIntervalNanos).</summary>
    public long StateSavedAtNanos { get; set; }

    public string StateFile => Path.Combine(_stateDirectory, Name + ".state");

    /// <summary>
    /// How many requests a device may hold: the advertised buffer count (queue-length) is what a
    /// well-behaved initiator keeps in flight, but several initiators, multipath (one window per target
    /// MAC) or a tool ignoring it may send more, and ggaoed 1.1 serves those (counted as queue_over)
    /// rather than drop them. The hard cap: as many requests of the largest size as one RX ring holds
    /// bytes (<paramref name="rxRingBytes"/>), since a burst bigger than that is dropped by the kernel
    /// before we see it anyway; never more than <see cref="DefaultsConfig.MaxQueueLength"/>, never less
    /// than queue-length. Each slot is a page-aligned buffer of <paramref name="slotBytes"/>, so the
    /// memory this costs per device is about one RX ring: at the defaults (4 MiB ring-buffer-size, so a
    /// 2 MiB RX ring, and 12 KiB slots for 17-sector jumbo requests) 170 slots, 2 MiB.
    /// </summary>
    public static int SlotCount(int queueLength, long rxRingBytes, int slotBytes)
    {
        long stride = (slotBytes + Environment.SystemPageSize - 1) / Environment.SystemPageSize * (long)Environment.SystemPageSize;
        long ringWorth = Math.Min(rxRingBytes / stride, DefaultsConfig.MaxQueueLength);
        return (int)Math.Max(queueLength, ringWorth);
    }

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

    // ---- a request comes in (from a port) --------------------------------------------------------------

    /// <summary>
    /// A frame that repeats a request this device still holds, byte for byte (same initiator, command,
    /// LBA, count and, for a write, data), while that request is queued or at the disk: Linux retransmits
    /// a request that timed out with a new tag (AOE-NOTES 16), often while the original still waits at a
    /// slow disk, and doing it again would double the load exactly when the disk is behind. The frame
    /// becomes one more recipient of that request's one completion, so every tag gets its answer (a read
    /// each carries the data). Flushes never fold (each must cover the writes answered before it), nor do
    /// requests that already have <see cref="MaxRecipients"/>.
    /// </summary>
    public bool TryFold(in AoeIoRequest io, ReadOnlySpan<byte> frame, ReplyQueue replyTo)
    {
        if (_heldCount == 0 || io.Kind == IoKind.Flush)
            return false;
        for (int i = 0; i < _heldCount; i++)
        {
            int slot = _held[i];
            int n = _recipientCount[slot];
            if (n == MaxRecipients || !IsSameRequest(_recipients[slot * MaxRecipients], io) || !Engine.IsPending(slot))
                continue;
            if (io.Kind == IoKind.Write &&
                !frame.Slice(io.PayloadOffset, io.ByteLength).SequenceEqual(Engine.SlotBuffer(slot).Slice(0, io.ByteLength)))
                continue;
            _recipients[slot * MaxRecipients + n] = io;
            _replyTo[slot * MaxRecipients + n] = replyTo;
            _recipientCount[slot] = (byte)(n + 1);
            Counters.FoldedRetransmits++;
            return true;
        }
        return false;
    }

    /// <summary>Everything but the tag (and the device's own shelf/slot) as the initiator sent it.</summary>
    private static bool IsSameRequest(in AoeIoRequest a, in AoeIoRequest b)
        => a.Lba == b.Lba && a.SectorCount == b.SectorCount && a.Kind == b.Kind && a.Source == b.Source &&
           a.AtaCommand == b.AtaCommand && a.Aflags == b.Aflags && a.RawLba == b.RawLba &&
           a.RequestSectorCount == b.RequestSectorCount && a.PayloadLength == b.PayloadLength;

    /// <summary>Whether a read may be answered at once (<see cref="TryReadNow"/>) now.</summary>
    public bool CanReadNow => Engine.CanReadNow;

    /// <summary>
    /// Reads straight into <paramref name="payload"/> (a TX frame's data area) when the page cache or
    /// tmpfs has the data, never waiting for a disk (<see cref="StorageEngine.TryReadNow"/>). False: the
    /// caller queues the read as usual.
    /// </summary>
    public bool TryReadNow(in AoeIoRequest io, Span<byte> payload)
    {
        long start = Stopwatch.GetTimestamp();
        if (!Engine.TryReadNow(io.Lba, io.SectorCount, payload))
            return false;
        StartService(start);
        FinishService(Stopwatch.GetTimestamp(), start);
        if (Tracing)
            IoTrace.Io(Name, io, "ok (read at once)");
        return true;
    }

    /// <summary>
    /// Queues a read, write or flush in the engine; its answer goes to <paramref name="replyTo"/> when it
    /// completes. Copies a write's payload out of the RX frame so the frame can go back to the kernel at
    /// once. Beyond the advertised buffer count a request is still taken (counted as queue_over) while a
    /// slot is free; with every slot taken it is dropped, counted and logged (rate-limited), and the
    /// initiator retransmits.
    /// </summary>
    public void Enqueue(in AoeIoRequest io, ReadOnlySpan<byte> frame, ReplyQueue replyTo)
    {
        if (io.ByteLength > Engine.SlotBytes)
        {
            Counters.Oversized++;
            if (Tracing)
                IoTrace.Io(Name, io, $"dropped: larger than a queue slot ({Engine.SlotBytes} bytes)");
            return;
        }
        if (_heldCount >= Target.BufferCount)
            Counters.QueueStalls++;
        if (!Engine.TryAcquireSlot(out int slot))
        {
            DropQueueFull(io);
            return;
        }
        _heldIndex[slot] = _heldCount;
        _held[_heldCount++] = slot;
        if (_heldCount > Target.BufferCount)
            Counters.QueueOver++;
        long now = Stopwatch.GetTimestamp();
        _acceptedAt[slot] = now;
        StartService(now);
        _recipients[slot * MaxRecipients] = io;
        _replyTo[slot * MaxRecipients] = replyTo;
        _recipientCount[slot] = 1;
        if (io.Kind == IoKind.Write)
            frame.Slice(io.PayloadOffset, io.ByteLength).CopyTo(Engine.SlotBuffer(slot));
        Engine.Enqueue(slot, io.Kind, io.Lba, io.SectorCount);
    }

    private void DropQueueFull(in AoeIoRequest io)
    {
        Counters.QueueFullDrops++;
        if (Tracing)
            IoTrace.Io(Name, io, $"dropped: all {Engine.QueueLength} queue slots are taken");
        if (_queueFullLimiter.ShouldLog(TimerFd.NowNanos(), out long suppressed))
            Log.Warning($"{Name}: dropped a request: {Engine.QueueLength} requests are held already (queue-length {Config.QueueLength} " +
                        $"is advertised; the rest is the safety cap); the initiator retransmits{(suppressed > 0 ? $" ({suppressed} more drops not logged)" : "")}");
    }

    /// <summary>
    /// A request for a device in error (<see cref="FaultReason"/>): counted as an ATA ABRT answer; the
    /// port sends it.
    /// </summary>
    public void Refuse(in AoeIoRequest io)
    {
        Target.Counters.CountAtaError(Ata.ErrorAbrt);
        if (Tracing)
            IoTrace.Io(Name, io, "ATA ABRT: the device is in error (" + FaultReason + ")");
    }

    // ---- end of the loop turn, and completions (from the daemon) -----------------------------------------

    /// <summary>
    /// End of a loop turn: hands the queued requests to the kernel (one syscall) and delivers whatever
    /// has already completed. Requests the kernel serves inside the submit (page cache hits with AIO,
    /// tmpfs) are in the completion ring when it returns: reaping them here puts their answers into
    /// this turn's TX kick instead of the next turn's, saving an epoll_wait round trip per batch.
    /// Reaping from the mapped ring makes no syscall, so with a real disk (nothing done yet) it costs a
    /// few loads.
    /// </summary>
    public void Submit()
    {
        if (!Engine.HasQueued && !Engine.HasCompletions)
            return;
        // The write cache follows the configuration and SET FEATURES from initiators (AoeTarget).
        Engine.WriteThrough = !Target.WriteCache;
        if (Engine.SubmitPending() == 0 && !Engine.HasCompletions)
            return;
        Deliver();
    }

    /// <summary>The engine's eventfd fired (or a submit reaped): every completion into its reply queues.</summary>
    public void Deliver()
    {
        _faultInjector?.Invoke(FaultPoint.DeviceCompletions, Name);
        foreach (IoCompletion c in Engine.Reap())
            Complete(c.Slot, c.Result);
        if (Engine.FailureReason != null && !_engineFailureLogged)
        {
            _engineFailureLogged = true;
            Log.Error($"{Name}: the {EngineChoice.Name(Engine.Kind)} storage engine stopped: {Engine.FailureReason}; " +
                      "every request is answered with an ATA error until the daemon is restarted");
        }
    }

    private void Complete(int slot, int result)
    {
        FinishService(Stopwatch.GetTimestamp(), _acceptedAt[slot]);
        int first = slot * MaxRecipients;
        byte status = Ata.StatusReady;
        byte error = 0;
        if (result < 0)
        {
            AoeEngine.MapIoError(-result, _recipients[first].Kind, out status, out error);
            Counters.IoErrors++;
            LogIoError(_recipients[first], result);
        }
        _slotStatus[slot] = status;
        _slotError[slot] = error;
        int owed = 0;
        for (int r = 0; r < _recipientCount[slot]; r++)
        {
            if (result < 0)
                Target.Counters.CountAtaError(error);
            if (Tracing)
                IoTrace.Io(Name, _recipients[first + r], IoTrace.IoResult(result, status, error) + (r > 0 ? " (a repeat, answered by the first's I/O)" : ""));
            ReplyQueue queue = _replyTo[first + r]!;
            if (queue.IsClosed)
            {
                Counters.ReplyDrops++; // its interface went away since the frame came in
                continue;
            }
            queue.Add(this, slot, r);
            owed++;
        }
        _repliesOwed[slot] = (byte)owed;
        RepliesWaiting += owed;
        if (owed == 0)
            Release(slot);
    }

    private void LogIoError(in AoeIoRequest io, int result)
    {
        if (_ioErrorLimiter.ShouldLog(TimerFd.NowNanos(), out long suppressed))
            Log.Error($"{Name}: {io.Kind} of {io.SectorCount} sector(s) at LBA {io.Lba} on {Config.Path} failed: " +
                      $"{ErrnoText.Describe(-result)}; answered with ATA error{(suppressed > 0 ? $" ({suppressed} similar errors not logged)" : "")}");
    }

    // ---- the answer leaves (from a port) ---------------------------------------------------------------

    /// <summary>
    /// Builds recipient <paramref name="recipient"/>'s answer to the request in <paramref name="slot"/>
    /// in <paramref name="frame"/> (a TX frame of the port it came in on); returns its length.
    /// </summary>
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
    public int WriteReply(int slot, int recipient, Span<byte> frame, in AoeInterface iface)
    {
        ref readonly AoeIoRequest io = ref _recipients[slot * MaxRecipients + recipient];
        int length = AoeEngine.WriteIoReply(frame, io, iface, _slotStatus[slot], _slotError[slot]);
        if (length > AoeWire.AtaPayloadOffset && io.Kind == IoKind.Read)
            Engine.SlotBuffer(slot).Slice(0, io.ByteLength).CopyTo(frame.Slice(AoeWire.AtaPayloadOffset));
        return length;
    }

    /// <summary>One answer for the request in <paramref name="slot"/> went out; the last one frees the slot.</summary>
    public void ReplySent(int slot)
    {
        RepliesWaiting--;
        if (--_repliesOwed[slot] == 0)
            Release(slot);
    }

    /// <summary>One answer can't be sent (its port closed with the ticket still queued): counted.</summary>
    public void ReplyDropped(int slot)
    {
        Counters.ReplyDrops++;
        ReplySent(slot);
    }

    private void Release(int slot)
    {
        for (int r = 0; r < _recipientCount[slot]; r++)
            _replyTo[slot * MaxRecipients + r] = null;
        _recipientCount[slot] = 0;
        int i = _heldIndex[slot];
        int last = _held[--_heldCount];
        _held[i] = last;
        _heldIndex[last] = i;
        Engine.ReleaseSlot(slot);
    }

    // ---- service time and depth ------------------------------------------------------------------------

    // Service time and queue depth are measured on the monotonic clock at the two ends of a request:
    // acceptance (queued, or read at once) and completion (the disk answered; the answer is queued for
    // a TX frame). Depth counts the requests between those two points.
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

    // ---- errors --------------------------------------------------------------------------------------

    /// <summary>
    /// An exception escaped this device's code (see <see cref="HandlerFaults"/>): the device goes into
    /// error (<see cref="FaultReason"/>; the first reason is kept). Returns false when it was in error already.
    /// </summary>
    public bool Fault(string reason)
    {
        if (FaultReason != null)
            return false;
        FaultReason = reason;
        return true;
    }

    public void Dispose()
    {
        Engine.Dispose();
        Store.Dispose();
    }
}
