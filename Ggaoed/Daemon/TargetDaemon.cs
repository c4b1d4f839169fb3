using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using Ggaoed.Daemon.Config;
using Ggaoed.Native;
using Ggaoed.Network;
using Ggaoed.Protocol;
using Ggaoed.Storage;

namespace Ggaoed.Daemon;

/// <summary>
/// The running target: owns the reactor and everything registered in it (packet ports, AIO eventfds,
/// the merge-delay timerfd, the wake eventfd for signals, the control socket), the exported devices and
/// the interfaces they are served on. Everything here runs on the reactor thread; the only other threads
/// are the runtime's signal dispatcher, which just sets a flag and signals the wake eventfd.
/// </summary>
internal sealed partial class TargetDaemon : ITurnHandler, IBusyPollAdvisor, IDisposable
{
    /// <summary>
    /// Slot buffers are sized for this MTU at least (17 sectors at 9000): enough for every jumbo-frame
    /// request, and an MTU raised later can't make a request bigger than a slot (the AoE MTU we
    /// advertise is capped to it).
    /// </summary>
    private const int MinSlotMtu = 9000;

    /// <summary>Least time between two saves of one device's AoE state (see OnEndOfTurn).</summary>
    private const long StateSaveIntervalNanos = 1_000_000_000;

    /// <summary>How long a graceful stop waits for in-flight I/O before giving up on it.</summary>
    private const long ShutdownDrainNanos = 10_000_000_000;

    private readonly DaemonOptions _options;
    private GgaoedConfig _config;
    private readonly Reactor _reactor = new();
    private readonly EventFd _wake = new();
    private readonly TimerFd _timer = new();
    private PidFile? _pidFile;
    private ControlServer? _control;
    private readonly List<ExportedDevice> _devices = new();
    private readonly List<ExportedDevice> _retiring = new();
    private NetworkPort?[] _ports = new NetworkPort?[16];
    private int _portGeneration;
    private ExportedDevice[] _dirtyDevices = new ExportedDevice[16];
    private int _dirtyDeviceCount;
    private NetworkPort[] _dirtyPorts = new NetworkPort[16];
    private int _dirtyPortCount;
    private readonly int _slotMtu;
    private readonly int _slotBytes;
    private int _reloadRequested;
    private int _stopRequested;
    private readonly List<PosixSignalRegistration> _signals = new();
    private WakeHandler? _wakeHandler;
    private TimerHandler? _timerHandler;
    private bool _stopping;
    private BackgroundWorker? _worker;

    /// <summary>How long a graceful stop waits for state saves still running on the worker.</summary>
    private const int ShutdownSaveWaitMs = 10_000;
    private UringSupport? _uring;
    private bool _uringFallbackLogged;

    public TargetDaemon(GgaoedConfig config, DaemonOptions options)
    {
        _config = config;
        _options = options;
        int maxMtu = MinSlotMtu;
        foreach (InterfaceConfig ic in config.InterfaceGroups)
            if (ic.Mtu is int m && m > maxMtu)
                maxMtu = m;
        _slotMtu = maxMtu;
        _slotBytes = AoeWire.MaxSectorsForMtu(_slotMtu) * Sector.Size;
    }

    public string StateDirectory => _config.Defaults.StateDirectory;

    /// <summary>Whether io_uring works here: probed on first need (or given by a test through <see cref="DaemonOptions.UringSupport"/>).</summary>
    public UringSupport Uring => _uring ??= _options.UringSupport ?? UringSupport.Current;

    public Reactor Reactor => _reactor;

    private void ApplyBusyPoll(DefaultsConfig d)
        => _reactor.BusyPollTicks = d.BusyPollMicroseconds * System.Diagnostics.Stopwatch.Frequency / 1_000_000;

    /// <summary>Busy polling pays off only while the kernel owes us a completion.</summary>
    public bool ExpectsEventSoon
    {
        get
        {
            for (int i = 0; i < _devices.Count; i++)
                if (_devices[i].Engine.InFlightCount > 0)
                    return true;
            for (int i = 0; i < _retiring.Count; i++)
                if (_retiring[i].Engine.InFlightCount > 0)
                    return true;
            return false;
        }
    }
    public IReadOnlyList<ExportedDevice> Devices => _devices;
    public GgaoedConfig Config => _config;

