using System;
using System.Collections.Generic;
using System.Text;
using Ggaoed.Daemon.Config;
using Ggaoed.Protocol;
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
            ? ApplyReloadContained(loaded)
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

    /// <summary>
    /// <see cref="ApplyReload"/> contains its own failures; this only makes sure the waiters hear an
    /// answer and the next reload can start, whatever happens.
    /// </summary>
    private (bool Ok, string Report) ApplyReloadContained(ConfigLoadResult loaded)
    {
        try
        {
            return ApplyReload(loaded);
        }
        catch (Exception e) when (HandlerFaults.IsContainable(e))
        {
            HandlerFailures++;
            Log.Error($"reload failed while it was put in force: {e}");
            return (false, $"reload failed while it was put in force: {e.Message}; see the log\n");
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
    /// Applies a freshly loaded configuration, all or nothing. A bad file changes nothing. Devices keep
    /// serving through a reload unless their identity changed (path, shelf.slot, direct-io, queue,
    /// delays) or they are in error: those are retired (in-flight I/O finishes and is answered) and
    /// reopened; everything else (ACLs, read-only, broadcast, interfaces, trace-io) is applied in place.
    /// First everything that can fail is prepared without touching what serves (devices and sockets
    /// opened and registered with the reactor: <see cref="PrepareReload"/>); then the change is committed
    /// with steps that cannot fail (<see cref="CommitReload"/>). A store that cannot be opened is not a
    /// failure (that device is "not exported", as at start); an unexpected exception while preparing is:
    /// what was prepared is closed, the previous configuration stays in force, and the report says
    /// where (file:line of the device) and why.
    /// </summary>
    /// <returns>(ok, a report of what changed or what is wrong)</returns>
    private (bool Ok, string Report) ApplyReload(ConfigLoadResult loaded)
    {
        var report = new StringBuilder();
        foreach (ConfigDiagnostic w in loaded.Warnings)
            if (!w.StoreUnavailable) // PrepareReload logs that device as not exported, with the reason
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
        var plan = new ReloadPlan();
        try
        {
            PrepareReload(next, plan);
        }
        catch (Exception e) when (HandlerFaults.IsContainable(e))
        {
            plan.Abandon(this);
            HandlerFailures++;
            string refusal = $"reload refused: {plan.Step}: {e.Message}; nothing was changed, still running the previous configuration";
            Log.Error($"{refusal} ({e})");
            report.Append(refusal).Append('\n');
            return (false, report.ToString());
        }
        CommitReload(next, plan, report);
        Log.Notice($"configuration reloaded from {_config.FileName}: {_devices.Count} device(s) on {PortCount} interface(s)");
        report.Append($"reloaded: {_devices.Count} device(s) on {PortCount} interface(s)\n");
        return (true, report.ToString());
    }

    /// <summary>What a reload will change, prepared but not yet in force.</summary>
    private sealed class ReloadPlan
    {
        /// <summary>What preparing was doing when it failed: the refusal names it (file:line and device, or interface).</summary>
        public string Step = "preparing";
        public readonly List<DeviceEntry> Retire = new();
        public readonly List<(DeviceEntry Old, DeviceEntry Fresh)> Reopen = new();
        public readonly List<(ExportedDevice Device, DeviceConfig Config)> Update = new();
        public readonly List<DeviceEntry> Add = new();
        public readonly Dictionary<string, string> NotExported = new(StringComparer.Ordinal);
        public readonly List<(PortEntry Port, string Why, string Note)> Detach = new();
        public readonly List<(PortEntry Port, string Note)> Attach = new();
        public readonly List<(NetworkPort Port, int MtuLimit)> MtuLimits = new();
        /// <summary>Report lines in order, logged once the plan is committed.</summary>
        public readonly List<(LogLevel Level, string Line)> Lines = new();

        /// <summary>Closes what was opened for a plan that will not be committed.</summary>
        public void Abandon(TargetDaemon daemon)
        {
            foreach ((DeviceEntry _, DeviceEntry fresh) in Reopen)
                daemon.Unregister(fresh);
            foreach (DeviceEntry fresh in Add)
                daemon.Unregister(fresh);
            foreach ((PortEntry port, string _) in Attach)
            {
                daemon._reactor.Remove(port.Token);
                port.Port.Dispose();
            }
        }
    }

    /// <summary>Opens what the new configuration needs; changes nothing that serves (see <see cref="ApplyReload"/>).</summary>
    private void PrepareReload(GgaoedConfig next, ReloadPlan plan)
    {
        if (next.Defaults.ControlSocket != _config.Defaults.ControlSocket || next.Defaults.PidFile != _config.Defaults.PidFile)
            plan.Lines.Add((LogLevel.Info, "control-socket and pid-file changes take effect after a restart"));

        var wanted = new Dictionary<string, DeviceConfig>(StringComparer.Ordinal);
        foreach (DeviceConfig dc in next.Devices)
            wanted[dc.Name] = dc;
        foreach (DeviceEntry e in _devices)
        {
            ExportedDevice d = e.Device;
            if (!wanted.Remove(d.Name, out DeviceConfig? dc))
            {
                plan.Retire.Add(e);
                plan.Lines.Add((LogLevel.Info, $"{d.Name}: removed"));
                continue;
            }
            plan.Step = $"{dc.Location}: {dc.Name}";
            _options.FaultInjector?.Invoke(FaultPoint.ReloadPrepareDevice, dc.Name);
            if (d.NeedsReopen(dc) || d.Faulted)
            {
                if (TryOpen(dc, next, out string? reason) is not ExportedDevice fresh)
                {
                    // The old store stays open and served: the device is still exported.
                    plan.Lines.Add((LogLevel.Error, NotExportedLine(dc, reason!)));
                    plan.Lines.Add((LogLevel.Info, $"{d.Name}: still serving {d.Config.Path} with the previous settings"));
                    continue;
                }
                plan.Reopen.Add((e, Register(fresh)));
                plan.Lines.Add((LogLevel.Info, $"{d.Name}: reopened"));
            }
            else if (!d.Config.HasSameSettings(dc))
            {
                plan.Update.Add((d, dc));
                plan.Lines.Add((LogLevel.Info, $"{d.Name}: updated"));
            }
        }
        foreach (DeviceConfig dc in next.Devices)
        {
            if (!wanted.ContainsKey(dc.Name))
                continue;
            plan.Step = $"{dc.Location}: {dc.Name}";
            _options.FaultInjector?.Invoke(FaultPoint.ReloadPrepareDevice, dc.Name);
            if (TryOpen(dc, next, out string? reason) is ExportedDevice fresh)
            {
                plan.Add.Add(Register(fresh));
                plan.Lines.Add((LogLevel.Info, $"{dc.Name}: added"));
                continue;
            }
            plan.NotExported[dc.Name] = reason!;
            plan.Lines.Add((LogLevel.Error, NotExportedLine(dc, reason!)));
        }

        var kept = new HashSet<string>(StringComparer.Ordinal);
        foreach (PortEntry p in _ports)
        {
            string name = p.Port.Name;
            plan.Step = "interface " + name;
            if (!next.IsInterfaceWanted(name))
            {
                plan.Detach.Add((p, "no longer in the configuration", $"{name}: detached"));
                continue;
            }
            if (p.Port.Port.Options != PortOptionsFor(name, next) || p.Port.FaultReason != null)
            {
                // Ring and buffer sizes are set when the socket is opened (and a port in error starts
                // afresh): the new socket opens beside the old, which closes when the plan is committed.
                string why = p.Port.FaultReason != null ? "reopened after an error: " + p.Port.FaultReason : "ring or buffer sizes changed";
                plan.Detach.Add((p, why, $"{name}: reopened"));
                kept.Add(name);
                if (TryOpenPort(name, next) is PortEntry fresh)
                    plan.Attach.Add((fresh, ""));
                continue;
            }
            kept.Add(name);
            int limit = MtuLimitFor(name, next);
            int mtu = Math.Min(p.Port.Port.Mtu, limit);
            if (mtu != p.Port.Aoe.Mtu)
            {
                plan.MtuLimits.Add((p.Port, limit));
                plan.Lines.Add((LogLevel.Info, $"{name}: MTU {mtu} ({AoeWire.MaxSectorsForMtu(mtu)} sectors per request)"));
            }
        }
        // Every wanted interface with a port is in kept (the loop above): the rest are new.
        foreach (string name in LinkNames())
        {
            if (!next.IsInterfaceWanted(name) || kept.Contains(name))
                continue;
            plan.Step = "interface " + name;
            if (TryOpenPort(name, next) is PortEntry fresh)
                plan.Attach.Add((fresh, $"{name}: attached"));
        }
    }

    /// <summary>Puts a prepared plan in force: list and field changes only, nothing that can fail.</summary>
    private void CommitReload(GgaoedConfig next, ReloadPlan plan, StringBuilder report)
    {
        foreach ((LogLevel level, string line) in plan.Lines)
        {
            Log.Write(level, line);
            report.Append(line).Append('\n');
        }
        foreach (DeviceEntry e in plan.Retire)
            RetireDevice(e);
        foreach ((DeviceEntry old, DeviceEntry fresh) in plan.Reopen)
        {
            RetireDevice(old);
            AddDevice(fresh);
        }
        foreach ((ExportedDevice d, DeviceConfig dc) in plan.Update)
            d.Update(dc);
        foreach (DeviceEntry fresh in plan.Add)
            AddDevice(fresh);
        _notExported.Clear();
        foreach (KeyValuePair<string, string> kv in plan.NotExported)
            _notExported[kv.Key] = kv.Value;

        _config = next;
        ApplyBusyPoll(next.Defaults);
        foreach ((PortEntry p, string why, string note) in plan.Detach)
        {
            DetachInterface(p, why);
            Note(report, note);
        }
        foreach ((NetworkPort p, int limit) in plan.MtuLimits)
            p.SetMtuLimit(limit);
        foreach ((PortEntry p, string note) in plan.Attach)
        {
            AttachPort(p);
            if (note.Length > 0)
                Note(report, note);
        }
        RefreshSizesOnReload(report);
        AssignDevicesToPorts();
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

    /// <summary>
    /// Opens a configured device, or says why it can't be (null, <paramref name="reason"/>): a store that is
    /// missing or cannot be opened is the machine's state, not a failure of the daemon. Changes nothing
    /// that serves; the caller records and logs the reason (<see cref="NotExportedLine"/>).
    /// </summary>
    private ExportedDevice? TryOpen(DeviceConfig dc, GgaoedConfig config, out string? reason)
    {
        if (dc.Unavailable != null)
        {
            reason = dc.Unavailable;
            return null;
        }
        try
        {
            reason = null;
            return OpenDevice(dc, config);
        }
        catch (Exception e) when (e is StorageException or SystemError or System.IO.IOException)
        {
            reason = $"cannot open {dc.Path}: {e.Message}";
            return null;
        }
    }

    private static string NotExportedLine(DeviceConfig dc, string reason)
        => $"{dc.Location}: {dc.Name}: not exported: {reason}; it is tried again on the next reload";
}
