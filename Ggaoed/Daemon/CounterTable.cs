using System;
using System.Diagnostics;
using static Ggaoed.Daemon.CounterKind;

namespace Ggaoed.Daemon;

/// <summary>How a counter behaves, and so how every format shows it.</summary>
internal enum CounterKind
{
    /// <summary>Only grows: clear-stats baselines it; Prometheus type "counter" (name ends in _total);
    /// ggaoectl monitor shows its rate.</summary>
    Counter,

    /// <summary>A value as it is now (a depth, a size, a setting): never cleared; Prometheus "gauge".</summary>
    Gauge,
}

/// <summary>What every format needs to know about a counter, whoever owns it.</summary>
internal abstract class CounterDefinition(string name, CounterKind kind, string unit, string help, string? column)
{
    /// <summary>The one name of the counter: JSON key, "stats --raw" suffix, Prometheus
    /// ggaoed_SCOPE_NAME (plus _total for a counter). Lower case with underscores.</summary>
    public string Name { get; } = name;
    public CounterKind Kind { get; } = kind;
    /// <summary>What one unit of the value is ("requests", "sectors", "us", ...).</summary>
    public string Unit { get; } = unit;
    /// <summary>One sentence for the Prometheus HELP line and the man page.</summary>
    public string Help { get; } = help;
    /// <summary>Header of its column in the summary table of text <c>stats</c>; null when the counter is
    /// listed only in the per-owner details below the table.</summary>
    public string? Column { get; } = column;
}

/// <summary>One row of <see cref="CounterTable"/>: a counter and how to read it from its owner.</summary>
internal sealed class CounterRow<TOwner>(string name, CounterKind kind, string unit, string help, Func<TOwner, long> read, string? column = null)
    : CounterDefinition(name, kind, unit, help, column)
{
    public Func<TOwner, long> Read { get; } = read;
}

/// <summary>The counters of one kind of owner (devices, interfaces, the daemon).</summary>
internal interface ICounterScope
{
    /// <summary>"device", "interface" or "daemon": the raw prefix, the Prometheus infix and the label name.</summary>
    string Name { get; }
    /// <summary>The key of this scope in <c>stats --json</c>: an array per owner, or one object.</summary>
    string JsonKey { get; }
    /// <summary>True when there is exactly one owner (the daemon): no owner name in raw keys or labels.</summary>
    bool Single { get; }
    ReadOnlySpan<CounterDefinition> Definitions { get; }
}

internal sealed class CounterScope<TOwner>(string name, string jsonKey, bool single, CounterRow<TOwner>[] rows) : ICounterScope
{
    private readonly CounterDefinition[] _definitions = rows;

    public string Name { get; } = name;
    public string JsonKey { get; } = jsonKey;
    public bool Single { get; } = single;
    public ReadOnlySpan<CounterDefinition> Definitions => _definitions;

    /// <summary>Every counter of <paramref name="owner"/>, in table order.</summary>
    public long[] ReadAll(TOwner owner)
    {
        var values = new long[rows.Length];
        for (int i = 0; i < rows.Length; i++)
            values[i] = rows[i].Read(owner);
        return values;
    }
}

