using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Ggaoed.Daemon.Config;
using Ggaoed.Network;
using Ggaoed.Protocol;

namespace Ggaoed.Daemon;

/// <summary>
/// The daemon side of every ggaoectl command. Read commands answer in text (for people), "--json"
/// (for scripts) or, for stats, "--raw" (the flat "scope.owner.counter value" lines ggaoectl monitor
/// diffs); every counter format comes from <see cref="CounterTable"/> through <see cref="CounterReport"/>.
/// Arguments are names or glob patterns: of devices and interfaces for stats, metrics and clear-stats,
/// of devices for the AoE state commands; none means all.
/// </summary>
internal sealed class ControlCommands : IControlCommands
{
    private readonly TargetDaemon _daemon;
    private readonly CounterBaselines _baselines = new();

    public ControlCommands(TargetDaemon daemon) => _daemon = daemon;

    /// <summary>Commands that change nothing: any client that can connect may run them (see <see cref="ControlAccess"/>).</summary>
    public IReadOnlyList<string> ReadOnlyCommands { get; } = ["stats", "metrics", "show-config", "show-macmask", "show-reserve"];

    /// <summary>reload answers once the file was read off the loop and applied (TargetDaemon.StartReload).</summary>
    public bool TryStart(string[] words, Action<bool, string> answer)
    {
        if (words[0] != "reload")
            return false;
        _daemon.StartReload(answer);
        return true;
    }

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
        // PACKET_STATISTICS resets on every read: fold it into the counters before anything reports them.
        foreach (NetworkPort p in _daemon.Ports)
            p.Port.ReadKernelStatistics();
        switch (command)
        {
            case "stats":
            case "metrics":
            case "clear-stats":
            {
                if (!TrySelectCounterOwners(patterns, out Selection selection, out string? unmatched))
                    return (false, $"no device or interface matches '{unmatched}'\n");
                if (command == "clear-stats")
                    return (true, ClearStats(selection));
                List<CounterSection> report = Report(selection);
                List<KeyValuePair<string, string>> notExported = NotExported(patterns);
                return (true, command == "metrics" ? CounterReport.Metrics(report)
                    : raw ? CounterReport.Raw(report)
                    : json ? CounterReport.Json(report, w => NotExportedJson(w, notExported))
                    : CounterReport.Text(report) + NotExportedText(notExported) + FaultText(selection));
            }
        }
        List<ExportedDevice> devices = SelectDevices(patterns, out string? noDevice);
        if (noDevice != null)
            return (false, $"no device matches '{noDevice}'\n");
        switch (command)
        {
            case "show-config":
                return (true, ShowConfig(devices, json));
            case "show-macmask":
                return (true, ShowList(devices, json, mask: true));
            case "show-reserve":
                return (true, ShowList(devices, json, mask: false));
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

    private List<ExportedDevice> SelectDevices(List<string> patterns, out string? unmatched)
    {
        List<ExportedDevice> devices = Matching(_daemon.Devices, patterns, d => d.Name);
        unmatched = FirstUnmatched(patterns, devices.ConvertAll(d => d.Name));
        return devices;
    }

    /// <summary>The items whose name matches one of the patterns; all of them when there are none.</summary>
    private static List<T> Matching<T>(IEnumerable<T> items, List<string> patterns, Func<T, string> name)
    {
        var result = new List<T>();
        foreach (T item in items)
        {
            bool match = patterns.Count == 0;
            foreach (string pattern in patterns)
                match |= GlobPattern.IsMatch(pattern, name(item));
            if (match)
                result.Add(item);
        }
        return result;
    }

    /// <summary>The first pattern that matches none of <paramref name="names"/>, or null.</summary>
    private static string? FirstUnmatched(List<string> patterns, List<string> names)
    {
        foreach (string pattern in patterns)
            if (!names.Exists(n => GlobPattern.IsMatch(pattern, n)))
                return pattern;
        return null;
    }

    // ---- counters -------------------------------------------------------------------------------------

    /// <summary>Who a counter command covers. Without patterns: every device and interface and the
    /// daemon itself; with patterns, the devices and interfaces whose names match one.</summary>
    private readonly record struct Selection(List<ExportedDevice> Devices, List<NetworkPort> Ports, bool All);

    private bool TrySelectCounterOwners(List<string> patterns, out Selection selection, out string? unmatched)
    {
        List<ExportedDevice> devices = Matching(_daemon.Devices, patterns, d => d.Name);
        List<NetworkPort> ports = Matching(_daemon.Ports, patterns, p => p.Name);
        selection = new Selection(devices, ports, patterns.Count == 0);
        var names = devices.ConvertAll(d => d.Name);
        names.AddRange(ports.ConvertAll(p => p.Name));
        names.AddRange(NotExported(patterns).ConvertAll(kv => kv.Key));
        unmatched = FirstUnmatched(patterns, names);
        return unmatched == null;
    }

    private string ClearStats(Selection s)
    {
        foreach (ExportedDevice d in s.Devices)
            _baselines.Clear(CounterTable.Device, d);
        foreach (NetworkPort p in s.Ports)
            _baselines.Clear(CounterTable.Interface, p);
        if (s.All)
            _baselines.Clear(CounterTable.Daemon, _daemon);
        return $"cleared statistics of {s.Devices.Count} device(s) and {s.Ports.Count} interface(s)\n";
    }

    /// <summary>Configured devices that are not exported (name, reason), matching the patterns.</summary>
    private List<KeyValuePair<string, string>> NotExported(List<string> patterns)
    {
        List<KeyValuePair<string, string>> list = Matching(_daemon.NotExported, patterns, kv => kv.Key);
        list.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return list;
    }

    private static string NotExportedText(List<KeyValuePair<string, string>> devices)
    {
        if (devices.Count == 0)
            return "";
        var sb = new StringBuilder("\nnot exported (tried again on every reload):\n");
        foreach (KeyValuePair<string, string> kv in devices)
            sb.Append("  ").Append(kv.Key).Append(": ").Append(kv.Value).Append('\n');
        return sb.ToString();
    }

    /// <summary>The devices and interfaces in error (HandlerFaults), each with the reason: what the faulted gauge means.</summary>
    private static string FaultText(Selection s)
    {
        var sb = new StringBuilder();
        foreach (ExportedDevice d in s.Devices)
            if (d.FaultReason is string reason)
                sb.Append("  device ").Append(d.Name).Append(": ").Append(reason).Append('\n');
        foreach (NetworkPort p in s.Ports)
            if (p.FaultReason is string reason)
                sb.Append("  interface ").Append(p.Name).Append(": ").Append(reason).Append('\n');
        return sb.Length == 0 ? "" : "\nin error after an internal failure ('ggaoectl reload' reopens them):\n" + sb;
    }

    private static void NotExportedJson(Utf8JsonWriter w, List<KeyValuePair<string, string>> devices)
    {
        w.WriteStartArray("not_exported");
        foreach (KeyValuePair<string, string> kv in devices)
        {
            w.WriteStartObject();
            w.WriteString("name", kv.Key);
            w.WriteString("reason", kv.Value);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>Reads the selected owners' counters once; every format is generated from this.</summary>
    private List<CounterSection> Report(Selection s)
    {
        // Both lists are always there (JSON readers can rely on the keys), empty when nothing matched.
        var sections = new List<CounterSection>
        {
            new(CounterTable.Device, s.Devices.ConvertAll(DeviceOwner), ["target", "engine"]),
            new(CounterTable.Interface, s.Ports.ConvertAll(PortOwner), ["mode"]),
        };
        if (s.All)
            sections.Add(new CounterSection(CounterTable.Daemon, [new CounterOwner("ggaoed", _baselines.Read(CounterTable.Daemon, _daemon))]));
        return sections;
    }

    private CounterOwner DeviceOwner(ExportedDevice d)
    {
        string target = $"e{d.Config.Shelf}.{d.Config.Slot}";
        string engine = EngineChoice.Name(d.Engine.Kind);
        return new CounterOwner(d.Name, _baselines.Read(CounterTable.Device, d))
        {
            SummaryInfo = [target, engine],
            Labels = [("target", target)],
            InfoLabels = [("io_engine", engine)],
            JsonInfo = w =>
            {
                w.WriteString("path", d.Config.Path);
                w.WriteString("io_engine", engine);
                w.WriteNumber("shelf", d.Config.Shelf);
                w.WriteNumber("slot", d.Config.Slot);
                w.WriteNumber("size_bytes", d.Store.SizeBytes);
                w.WriteBoolean("read_only", d.Config.ReadOnly);
                w.WriteString("fault", d.FaultReason); // null while the device is well
            },
        };
    }

    private CounterOwner PortOwner(NetworkPort p)
    {
        string mode = p.Port.Mode.ToString().ToLowerInvariant();
        return new CounterOwner(p.Name, _baselines.Read(CounterTable.Interface, p))
        {
            SummaryInfo = [mode],
            JsonInfo = w =>
            {
                w.WriteString("mode", mode);
                w.WriteString("fault", p.FaultReason); // null while the interface is well
            },
        };
    }

    // ---- AoE state ------------------------------------------------------------------------------------

    private static string ShowConfig(List<ExportedDevice> devices, bool json)
    {
        if (json)
        {
            return CounterReport.JsonText(w =>
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
            return CounterReport.JsonText(w =>
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