    /// <summary>Entry point of the foreground daemon; returns the process exit status.</summary>
    public static int Run(GgaoedConfig config, DaemonOptions options)
    {
        // A detaching child reports start-up errors to its parent over the readiness socket, which
        // prints them; its own messages go to syslog from the start so nothing is printed twice.
        if (options.Detaching)
            Log.UseSyslog();
        using var daemon = new TargetDaemon(config, options);
        try
        {
            daemon.Start();
        }
        catch (Exception e) when (e is SystemError or StorageException or NetworkException or IOException or UnauthorizedAccessException)
        {
            string message = "cannot start: " + e.Message;
            Log.Error(message);
            options.ReportToParent("ERROR=ggaoed: " + message + "\n");
            return DaemonMain.ExitFailure;
        }
        if (options.Detaching)
        {
            options.ReportToParent("READY=1");
            Daemonizer.DetachFromTerminal();
        }
        SdNotify.Send($"READY=1\nSTATUS=serving {daemon._devices.Count} device(s)\nMAINPID={Environment.ProcessId}");
        Log.Notice($"ggaoed {Program.Version} ready: {daemon._devices.Count} device(s) on {daemon.PortCount} interface(s)");
        daemon._reactor.Run();
        daemon.Shutdown();
        return DaemonMain.ExitOk;
    }

    /// <summary>Sets everything up; throws (with a message naming the file or device) when it can't.</summary>
    public void Start()
    {
        Defaults d = new(_config.Defaults);
        _pidFile = PidFile.TryAcquire(d.PidFile, out string? pidError) ?? throw new SystemError(pidError!);
        // Before any device or interface is touched: another daemon answering on this socket (with its
        // own pid file) stops this start here. Requests wait in the backlog until the loop runs.
        _control = new ControlServer(_reactor, d.ControlSocket, new ControlCommands(this));
        try
        {
            Directory.CreateDirectory(d.StateDirectory);
        }
        catch (IOException e)
        {
            Log.Warning($"state directory {d.StateDirectory} can't be created ({e.Message}); AoE config strings, mask and reserve lists won't survive a restart");
        }

        _wakeHandler = new WakeHandler(this);
        _reactor.Add(_wake.Fd, Libc.EPOLLIN, _wakeHandler);
        _worker = new BackgroundWorker();
        _reactor.Add(_worker.Fd, Libc.EPOLLIN, _worker);
        _timerHandler = new TimerHandler(this);
        _reactor.Add(_timer.Fd, Libc.EPOLLIN, _timerHandler);
        _reactor.AddTurnHandler(this);
        _reactor.PollAdvisor = this;
        ApplyBusyPoll(_config.Defaults);

        foreach (DeviceConfig dc in _config.Devices)
            if (TryOpen(dc, null) is ExportedDevice device)
                AddDevice(device);

        StartLinkMonitor();
        foreach (string name in LinkNames())
            if (_config.IsInterfaceWanted(name))
                TryAttachInterface(name);
        AssignDevicesToPorts();

        RegisterSignal(PosixSignal.SIGHUP, ref _reloadRequested);
        RegisterSignal(PosixSignal.SIGTERM, ref _stopRequested);
        RegisterSignal(PosixSignal.SIGINT, ref _stopRequested);
        // ggaoed 1.1 stops cleanly on SIGQUIT too; without this the runtime's default kills us (exit
        // 131) and leaves the pid file and the control socket behind.
        RegisterSignal(PosixSignal.SIGQUIT, ref _stopRequested);
    }

    private readonly record struct Defaults(string PidFile, string StateDirectory, string ControlSocket)
    {
        public Defaults(DefaultsConfig c) : this(c.PidFile, c.StateDirectory, c.ControlSocket) { }
    }

    private void RegisterSignal(PosixSignal signal, ref int flag)
    {
        // The handler runs on the runtime's signal thread: set the flag, wake the loop, and cancel the
        // default action (terminating) so the stop is graceful.
        bool isReload = signal == PosixSignal.SIGHUP;
        _signals.Add(PosixSignalRegistration.Create(signal, ctx =>
        {
            ctx.Cancel = true;
            if (isReload)
                Interlocked.Exchange(ref _reloadRequested, 1);
            else
                Interlocked.Exchange(ref _stopRequested, 1);
            _wake.Signal();
        }));
    }

