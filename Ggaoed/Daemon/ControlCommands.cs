using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json;
using Ggaoed.Daemon.Config;
using Ggaoed.Network;
using Ggaoed.Protocol;
using Ggaoed.Storage;

namespace Ggaoed.Daemon;

/// <summary>
/// The daemon side of every ggaoectl command. Read commands answer in text (for people), "--json"
/// (for scripts) or, for stats, "--raw" (the flat "scope.counter value" lines ggaoectl monitor diffs).
/// Device arguments are names or glob patterns; none means all devices.
/// </summary>
internal sealed class ControlCommands : IControlCommands
{
    private readonly TargetDaemon _daemon;
    private readonly Dictionary<ExportedDevice, Snapshot> _deviceBaseline = new();
    private readonly Dictionary<string, PacketPortCounters> _portBaseline = new(StringComparer.Ordinal);

    private readonly record struct Snapshot(StorageCounters Storage, DeviceCounters Device);

    public ControlCommands(TargetDaemon daemon) => _daemon = daemon;

    public (bool Ok, string Reply) Execute(string[] words)
    {
        string command = words[0];
        bool json = false, raw = false;
        var patterns = new List<string>();
        for (int i = 1; i < words.Length; i++)
        {
            if (words[i] == "--json")
                json = true;
            else if (words[i] == "--raw")
                raw = true;
            else
                patterns.Add(words[i]);
        }
        List<ExportedDevice> devices = Select(patterns, out string? unmatched);
        // PACKET_STATISTICS resets on every read: fold it into the counters before anything reports them.
        foreach (NetworkPort p in _daemon.Ports)
            p.Port.ReadKernelStatistics();
        if (unmatched != null && command != "reload" && command != "metrics")
            return (false, $"no device matches '{unmatched}'\n");
        switch (command)
        {
            case "stats":
                return (true, raw ? RawStats(devices) : json ? StatsJson(devices) : StatsText(devices));
            case "metrics":
                return (true, Metrics());
            case "reload":
                return _daemon.Reload();
            case "show-config":
                return (true, ShowConfig(devices, json));
            case "show-macmask":
                return (true, ShowList(devices, json, mask: true));
            case "show-reserve":
                return (true, ShowList(devices, json, mask: false));
            case "clear-stats":
                foreach (ExportedDevice d in devices)
                {
                    _deviceBaseline[d] = new Snapshot(d.Engine.Counters, d.Counters);
                    d.Target.Counters.Reset();
                }
                if (patterns.Count == 0)
                    foreach (NetworkPort p in _daemon.Ports)
                        _portBaseline[p.Name] = p.Port.Counters;
                return (true, $"cleared statistics of {devices.Count} device(s)\n");
            case "clear-config":
                foreach (ExportedDevice d in devices)
                    d.Target.ClearConfigString();
                return (true, $"cleared the config string of {devices.Count} device(s)\n");
            case "clear-macmask":
                foreach (ExportedDevice d in devices)
                    d.Target.ClearMaskList();
                return (true, $"cleared the MAC mask list of {devices.Count} device(s)\n");
            case "clear-reserve":
                foreach (ExportedDevice d in devices)
                    d.Target.ClearReserveList();
                return (true, $"cleared the reserve list of {devices.Count} device(s)\n");
            default:
                return (false, $"unknown command '{command}'\n");
        }
    }

    private List<ExportedDevice> Select(List<string> patterns, out string? unmatched)
    {
        unmatched = null;
        var result = new List<ExportedDevice>();
        if (patterns.Count == 0)
        {
            result.AddRange(_daemon.Devices);
            return result;
        }
        foreach (string pattern in patterns)
        {
            bool any = false;
            foreach (ExportedDevice d in _daemon.Devices)
            {
                if (GlobPattern.IsMatch(pattern, d.Name))
                {
                    any = true;
                    if (!result.Contains(d))
                        result.Add(d);
                }
            }
            if (!any)
                unmatched ??= pattern;
        }
        return result;
    }

    // ---- counters -------------------------------------------------------------------------------------