/// <summary>
/// Every counter ggaoed reports, in one place: <c>stats</c> (text), <c>stats --json</c>,
/// <c>stats --raw</c> (what <c>ggaoectl monitor</c> reads) and <c>metrics</c> (Prometheus) are all
/// generated from these rows, and <c>clear-stats</c> baselines them through it, so a counter shows up
/// in every format or in none. The counters themselves stay plain fields where they are counted
/// (StorageCounters, DeviceCounters, AoeTargetCounters, PacketPortCounters, PortCounters, the reactor);
/// a row names one and says how to read it.
/// <para>To add a counter, write one row in the scope that owns it, e.g.
/// <c>new("ata_abrt_replies", Counter, "replies", "Requests answered with ATA ABRT.", d => d.Target.Counters.AtaAbrt),</c>
/// and list it in ggaoectl(8) (a test checks both). Totals such as <c>errors</c> are rows too: a new
/// kind of error reply goes into its own row and into the sum of its total, so each reply is counted
/// once by kind and once in the total.</para>
/// </summary>
internal static class CounterTable
{
    // Row order is output order; the rows with a column header also give the summary table's column order.
    public static readonly CounterScope<ExportedDevice> Device = new("device", "devices", single: false,
    [
        new("read_requests", Counter, "requests", "Reads completed successfully (immediate reads included).", d => d.Engine.Counters.ReadRequests, "reads"),
        new("read_sectors", Counter, "sectors", "512-byte sectors read.", d => d.Engine.Counters.ReadSectors, "read-sect"),
        new("write_requests", Counter, "requests", "Writes completed successfully.", d => d.Engine.Counters.WriteRequests, "writes"),
        new("write_sectors", Counter, "sectors", "512-byte sectors written.", d => d.Engine.Counters.WriteSectors, "write-sect"),
        new("flushes", Counter, "requests", "Flushes (FLUSH CACHE) completed successfully.", d => d.Engine.Counters.Flushes),
        new("merged_requests", Counter, "requests", "Requests that went to the kernel in one vectored op (iocb or SQE) together with others.", d => d.Engine.Counters.MergedRequests, "merged"),
        new("immediate_reads", Counter, "requests", "Reads answered at once from the page cache or tmpfs (preadv2 RWF_NOWAIT or pread), without a kernel op.", d => d.Engine.Counters.ImmediateReads),
        new("immediate_read_fallbacks", Counter, "requests", "Immediate reads that missed the page cache, failed or came back short, and went to the storage engine instead.", d => d.Engine.Counters.ImmediateReadFallbacks),
        new("iocbs_submitted", Counter, "iocbs", "Ops the kernel accepted (iocbs for aio, SQEs for io_uring).", d => d.Engine.Counters.IocbsSubmitted, "iocbs"),
        new("submit_calls", Counter, "calls", "Submissions made (io_submit or io_uring_enter calls).", d => d.Engine.Counters.SubmitCalls),
        new("submit_eagain", Counter, "calls", "Submissions refused with EAGAIN or EBUSY (the rest of the batch waited).", d => d.Engine.Counters.SubmitEagain),
        new("stale_completions", Counter, "events", "Completions that matched no request in flight (ignored).", d => d.Engine.Counters.StaleCompletions),
        new("sync_flush_fallbacks", Counter, "requests", "Flushes done by a synchronous fdatasync because the kernel refused an asynchronous one.", d => d.Engine.Counters.SyncFlushFallbacks),
        new("completed_requests", Counter, "requests", "Requests the data path finished (from the disk or at once), errors included.", d => d.Counters.Completed),
        new("service_time_us", Counter, "us", "Time from accepting a request to its completion, summed over completed_requests; per completed request it is svctm.", d => Microseconds(d.Counters.ServiceTicks)),
        new("queue_depth_sum_us", Counter, "request-us", "Requests in service summed over time; per microsecond of elapsed time it is the average queue size, avgqsz.", d => Microseconds(d.QueueDepthTicksAt(Stopwatch.GetTimestamp()))),
        // Error replies: the totals, then each kind once. StorageCounters.Errors counts the same
        // failures as io_errors (every failed completion is answered by ExportedDevice.Complete, which
        // also counts its ATA error by kind).
        new("errors", Counter, "replies", "Requests answered with an error of any kind: ata_error_replies + aoe_error_replies + mask_error_replies.", d => d.Target.Counters.AtaErrors + d.Target.Counters.AoeErrors + d.Target.Counters.MaskErrors, "errors"),
        new("ata_error_replies", Counter, "replies", "Requests answered with ATA error status, before I/O (IDNF past the end, ABRT) or after it (io_errors): the sum of the ata_*_replies kinds.", d => d.Target.Counters.AtaErrors),
        new("ata_abrt_replies", Counter, "replies", "Requests answered with ATA ABRT (unsupported or refused command, oversized request, failed write).", d => d.Target.Counters.AtaErrorAbrt),
        new("ata_idnf_replies", Counter, "replies", "Requests answered with ATA IDNF (sectors past the end of the device).", d => d.Target.Counters.AtaErrorIdnf),
        new("ata_unc_replies", Counter, "replies", "Reads answered with ATA UNC (the backing store returned EIO).", d => d.Target.Counters.AtaErrorUnc),
        new("ata_other_error_replies", Counter, "replies", "Requests answered with another ATA error.", d => d.Target.Counters.AtaErrorOther),
        new("io_errors", Counter, "replies", "Requests that failed at the backing store (EIO, ENOSPC, short transfer) and were answered with ATA error status.", d => d.Counters.IoErrors),
        new("aoe_error_replies", Counter, "replies", "Requests answered with the AoE Error flag: the sum of the aoe_error_* kinds.", d => d.Target.Counters.AoeErrors),
        new("aoe_error_unrecognized_command", Counter, "replies", "AoE error 1: unknown AoE command.", d => d.Target.Counters.AoeErrorUnrecognizedCommand),
        new("aoe_error_bad_argument", Counter, "replies", "AoE error 2: bad argument (a short or malformed request, a reserve set on a shared device).", d => d.Target.Counters.AoeErrorBadArgument),
        new("aoe_error_config_string_present", Counter, "replies", "AoE error 4: config string present (a set refused).", d => d.Target.Counters.AoeErrorConfigStringPresent),
        new("aoe_error_unsupported_version", Counter, "replies", "AoE error 5: unsupported AoE version.", d => d.Target.Counters.AoeErrorUnsupportedVersion),
        new("aoe_error_target_reserved", Counter, "replies", "AoE error 6: target reserved (a reservation, or a reserve change from outside admin-accept).", d => d.Target.Counters.AoeErrorTargetReserved),
        new("mask_error_replies", Counter, "replies", "Mac Mask replies carrying an MError.", d => d.Target.Counters.MaskErrors),
        new("oversized", Counter, "requests", "Requests answered with ABRT because they asked for more sectors than the interface carries or the frame holds.", d => d.Target.Counters.Oversized),
        new("admin_broadcast_refused", Counter, "frames", "State-changing commands (mask edit, reserve set, config set) sent to a broadcast shelf/slot: nothing changed, no answer.", d => d.Target.Counters.AdminBroadcastRefused),
        new("admin_refused", Counter, "requests", "State-changing commands refused because the sender is not in admin-accept.", d => d.Target.Counters.AdminRefused),
        new("queue_full_drops", Counter, "requests", "Requests dropped because every queue slot was taken, queue_over included (the safety cap, queue_slots); the initiator retransmits.", d => d.Counters.QueueFullDrops, "qfull"),
        new("queue_stalls", Counter, "requests", "Requests that arrived while queue-length requests (the advertised buffer count) were already held.", d => d.Counters.QueueStalls),
        new("queue_over", Counter, "requests", "Requests held beyond the advertised buffer count (queue-length) and still served.", d => d.Counters.QueueOver),
        new("oversized_drops", Counter, "requests", "Requests dropped because they asked for more than a queue slot holds.", d => d.Counters.Oversized),
        new("reply_drops", Counter, "replies", "Replies of completed requests that could not be sent (their interface went away).", d => d.Counters.ReplyDrops),
        new("state_save_failures", Counter, "saves", "Saves of the AoE state (config string, mask, reserve) that failed; retried with the next change.", d => d.Counters.StateSaveFailures),
        new("folded_retransmits", Counter, "requests", "Frames repeating, byte for byte, a request still queued or at the disk (a retransmit): answered, each under its own tag, by that request's one I/O.", d => d.Counters.FoldedRetransmits),
        new("aoe_requests", Counter, "frames", "Frames addressed to this device and allowed to reach it.", d => d.Target.Counters.Requests),
        new("aoe_replies", Counter, "frames", "Replies built by the protocol engine without I/O (config, IDENTIFY, errors, ...).", d => d.Target.Counters.Replies),
        new("aoe_unanswered", Counter, "frames", "Accepted requests that got no reply (config test mismatch, reply too big).", d => d.Target.Counters.Unanswered),
        new("aoe_io_requests", Counter, "requests", "Reads, writes and flushes handed to the data path.", d => d.Target.Counters.IoRequests),
        new("aoe_denied", Counter, "frames", "Frames ignored by the access lists, the MAC mask list or a reservation.", d => d.Target.Counters.Denied),
        new("aoe_broadcast_ignored", Counter, "frames", "ATA commands sent to a broadcast shelf/slot, which are never served.", d => d.Target.Counters.BroadcastIgnored),
        new("queue_depth", Gauge, "requests", "Requests queued or at the kernel now.", d => d.Engine.QueueDepth, "depth"),
        new("queue_length", Gauge, "requests", "Configured queue-length: the buffer count advertised to initiators.", d => d.Config.QueueLength),
        new("queue_slots", Gauge, "requests", "Requests the device may hold at once: queue-length, or more up to a safety cap of one RX ring's worth of the largest requests.", d => d.Engine.QueueLength),
        new("direct_io", Gauge, "flag", "1 when the store is open with O_DIRECT.", d => d.Store.DirectIo ? 1 : 0),
        new("direct_io_refused", Gauge, "flag", "1 when direct-io = true but the file system or disk refused O_DIRECT: the store runs buffered (logged once at open).", d => d.Config.DirectIo && !d.Store.DirectIo ? 1 : 0),
        new("write_cache", Gauge, "flag", "1 when the write cache is on (writes answered when the kernel has them; FLUSH makes them durable), 0 when every answered write is durable.", d => d.Target.WriteCache ? 1 : 0),
        new("write_cache_pinned", Gauge, "flag", "1 when the configuration sets write-cache, so an initiator's SET FEATURES cannot change it.", d => d.Target.WriteCachePinned ? 1 : 0),
        new("replies_waiting", Gauge, "replies", "Answers of completed requests waiting in reply queues for a free TX frame now.", d => d.RepliesWaiting),
        new("faulted", Gauge, "flag", "1 when an internal failure put the device in error (stats shows why): its reads, writes and flushes are answered with ATA ABRT until ggaoectl reload reopens it.", d => d.Faulted ? 1 : 0),
    ]);

