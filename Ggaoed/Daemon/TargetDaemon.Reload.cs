using System;
using System.Collections.Generic;
using System.Text;
using Ggaoed.Daemon.Config;
using Ggaoed.Network;
using Ggaoed.Storage;

namespace Ggaoed.Daemon;

internal sealed partial class TargetDaemon
{
    // A reload reads the file, resolves UUIDs (a superblock read from every block device) and stats
    // every path: on the background worker, so the loop goes on serving meanwhile. The outcome is
    // applied on the reactor thread. Requests that arrive while a load is under way are answered by
    // the NEXT load (the file may have changed after this one read it), so several quick reloads
    // cost at most two loads.
    private List<Action<bool, string>> _reloadWaiters = new();
    private List<Action<bool, string>> _reloadNextWaiters = new();
    private bool _reloadLoading;
    private bool _reloadAgain;

    /// <summary>
    /// Re-reads the configuration (SIGHUP, ggaoectl reload); <paramref name="done"/> (may be null) hears
    /// the outcome on the reactor thread once it is applied. See <see cref="ApplyReload"/>.
    /// </summary>
    public void StartReload(Action<bool, string>? done)
    {
        if (_reloadLoading)
        {
            _reloadAgain = true;
            if (done != null)
                _reloadNextWaiters.Add(done);
            return;
        }
        if (done != null)
            _reloadWaiters.Add(done);
        _reloadLoading = true;
        SdNotify.Send("RELOADING=1");
        _worker!.Post(new ConfigLoad(this, _config.FileName, _options.Strict));
    }

    private void OnConfigLoaded(ConfigLoadResult? loaded, Exception? failure)
    {
        (bool ok, string report) = _stopping
            ? (false, "reload not applied: the daemon is stopping\n")
            : loaded != null
            ? ApplyReload(loaded)
            : (false, $"reload refused: cannot load {_config.FileName}: {failure?.Message}; still running the previous configuration\n");
        if (loaded == null)
            Log.Error(report.TrimEnd());
        SdNotify.Send("READY=1");
        List<Action<bool, string>> waiters = _reloadWaiters;
        _reloadWaiters = _reloadNextWaiters;
        _reloadNextWaiters = new();
        _reloadLoading = false;
        foreach (Action<bool, string> w in waiters)
            w(ok, report);
        if (_reloadAgain)
        {
            _reloadAgain = false;
            StartReload(null);
        }
    }

    private sealed class ConfigLoad(TargetDaemon daemon, string file, bool strict) : BackgroundJob
    {
        private ConfigLoadResult? _loaded;

        protected internal override void Run()
        {
            ConfigLoadResult loaded = ConfigLoader.Load(file);
            _loaded = strict ? loaded.WithWarningsAsErrors() : loaded;
        }

        protected internal override void Complete() => daemon.OnConfigLoaded(_loaded, Failure);
    }