    private readonly record struct DeviceFigures(
        long ReadRequests, long ReadSectors, long WriteRequests, long WriteSectors, long Flushes,
        long MergedRequests, long Iocbs, long SubmitCalls, long Errors, long QueueFullDrops, long ReplyDrops,
        int QueueDepth, long ImmediateReads, long FoldedRetransmits);

    private DeviceFigures Figures(ExportedDevice d)
    {
        StorageCounters s = d.Engine.Counters;
        DeviceCounters c = d.Counters;
        if (_deviceBaseline.TryGetValue(d, out Snapshot b))
        {
            s.ReadRequests -= b.Storage.ReadRequests;
            s.ReadSectors -= b.Storage.ReadSectors;
            s.WriteRequests -= b.Storage.WriteRequests;
            s.WriteSectors -= b.Storage.WriteSectors;
            s.Flushes -= b.Storage.Flushes;
            s.MergedRequests -= b.Storage.MergedRequests;
            s.IocbsSubmitted -= b.Storage.IocbsSubmitted;
            s.SubmitCalls -= b.Storage.SubmitCalls;
            s.Errors -= b.Storage.Errors;
            s.ImmediateReads -= b.Storage.ImmediateReads;
            c.QueueFullDrops -= b.Device.QueueFullDrops;
            c.ReplyDrops -= b.Device.ReplyDrops;
            c.FoldedRetransmits -= b.Device.FoldedRetransmits;
        }
        return new DeviceFigures(s.ReadRequests, s.ReadSectors, s.WriteRequests, s.WriteSectors, s.Flushes,
            s.MergedRequests, s.IocbsSubmitted, s.SubmitCalls, s.Errors, c.QueueFullDrops, c.ReplyDrops, d.Engine.QueueDepth,
            s.ImmediateReads, c.FoldedRetransmits);
    }

    private PacketPortCounters PortFigures(NetworkPort p)
    {
        PacketPortCounters c = p.Port.Counters;
        if (_portBaseline.TryGetValue(p.Name, out PacketPortCounters b))
        {
            c.FramesIn -= b.FramesIn;
            c.BytesIn -= b.BytesIn;
            c.FramesOut -= b.FramesOut;
            c.BytesOut -= b.BytesOut;
            c.KernelDrops -= b.KernelDrops;
            c.TxFullEvents -= b.TxFullEvents;
        }
        return c;
    }

    private string StatsText(List<ExportedDevice> devices)
    {
        var sb = new StringBuilder();
        sb.Append("device           target   reads    read-sect  writes   write-sect merged   iocbs    errors  qfull  depth engine\n");
        foreach (ExportedDevice d in devices)
        {
            DeviceFigures f = Figures(d);
            sb.Append(CultureInfo.InvariantCulture,
                $"{d.Name,-16} e{d.Config.Shelf}.{d.Config.Slot,-5} {f.ReadRequests,-8} {f.ReadSectors,-10} {f.WriteRequests,-8} {f.WriteSectors,-10} {f.MergedRequests,-8} {f.Iocbs,-8} {f.Errors,-7} {f.QueueFullDrops,-6} {f.QueueDepth,-5} {EngineChoice.Name(d.Engine.Kind)}\n");
        }
        sb.Append("\ninterface        mode      mtu    frames-in  frames-out kernel-drops tx-full\n");
        foreach (NetworkPort p in _daemon.Ports)
        {
            PacketPortCounters c = PortFigures(p);
            sb.Append(CultureInfo.InvariantCulture,
                $"{p.Name,-16} {p.Port.Mode,-9} {p.Port.Mtu,-6} {c.FramesIn,-10} {c.FramesOut,-10} {c.KernelDrops,-12} {c.TxFullEvents}\n");
        }
        return sb.ToString();
    }