    public static readonly CounterScope<NetworkPort> Interface = new("interface", "interfaces", single: false,
    [
        new("mtu", Gauge, "bytes", "Link MTU.", p => p.Port.Mtu, "mtu"),
        new("sectors_per_request", Gauge, "sectors", "Sectors per request advertised on this interface (Query Config).", p => p.Aoe.MaxSectors),
        new("rx_frames", Gauge, "frames", "Frames in the RX ring (0 in send/recv mode).", p => p.Port.RxFrameCount),
        new("tx_frames", Gauge, "frames", "Frames in the TX ring (0 in send/recv mode).", p => p.Port.TxFrameCount),
        new("frames_in", Counter, "frames", "AoE frames received.", p => (long)p.Port.Counters.FramesIn, "frames-in"),
        new("bytes_in", Counter, "bytes", "AoE bytes received.", p => (long)p.Port.Counters.BytesIn),
        new("frames_out", Counter, "frames", "AoE frames sent.", p => (long)p.Port.Counters.FramesOut, "frames-out"),
        new("bytes_out", Counter, "bytes", "AoE bytes sent.", p => (long)p.Port.Counters.BytesOut),
        new("kernel_drops", Counter, "frames", "Frames the kernel dropped because the RX ring or socket queue was full.", p => (long)p.Port.Counters.KernelDrops, "kernel-drops"),
        new("kernel_packets", Counter, "frames", "Frames the kernel counted for the socket, drops included.", p => (long)p.Port.Counters.KernelPackets),
        new("tx_full_events", Counter, "events", "Times the TX ring had no free frame.", p => (long)p.Port.Counters.TxFullEvents, "tx-full"),
        new("tx_wrong_format", Counter, "frames", "TX frames the kernel rejected as malformed.", p => (long)p.Port.Counters.TxWrongFormat),
        new("tx_errors", Counter, "calls", "Sends that failed with an error other than \"try again\".", p => (long)p.Port.Counters.TxErrors),
        new("tx_again", Counter, "calls", "Sends the socket refused with EAGAIN (the frames wait for EPOLLOUT).", p => (long)p.Port.Counters.TxAgain),
        new("tx_no_buffers", Counter, "calls", "Sends refused with ENOBUFS (the qdisc is full): retried on a timer, not on EPOLLOUT.", p => (long)p.Port.Counters.TxNoBuffers),
        new("tx_dropped", Counter, "frames", "Queued frames dropped because the link went away.", p => (long)p.Port.Counters.TxDropped),
        new("rx_truncated", Counter, "frames", "Received frames longer than a ring frame, dropped.", p => (long)p.Port.Counters.RxTruncated),
        new("kicks", Counter, "calls", "send calls that flushed the TX ring.", p => (long)p.Port.Counters.Kicks),
        new("ignored_frames", Counter, "frames", "Frames that were no AoE request we could answer (too short, responses, group source MAC).", p => p.Counters.Ignored),
        new("no_device_frames", Counter, "frames", "Requests addressed to no device exported on this interface.", p => p.Counters.NoDevice),
        new("tx_full_reply_drops", Counter, "replies", "Replies without I/O lost because the TX ring was full (the initiator asks again).", p => p.Counters.TxFullDrops),
        new("deferred_replies", Counter, "replies", "I/O answers that waited in the reply queue for a free TX frame.", p => p.Counters.DeferredReplies),
        new("faulted", Gauge, "flag", "1 when an internal failure put the interface in error (stats shows why): not served until ggaoectl reload or a link change reopens it.", p => p.FaultReason != null ? 1 : 0),
        new("advertisements", Counter, "frames", "Unsolicited Query Config responses sent (at start, for a device or interface added or changed), one per recipient.", p => p.Counters.Advertisements),
    ]);

    public static readonly CounterScope<TargetDaemon> Daemon = new("daemon", "daemon", single: true,
    [
        new("turns", Counter, "turns", "Event loop turns.", t => t.Reactor.Turns),
        new("busy_poll_hits", Counter, "turns", "Turns whose events were found by busy polling instead of sleeping.", t => t.Reactor.BusyPollHits),
        new("busy_poll_misses", Counter, "turns", "Busy polls that ran out before an event came.", t => t.Reactor.BusyPollMisses),
        new("busy_poll_us", Gauge, "us", "Configured busy-poll time.", t => t.Config.Defaults.BusyPollMicroseconds),
        new("handler_failures", Counter, "failures", "Exceptions from an event handler, a device's or interface's end-of-turn work, or a reload, contained where they happened (logged; the device or interface concerned goes into error, a reload is refused).", t => t.HandlerFailures),
        new("devices_not_exported", Gauge, "devices", "Configured devices not exported because their backing store is missing or cannot be opened; stats lists each with the reason.", t => t.NotExported.Count),
    ]);

    /// <summary>Stopwatch ticks as whole microseconds.</summary>
    internal static long Microseconds(Int128 ticks) => (long)(ticks * 1_000_000 / Stopwatch.Frequency);
}