    /// <summary>
    /// Applies a freshly loaded configuration. A bad file changes nothing. Devices keep serving through
    /// a reload unless their identity changed (path, shelf.slot, direct-io, queue, delays): those are
    /// retired (in-flight I/O finishes and is answered) and reopened; everything else (ACLs, read-only,
    /// broadcast, interfaces, trace-io) is applied in place.
    /// </summary>
    /// <returns>(ok, a report of what changed or what is wrong)</returns>
    private (bool Ok, string Report) ApplyReload(ConfigLoadResult loaded)
    {
        var report = new StringBuilder();
        foreach (ConfigDiagnostic w in loaded.Warnings)
            Log.Warning(w.ToString());
        if (!loaded.Ok)
        {
            foreach (ConfigDiagnostic e in loaded.Errors)
            {
                Log.Error(e.ToString());
                report.Append(e).Append('\n');
            }
            string summary = $"reload refused: {loaded.Errors.Count} error(s) in {_config.FileName}; still running the previous configuration";
            Log.Error(summary);
            report.Append(summary).Append('\n');
            return (false, report.ToString());
        }
        GgaoedConfig next = loaded.Config!;
        if (next.Defaults.ControlSocket != _config.Defaults.ControlSocket || next.Defaults.PidFile != _config.Defaults.PidFile)
            Note(report, "control-socket and pid-file changes take effect after a restart");

        var wanted = new Dictionary<string, DeviceConfig>(StringComparer.Ordinal);
        foreach (DeviceConfig dc in next.Devices)
            wanted[dc.Name] = dc;

        foreach (ExportedDevice d in _devices.ToArray())
        {
            if (!wanted.TryGetValue(d.Name, out DeviceConfig? dc))
            {
                RetireDevice(d);
                Note(report, $"{d.Name}: removed");
            }
            else if (d.NeedsReopen(dc))
            {
                ExportedDevice? fresh = TryOpen(dc, report);
                if (fresh == null)
                {
                    // The old store stays open and served: the device is still exported.
                    _notExported.Remove(dc.Name);
                    Note(report, $"{d.Name}: still serving {d.Config.Path} with the previous settings");
                    wanted.Remove(d.Name);
                    continue;
                }
                RetireDevice(d);
                AddDevice(fresh);
                Note(report, $"{d.Name}: reopened");
            }
            else if (!d.Config.HasSameSettings(dc))
            {
                d.Update(dc);
                Note(report, $"{d.Name}: updated");
            }
            wanted.Remove(d.Name);
        }
        foreach (DeviceConfig dc in next.Devices)
        {
            if (!wanted.ContainsKey(dc.Name))
                continue;
            ExportedDevice? fresh = TryOpen(dc, report);
            if (fresh != null)
            {
                AddDevice(fresh);
                Note(report, $"{dc.Name}: added");
            }
        }

        foreach (string name in new List<string>(_notExported.Keys))
            if (next.FindDevice(name) == null)
                _notExported.Remove(name);
        _config = next;
        ApplyBusyPoll(next.Defaults);
        foreach (NetworkPort? p in _ports)
        {
            if (p == null)
                continue;
            if (!next.IsInterfaceWanted(p.Name))
            {
                DetachInterface(p, "no longer in the configuration");
                Note(report, $"{p.Name}: detached");
            }
            else if (p.Port.Options != PortOptionsFor(p.Name))
            {
                // Ring and buffer sizes are set when the socket is opened: reopen (attached again below).
                DetachInterface(p, "ring or buffer sizes changed");
                Note(report, $"{p.Name}: reopened");
            }
            else
            {
                int before = p.Aoe.Mtu;
                p.SetMtuLimit(MtuLimitFor(p.Name));
                if (p.Aoe.Mtu != before)
                    Note(report, $"{p.Name}: MTU {p.Aoe.Mtu} ({p.Aoe.MaxSectors} sectors per request)");
            }
        }
        foreach (string name in LinkNames())
            if (next.IsInterfaceWanted(name) && FindPort(name) == null && TryAttachInterface(name))
                Note(report, $"{name}: attached");
        RefreshSizesOnReload(report);
        AssignDevicesToPorts();
        Log.Notice($"configuration reloaded from {_config.FileName}: {_devices.Count} device(s) on {PortCount} interface(s)");
        report.Append($"reloaded: {_devices.Count} device(s) on {PortCount} interface(s)\n");
        return (true, report.ToString());
    }

    private static void Note(StringBuilder report, string line)
    {
        Log.Info(line);
        report.Append(line).Append('\n');
    }

    /// <summary>
    /// Devices of the configuration that are not exported, by name, with the reason: a backing store
    /// that is missing or cannot be opened stops only its own device (as in ggaoed 1.1), is shown by
    /// ggaoectl stats, and is tried again on every reload.
    /// </summary>
    private readonly Dictionary<string, string> _notExported = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, string> NotExported => _notExported;

    /// <summary>Opens a configured device, or records and logs why it is not exported (null).</summary>
    private ExportedDevice? TryOpen(DeviceConfig dc, StringBuilder? report)
    {
        string reason;
        if (dc.Unavailable != null)
        {
            reason = dc.Unavailable;
        }
        else
        {
            try
            {
                ExportedDevice device = OpenDevice(dc);
                _notExported.Remove(dc.Name);
                return device;
            }
            catch (Exception e) when (e is StorageException or SystemError or System.IO.IOException)
            {
                reason = $"cannot open {dc.Path}: {e.Message}";
            }
        }
        _notExported[dc.Name] = reason;
        string line = $"{dc.Location}: {dc.Name}: not exported: {reason}; it is tried again on the next reload";
        Log.Error(line);
        report?.Append(line).Append('\n');
        return null;
    }
}