    private string RawStats(List<ExportedDevice> devices)
    {
        var sb = new StringBuilder();
        foreach (ExportedDevice d in devices)
        {
            DeviceFigures f = Figures(d);
            string s = "device." + d.Name + ".";
            sb.Append(s).Append("read_requests ").Append(f.ReadRequests).Append('\n');
            sb.Append(s).Append("read_sectors ").Append(f.ReadSectors).Append('\n');
            sb.Append(s).Append("write_requests ").Append(f.WriteRequests).Append('\n');
            sb.Append(s).Append("write_sectors ").Append(f.WriteSectors).Append('\n');
            sb.Append(s).Append("merged_requests ").Append(f.MergedRequests).Append('\n');
            sb.Append(s).Append("immediate_reads ").Append(f.ImmediateReads).Append('\n');
            sb.Append(s).Append("errors ").Append(f.Errors).Append('\n');
            sb.Append(s).Append("queue_depth ").Append(f.QueueDepth).Append('\n');
            sb.Append(s).Append("io_engine ").Append(EngineChoice.Name(d.Engine.Kind)).Append('\n'); // not a number: monitor skips it
        }
        foreach (NetworkPort p in _daemon.Ports)
        {
            PacketPortCounters c = PortFigures(p);
            string s = "interface." + p.Name + ".";
            sb.Append(s).Append("frames_in ").Append(c.FramesIn).Append('\n');
            sb.Append(s).Append("frames_out ").Append(c.FramesOut).Append('\n');
            sb.Append(s).Append("drops ").Append(c.KernelDrops).Append('\n');
        }
        return sb.ToString();
    }