    public int PortCount
    {
        get
        {
            int n = 0;
            foreach (NetworkPort? p in _ports)
                if (p != null)
                    n++;
            return n;
        }
    }

    public IEnumerable<NetworkPort> Ports
    {
        get
        {
            foreach (NetworkPort? p in _ports)
                if (p != null)
                    yield return p;
        }
    }

    // ---- devices -------------------------------------------------------------------------------------

    private ExportedDevice OpenDevice(DeviceConfig dc)
    {
        EngineKind engine = dc.IoEngine == IoEngineSetting.Aio ? EngineKind.Aio : EngineChoice.Resolve(dc.Name, dc.IoEngine, Uring);
        if (dc.IoEngine == IoEngineSetting.Auto && engine == EngineKind.Aio && !_uringFallbackLogged)
        {
            _uringFallbackLogged = true;
            Log.Warning($"io_uring is not available ({Uring.Reason}); devices with io-engine = auto use Linux AIO, " +
                        "which reads and writes buffered files inside io_submit, stalling every device meanwhile: prefer direct-io = true");
        }
        var device = new ExportedDevice(this, dc, _slotBytes, engine, PredecessorOf(dc.Path));
        if (device.Store.Fallback != DirectIoFallback.None)
            Log.Warning($"{dc.Name}: {dc.Path}: direct-io = true, but {device.Store.FallbackReason}; using buffered I/O (ggaoectl stats shows direct_io_refused 1)");
        if (device.Store.ClaimProblem != null)
            Log.Warning($"{dc.Name}: {device.Store.ClaimProblem}");
        LoadState(device);
        return device;
    }

    /// <summary>The open store a reload's reopen of <paramref name="path"/> replaces (its claim is handed over).</summary>
    private BackingStore? PredecessorOf(string path)
    {
        foreach (ExportedDevice d in _devices)
            if (d.Store.IsSame(path))
                return d.Store;
        foreach (ExportedDevice d in _retiring)
            if (d.Store.IsSame(path))
                return d.Store;
        return null;
    }

    private void AddDevice(ExportedDevice device)
    {
        _devices.Add(device);
        // Edge-triggered (the engine is told so): reaping never has to read the eventfd, and
        // ExportedDevice.Submit may reap right after io_submit without leaving a level-triggered
        // eventfd armed behind it.
        device.ReactorToken = _reactor.Add(device.Engine.EventFd, Libc.EPOLLIN | Libc.EPOLLET, device);
        Log.Info($"{device.Name}: exporting {device.Config.Path} as e{device.Config.Shelf}.{device.Config.Slot} " +
                 $"({device.Store.SizeBytes} bytes{(device.Config.ReadOnly ? ", read-only" : "")}{(device.Store.DirectIo ? ", direct I/O" : "")}, {EngineChoice.Name(device.Engine.Kind)})");
    }

    /// <summary>Stops taking requests for a device; it is closed once its in-flight I/O has finished.</summary>
    private void RetireDevice(ExportedDevice device)
    {
        device.Retiring = true;
        _devices.Remove(device);
        SaveState(device);
        _retiring.Add(device);
    }

    private void CloseRetiredDevices()
    {
        for (int i = _retiring.Count - 1; i >= 0; i--)
        {
            ExportedDevice d = _retiring[i];
            if (d.Engine.QueueDepth != 0 || d.DeferredReplies != 0)
                continue;
            _reactor.Remove(d.ReactorToken);
            d.Dispose();
            _retiring.RemoveAt(i);
            Log.Info($"{d.Name}: no longer exported");
        }
    }

    public void MarkDirty(ExportedDevice device)
    {
        if (device.Dirty)
            return;
        device.Dirty = true;
        if (_dirtyDeviceCount == _dirtyDevices.Length)
            Array.Resize(ref _dirtyDevices, _dirtyDeviceCount * 2);
        _dirtyDevices[_dirtyDeviceCount++] = device;
    }

    public void MarkDirty(NetworkPort port)
    {
        if (port.Dirty)
            return;
        port.Dirty = true;
        if (_dirtyPortCount == _dirtyPorts.Length)
            Array.Resize(ref _dirtyPorts, _dirtyPortCount * 2);
        _dirtyPorts[_dirtyPortCount++] = port;
    }

    // ---- interfaces ----------------------------------------------------------------------------------

    private static unsafe List<string> ListInterfaces()
    {
        // Asked over netlink (if_nameindex), so the list is that of the daemon's own network namespace.
        // /sys/class/net shows the namespace of whoever mounted sysfs: a daemon started with
        // `nsenter --net` or systemd's NetworkNamespacePath= would see the host's interfaces there.
        var names = new List<string>();
        if_nameindex* list = Libc.if_nameindex();
        if (list == null)
        {
            Log.Warning($"cannot list network interfaces: {ErrnoText.Describe(Marshal.GetLastPInvokeError())}");
            return names;
        }
        for (if_nameindex* e = list; e->if_index != 0; e++)
            names.Add(Marshal.PtrToStringUTF8((nint)e->if_name)!);
        Libc.if_freenameindex(list);
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    public NetworkPort? FindPort(string name)
    {
        foreach (NetworkPort? p in _ports)
            if (p != null && p.Name == name)
                return p;
        return null;
    }

    /// <summary>Resolves a reply's port; null when that interface went away since the request came in.</summary>
    public NetworkPort? PortById(int id, int generation)
    {
        if ((uint)id >= (uint)_ports.Length)
            return null;
        NetworkPort? p = _ports[id];
        return p != null && p.Generation == generation ? p : null;
    }

    private bool TryAttachInterface(string name)
    {
        if (FindPort(name) != null)
            return true;
        PacketPort port;
        try
        {
            port = PacketPort.Open(name, PortOptionsFor(name));
        }
        catch (NetworkException e)
        {
            Log.Warning($"{name}: not serving on this interface: {e.Message}");
            return false;
        }
        int id = Array.IndexOf(_ports, null);
        if (id < 0)
        {
            id = _ports.Length;
            Array.Resize(ref _ports, id * 2);
        }
        var np = new NetworkPort(this, port, id, ++_portGeneration, MtuLimitFor(name));
        _ports[id] = np;
        np.ReactorToken = _reactor.Add(port.Fd, Libc.EPOLLIN, np);
        if (port.Mode == PacketPortMode.Fallback)
            Log.Warning($"{name}: packet rings unavailable ({port.FallbackReason}); using send/recv");
        Log.Info($"{name}: serving AoE (MTU {port.Mtu}, {np.Aoe.MaxSectors} sectors per request, {port.Mode})");
        return true;
    }

    private PacketPortOptions PortOptionsFor(string name)
    {
        EffectiveInterfaceSettings s = _config.ForInterface(name);
        return new PacketPortOptions
        {
            RingBufferSizeKiB = s.RingBufferSizeKiB,
            SendBufferSizeKiB = s.SendBufferSizeKiB,
            ReceiveBufferSizeKiB = s.ReceiveBufferSizeKiB,
        };
    }

    /// <summary>The most the AoE view of an interface may use: its config mtu, within the slot buffers.</summary>
    private int MtuLimitFor(string name) => Math.Min(_slotMtu, _config.ForInterface(name).Mtu ?? int.MaxValue);

    private void DetachInterface(NetworkPort port, string why)
    {
        _reactor.Remove(port.ReactorToken);
        _ports[port.Id] = null;
        port.Dispose();
        Log.Info($"{port.Name}: no longer serving ({why})");
    }

    private void AssignDevicesToPorts()
    {
        foreach (NetworkPort? p in _ports)
        {
            if (p == null)
                continue;
            var list = new List<ExportedDevice>();
            foreach (ExportedDevice d in _devices)
                if (d.Config.IsExportedOn(p.Name))
                    list.Add(d);
            p.SetDevices(list.ToArray());
        }
    }

    /// <summary>A link appeared, changed or went away (netlink). <paramref name="mac"/>: null when not reported.</summary>
    internal void OnLinkChanged(string name, bool exists, bool up, int mtu, MacBytes? mac = null)
    {
        NetworkPort? port = FindPort(name);
        if (!exists || !up)
        {
            if (port != null)
                DetachInterface(port, exists ? "link down" : "link removed");
            return;
        }
        if (!_config.IsInterfaceWanted(name))
            return;
        if (port != null)
        {
            switch (port.Port.ApplyLinkChange(mac ?? port.Port.Mac, mtu))
            {
                case LinkChange.NeedsReopen:
                    // Frames are laid out for the MTU at open time: reopen for the larger one.
                    DetachInterface(port, $"MTU changed to {mtu}");
                    port = null;
                    break;
                case LinkChange.Applied:
                    // A new MAC (replies come from it, unicast requests go to it) or an MTU that still fits.
                    port.SetMtuLimit(MtuLimitFor(name));
                    Log.Info($"{name}: now MAC {new MacAddress(port.Port.Mac.Value)}, MTU {port.Port.Mtu} ({port.Aoe.MaxSectors} sectors per request)");
                    break;
            }
        }
        if (port == null && TryAttachInterface(name))
            AssignDevicesToPorts();
    }

    // ---- the loop ------------------------------------------------------------------------------------

    public void OnEndOfTurn()
    {
        for (int i = 0; i < _dirtyDeviceCount; i++)
        {
            ExportedDevice d = _dirtyDevices[i];
            d.Dirty = false;
            _dirtyDevices[i] = null!;
            d.Submit();
        }
        _dirtyDeviceCount = 0;

        long deadline = long.MaxValue;
        long now = 0;
        foreach (ExportedDevice d in _devices)
        {
            if (d.Engine.HasQueued)
                deadline = Math.Min(deadline, d.Engine.NextDeadlineNanos);
            if (d.Target.StateVersion == d.SavedStateVersion)
                continue;
            // AoE state changes (config string, mask, reserve) are saved on the background worker:
            // at once when rare, at most once per interval per device when an initiator floods edits,
            // so a stream of Mac Mask commands can't keep the disk busy with fsyncs.
            if (now == 0)
                now = TimerFd.NowNanos();
            long due = d.StateSavedAtNanos + StateSaveIntervalNanos;
            if (d.StateSavedAtNanos == 0 || now >= due)
                SaveState(d);
            else
                deadline = Math.Min(deadline, due);
        }
        foreach (ExportedDevice d in _retiring)
            if (d.Engine.HasQueued)
                deadline = Math.Min(deadline, d.Engine.NextDeadlineNanos);
        for (int i = 0; i < _dirtyPortCount; i++)
        {
            NetworkPort p = _dirtyPorts[i];
            p.Dirty = false;
            _dirtyPorts[i] = null!;
            if (_ports[p.Id] != p)
                continue;
            if (p.Port.HasUnkickedTx)
                p.Port.Kick();
            // The kick handed frames to the kernel; on veth they are free again at once.
            if (p.HasDeferredReplies && p.SendDeferredReplies() > 0)
                p.Port.Kick();
            if (p.Port.LinkError != 0)
            {
                // The interface vanished or went down under a send; netlink brings it back when it returns.
                DetachInterface(p, "send failed: " + ErrnoText.Describe(p.Port.LinkError));
                continue;
            }
            // EPOLLOUT only when the socket will tell us something: deferred replies wait for the same
            // TX frames. After ENOBUFS it reports writable at once, so that retry waits on the timer.
            uint want = (p.Receiving ? Libc.EPOLLIN : 0) | (p.Port.WantsWritable ? Libc.EPOLLOUT : 0);
            if (want != p.EpollMask)
            {
                _reactor.Modify(p.ReactorToken, want);
                p.EpollMask = want;
            }
        }
        _dirtyPortCount = 0;
        foreach (NetworkPort? p in _ports)
            if (p != null && p.Port.TxRetryAtNanos != 0)
                deadline = Math.Min(deadline, p.Port.TxRetryAtNanos);

        // long.MinValue means "due now" (NextDeadlineNanos): arm at 1 ns, a past absolute time that fires at
        // once. Passed through as is it became a negative timespec, which timerfd_settime refuses
        // (EINVAL) while ArmedAt still recorded it: the timer stayed silent.
        _timer.ArmAbsolute(deadline == long.MaxValue ? 0 : Math.Max(deadline, 1));

        if (_retiring.Count > 0)
            CloseRetiredDevices();
    }

    private sealed class WakeHandler(TargetDaemon daemon) : IEventHandler
    {
        public void OnEvents(uint events)
        {
            daemon._wake.Drain();
            if (Interlocked.Exchange(ref daemon._stopRequested, 0) != 0)
            {
                Log.Notice("stopping (signal)");
                daemon._reactor.RequestStop();
            }
            if (Interlocked.Exchange(ref daemon._reloadRequested, 0) != 0)
                daemon.StartReload(null);
        }
    }

    private sealed class TimerHandler(TargetDaemon daemon) : IEventHandler
    {
        public void OnEvents(uint events)
        {
            daemon._timer.Acknowledge();
            foreach (ExportedDevice d in daemon._devices)
                if (d.Engine.HasQueued)
                    daemon.MarkDirty(d);
            foreach (ExportedDevice d in daemon._retiring)
                if (d.Engine.HasQueued)
                    daemon.MarkDirty(d);
            // Frames the qdisc refused (ENOBUFS) are retried on this timer; the Kick knows whether it is due.
            foreach (NetworkPort? p in daemon._ports)
                if (p != null && p.Port.TxRetryAtNanos != 0)
                    daemon.MarkDirty(p);
        }
    }

    /// <summary>Asks the loop to stop (tests; signals use the flag).</summary>
    public void RequestStop()
    {
        Interlocked.Exchange(ref _stopRequested, 1);
        _wake.Signal();
    }

    public void RequestReload()
    {
        Interlocked.Exchange(ref _reloadRequested, 1);
        _wake.Signal();
    }

    /// <summary>
    /// Graceful stop: take no new requests, let in-flight I/O finish and answer it, make everything
    /// durable, save the AoE state, release the pid file and the control socket.
    /// </summary>
    public void Shutdown()
    {
        if (_stopping)
            return;
        _stopping = true;
        SdNotify.Send("STOPPING=1");
        foreach (NetworkPort? p in _ports)
        {
            if (p == null)
                continue;
            p.Receiving = false;
            _reactor.Modify(p.ReactorToken, 0);
            p.EpollMask = 0;
        }
        long start = TimerFd.NowNanos();
        while (InFlight() > 0 && TimerFd.NowNanos() - start < ShutdownDrainNanos)
            _reactor.RunOnce(100);
        int left = InFlight();
        if (left > 0)
            Log.Warning($"stopping with {left} request(s) still in the kernel after {ShutdownDrainNanos / 1_000_000_000} s; their initiators will retry");
        foreach (ExportedDevice d in _devices)
        {
            if (!d.Config.ReadOnly && Libc.fdatasync(d.Store.Fd) != 0)
                Log.Error($"{d.Name}: fdatasync {d.Config.Path}: {ErrnoText.Describe(Marshal.GetLastPInvokeError())}");
            SaveState(d);
        }
        int unsaved = _worker!.WaitForAll(ShutdownSaveWaitMs);
        if (unsaved > 0)
            Log.Error($"stopping with {unsaved} AoE state save(s) unfinished after {ShutdownSaveWaitMs / 1000} s (is the state directory's disk hanging?)");
        Log.Notice("stopped");
    }

    private int InFlight()
    {
        int n = 0;
        foreach (ExportedDevice d in _devices)
            n += d.Engine.QueueDepth + d.DeferredReplies;
        foreach (ExportedDevice d in _retiring)
            n += d.Engine.QueueDepth + d.DeferredReplies;
        return n;
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration r in _signals)
            r.Dispose();
        _control?.Dispose();
        StopLinkMonitor();
        foreach (NetworkPort? p in _ports)
            p?.Dispose();
        foreach (ExportedDevice d in _devices)
            d.Dispose();
        foreach (ExportedDevice d in _retiring)
            d.Dispose();
        _timer.Dispose();
        _wake.Dispose();
        _worker?.Dispose();
        _reactor.Dispose();
        _pidFile?.Dispose();
    }
}