    private string StatsJson(List<ExportedDevice> devices)
    {
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("devices");
            foreach (ExportedDevice d in devices)
            {
                DeviceFigures f = Figures(d);
                w.WriteStartObject();
                w.WriteString("name", d.Name);
                w.WriteString("path", d.Config.Path);
                w.WriteNumber("shelf", d.Config.Shelf);
                w.WriteNumber("slot", d.Config.Slot);
                w.WriteNumber("size_bytes", d.Store.SizeBytes);
                w.WriteBoolean("read_only", d.Config.ReadOnly);
                w.WriteBoolean("direct_io", d.Store.DirectIo);
                w.WriteString("io_engine", EngineChoice.Name(d.Engine.Kind));
                w.WriteNumber("read_requests", f.ReadRequests);
                w.WriteNumber("read_sectors", f.ReadSectors);
                w.WriteNumber("write_requests", f.WriteRequests);
                w.WriteNumber("write_sectors", f.WriteSectors);
                w.WriteNumber("flushes", f.Flushes);
                w.WriteNumber("merged_requests", f.MergedRequests);
                w.WriteNumber("immediate_reads", f.ImmediateReads);
                w.WriteNumber("iocbs_submitted", f.Iocbs);
                w.WriteNumber("submit_calls", f.SubmitCalls);
                w.WriteNumber("errors", f.Errors);
                w.WriteNumber("queue_full_drops", f.QueueFullDrops);
                w.WriteNumber("reply_drops", f.ReplyDrops);
                w.WriteNumber("folded_retransmits", f.FoldedRetransmits);
                w.WriteNumber("queue_depth", f.QueueDepth);
                w.WriteNumber("queue_length", d.Config.QueueLength);
                AoeTargetCounters aoe = d.Target.Counters;
                w.WriteNumber("aoe_requests", aoe.Requests);
                w.WriteNumber("aoe_denied", aoe.Denied);
                w.WriteNumber("aoe_broadcast_ignored", aoe.BroadcastIgnored);
                w.WriteNumber("aoe_error_replies", aoe.AoeErrors);
                w.WriteNumber("ata_error_replies", aoe.AtaErrors);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("interfaces");
            foreach (NetworkPort p in _daemon.Ports)
            {
                PacketPortCounters c = PortFigures(p);
                w.WriteStartObject();
                w.WriteString("name", p.Name);
                w.WriteString("mode", p.Port.Mode.ToString().ToLowerInvariant());
                w.WriteNumber("mtu", p.Port.Mtu);
                w.WriteNumber("sectors_per_request", p.Aoe.MaxSectors);
                w.WriteNumber("rx_frames", p.Port.RxFrameCount);
                w.WriteNumber("tx_frames", p.Port.TxFrameCount);
                w.WriteNumber("frames_in", c.FramesIn);
                w.WriteNumber("bytes_in", c.BytesIn);
                w.WriteNumber("frames_out", c.FramesOut);
                w.WriteNumber("bytes_out", c.BytesOut);
                w.WriteNumber("kernel_drops", c.KernelDrops);
                w.WriteNumber("tx_full_events", c.TxFullEvents);
                w.WriteNumber("ignored_frames", p.Counters.Ignored);
                w.WriteNumber("no_device_frames", p.Counters.NoDevice);
                w.WriteNumber("tx_full_reply_drops", p.Counters.TxFullDrops);
                w.WriteNumber("deferred_replies", p.Counters.DeferredReplies);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            Reactor reactor = _daemon.Reactor;
            w.WriteStartObject("reactor");
            w.WriteNumber("turns", reactor.Turns);
            w.WriteNumber("busy_poll_us", _daemon.Config.Defaults.BusyPollMicroseconds);
            w.WriteNumber("busy_poll_hits", reactor.BusyPollHits);
            w.WriteNumber("busy_poll_misses", reactor.BusyPollMisses);
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    /// <summary>Prometheus text exposition format (version 0.0.4).</summary>
    private string Metrics()
    {
        var sb = new StringBuilder();
        void Family(string name, string type, string help)
            => sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

        var devices = new List<ExportedDevice>(_daemon.Devices);
        var figures = new List<DeviceFigures>();
        foreach (ExportedDevice d in devices)
            figures.Add(Figures(d));
        void DeviceMetric(string name, string type, string help, Func<DeviceFigures, long> value)
        {
            Family(name, type, help);
            for (int i = 0; i < devices.Count; i++)
                sb.Append(name).Append("{device=\"").Append(Escape(devices[i].Name)).Append("\",target=\"e")
                  .Append(devices[i].Config.Shelf).Append('.').Append(devices[i].Config.Slot).Append("\"} ")
                  .Append(value(figures[i])).Append('\n');
        }
        DeviceMetric("ggaoed_device_read_requests_total", "counter", "ATA read requests completed.", f => f.ReadRequests);
        DeviceMetric("ggaoed_device_read_sectors_total", "counter", "512-byte sectors read.", f => f.ReadSectors);
        DeviceMetric("ggaoed_device_write_requests_total", "counter", "ATA write requests completed.", f => f.WriteRequests);
        DeviceMetric("ggaoed_device_write_sectors_total", "counter", "512-byte sectors written.", f => f.WriteSectors);
        DeviceMetric("ggaoed_device_merged_requests_total", "counter", "Requests that shared an iocb with others.", f => f.MergedRequests);
        DeviceMetric("ggaoed_device_immediate_reads_total", "counter", "Reads served at once by pread, without AIO (buffered or in-memory stores).", f => f.ImmediateReads);
        DeviceMetric("ggaoed_device_iocbs_total", "counter", "iocbs handed to the kernel.", f => f.Iocbs);
        DeviceMetric("ggaoed_device_errors_total", "counter", "Requests that failed with an I/O error.", f => f.Errors);
        DeviceMetric("ggaoed_device_folded_retransmits_total", "counter", "Retransmits folded into the same request still at the disk.", f => f.FoldedRetransmits);
        DeviceMetric("ggaoed_device_queue_full_drops_total", "counter", "Requests dropped because the queue was full.", f => f.QueueFullDrops);
        DeviceMetric("ggaoed_device_queue_depth", "gauge", "Requests queued or in the kernel.", f => f.QueueDepth);
        Family("ggaoed_device_info", "gauge", "Always 1; the labels name the device's storage engine.");
        foreach (ExportedDevice d in devices)
            sb.Append("ggaoed_device_info{device=\"").Append(Escape(d.Name)).Append("\",io_engine=\"").Append(EngineChoice.Name(d.Engine.Kind)).Append("\"} 1\n");
        Family("ggaoed_device_denied_total", "counter", "Requests ignored by ACL, MAC mask or reservation.");
        foreach (ExportedDevice d in devices)
            sb.Append("ggaoed_device_denied_total{device=\"").Append(Escape(d.Name)).Append("\"} ").Append(d.Target.Counters.Denied).Append('\n');
        Family("ggaoed_device_ata_error_replies_total", "counter", "Requests answered with ATA error status.");
        foreach (ExportedDevice d in devices)
            sb.Append("ggaoed_device_ata_error_replies_total{device=\"").Append(Escape(d.Name)).Append("\"} ").Append(d.Target.Counters.AtaErrors).Append('\n');

        var ports = new List<NetworkPort>(_daemon.Ports);
        void PortMetric(string name, string type, string help, Func<PacketPortCounters, ulong> value)
        {
            Family(name, type, help);
            foreach (NetworkPort p in ports)
                sb.Append(name).Append("{interface=\"").Append(Escape(p.Name)).Append("\"} ").Append(value(PortFigures(p))).Append('\n');
        }
        PortMetric("ggaoed_interface_frames_in_total", "counter", "AoE frames received.", c => c.FramesIn);
        PortMetric("ggaoed_interface_frames_out_total", "counter", "AoE frames sent.", c => c.FramesOut);
        PortMetric("ggaoed_interface_bytes_in_total", "counter", "AoE bytes received.", c => c.BytesIn);
        PortMetric("ggaoed_interface_bytes_out_total", "counter", "AoE bytes sent.", c => c.BytesOut);
        PortMetric("ggaoed_interface_kernel_drops_total", "counter", "Frames the kernel dropped (ring full).", c => c.KernelDrops);
        Family("ggaoed_interface_mtu", "gauge", "Link MTU.");
        foreach (NetworkPort p in ports)
            sb.Append("ggaoed_interface_mtu{interface=\"").Append(Escape(p.Name)).Append("\"} ").Append(p.Port.Mtu).Append('\n');
        return sb.ToString();
    }

    /// <summary>Runs <paramref name="write"/> against an indented JSON writer and returns the text.</summary>
    private static string Json(Action<Utf8JsonWriter> write)
    {
        var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            write(w);
        return Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length) + "\n";
    }

    private static string Escape(string label) => label.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    // ---- AoE state ------------------------------------------------------------------------------------

    private static string ShowConfig(List<ExportedDevice> devices, bool json)
    {
        if (json)
        {
            return Json(w =>
            {
                w.WriteStartArray();
                foreach (ExportedDevice d in devices)
                {
                    w.WriteStartObject();
                    w.WriteString("device", d.Name);
                    w.WriteString("config", Printable(d.Target.ConfigString));
                    w.WriteNumber("length", d.Target.ConfigLength);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
        }
        var sb = new StringBuilder();
        foreach (ExportedDevice d in devices)
            sb.Append(d.Name).Append(": ").Append(d.Target.ConfigLength == 0 ? "(empty)" : "\"" + Printable(d.Target.ConfigString) + "\"").Append('\n');
        return sb.ToString();
    }

    private static string ShowList(List<ExportedDevice> devices, bool json, bool mask)
    {
        if (json)
        {
            return Json(w =>
            {
                w.WriteStartArray();
                foreach (ExportedDevice d in devices)
                {
                    w.WriteStartObject();
                    w.WriteString("device", d.Name);
                    w.WriteStartArray(mask ? "macmask" : "reserve");
                    foreach (MacAddress m in (mask ? d.Target.MaskList : d.Target.ReserveList).AsSpan())
                        w.WriteStringValue(m.ToString());
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            });
        }
        var sb = new StringBuilder();
        foreach (ExportedDevice d in devices)
        {
            MacList list = mask ? d.Target.MaskList : d.Target.ReserveList;
            sb.Append(d.Name).Append(':');
            if (list.IsEmpty)
                sb.Append(mask ? " (empty: every MAC allowed)" : " (not reserved)");
            foreach (MacAddress m in list.AsSpan())
                sb.Append(' ').Append(m.ToString());
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The config string as text: printable ASCII kept, anything else as \xNN.</summary>
    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
        {
            if (b >= 0x20 && b < 0x7F && b != (byte)'\\')
                sb.Append((char)b);
            else
                sb.Append("\\x").Append(b.ToString("x2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }
}
