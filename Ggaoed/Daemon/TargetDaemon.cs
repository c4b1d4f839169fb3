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
/// The running target, the hub: owns the reactor and everything registered in it (packet ports, the
/// storage engines' eventfds, the merge-delay timerfd, the wake eventfd for signals, the control
/// socket), the exported devices and the interfaces they are served on, and the reactor's bookkeeping
/// for them in its own tables (<see cref="DeviceEntry"/>, <see cref="PortEntry"/>: tokens, epoll masks,
/// what is due at the end of the turn). It calls ports and devices; they never call it
/// (see Ggaoed/Daemon/README.md for one request's way through). Everything here runs on the reactor
/// thread; the only other threads are the runtime's signal dispatcher, which just sets a flag and
/// signals the wake eventfd, and the background worker.
/// </summary>
internal sealed partial class TargetDaemon : ITurnHandler, IBusyPollAdvisor, IHandlerFaultSink, IDisposable
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
    private readonly List<DeviceEntry> _devices = new();
    private readonly List<DeviceEntry> _retiring = new();
    private readonly List<PortEntry> _ports = new();
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
    private LogLimiter _faultLimiter;

    /// <summary>
    /// The daemon's table row for one exported device: its registration in the reactor (the engine's
    /// eventfd), whose events come here (<see cref="OnDeviceEvents"/>).
    /// </summary>
    private sealed class DeviceEntry(TargetDaemon daemon, ExportedDevice device) : IEventHandler
    {
        public ExportedDevice Device { get; } = device;
        public int Token = -1;

        public void OnEvents(uint events) => daemon.OnDeviceEvents(this);
    }

    /// <summary>
    /// The daemon's table row for one interface: its registration, the epoll mask it has now, whether
    /// it takes requests (not while stopping or in error), and whether its port has answers to send or
    /// a kick to make this turn (<see cref="OnPortEvents"/>, <see cref="OnEndOfTurn"/>).
    /// </summary>
    private sealed class PortEntry(TargetDaemon daemon, NetworkPort port) : IEventHandler
    {
        public NetworkPort Port { get; } = port;
        public int Token = -1;
        public uint Mask = Libc.EPOLLIN;
        public bool Receiving = true;
        public bool FlushDue;

        public void OnEvents(uint events) => daemon.OnPortEvents(this, events);
    }

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
                if (_devices[i].Device.Engine.InFlightCount > 0)
                    return true;
            for (int i = 0; i < _retiring.Count; i++)
                if (_retiring[i].Device.Engine.InFlightCount > 0)
                    return true;
            return false;
        }
    }

    /// <summary>The exported devices (a copy: for the control commands and tests, not the data path).</summary>
    public IReadOnlyList<ExportedDevice> Devices => _devices.ConvertAll(e => e.Device);

    public GgaoedConfig Config => _config;

    /// <summary>Exceptions contained at a dispatch point (a handler, a device's or port's end-of-turn work, a reload).</summary>
    public long HandlerFailures { get; private set; }

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
        StartHousekeeping();
        _reactor.AddTurnHandler(this);
        _reactor.PollAdvisor = this;
        _reactor.FaultSink = this;
        ApplyBusyPoll(_config.Defaults);

        foreach (DeviceConfig dc in _config.Devices)
        {
            if (TryOpen(dc, _config, out string? reason) is ExportedDevice device)
            {
                AddDevice(Register(device));
                continue;
            }
            _notExported[dc.Name] = reason!;
            Log.Error(NotExportedLine(dc, reason!));
        }

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

    public int PortCount => _ports.Count;

    /// <summary>The interfaces served (a copy: for the control commands and tests, not the data path).</summary>
    public IReadOnlyList<NetworkPort> Ports => _ports.ConvertAll(e => e.Port);

    // ---- devices -------------------------------------------------------------------------------------

    /// <summary>Opens a device's store and engine and loads its AoE state; throws when the store can't be opened.</summary>
    private ExportedDevice OpenDevice(DeviceConfig dc, GgaoedConfig config)
    {
        EngineKind engine = dc.IoEngine == IoEngineSetting.Aio ? EngineKind.Aio : EngineChoice.Resolve(dc.Name, dc.IoEngine, Uring);
        if (dc.IoEngine == IoEngineSetting.Auto && engine == EngineKind.Aio && !_uringFallbackLogged)
        {
            _uringFallbackLogged = true;
            Log.Warning($"io_uring is not available ({Uring.Reason}); devices with io-engine = auto use Linux AIO, " +
                        "which reads and writes buffered files inside io_submit, stalling every device meanwhile: prefer direct-io = true");
        }
        var setup = new DeviceSetup(config.Defaults.StateDirectory, _slotBytes,
            ExportedDevice.SlotCount(dc.QueueLength, LargestRxRingBytes(config), _slotBytes),
            engine, PredecessorOf(dc.Path), _options.Debug, _options.FaultInjector);
        var device = new ExportedDevice(dc, setup);
        try
        {
            if (device.Engine.Kind != engine)
                Log.Info($"{dc.Name}: {dc.Path} is on a memory file system: io-engine = auto uses Linux AIO for it (memory copies in one io_submit per turn; io_uring would hand each write to a kernel worker thread)");
            if (device.Store.Fallback != DirectIoFallback.None)
                Log.Warning($"{dc.Name}: {dc.Path}: direct-io = true, but {device.Store.FallbackReason}; using buffered I/O (ggaoectl stats shows direct_io_refused 1)");
            if (device.Store.ClaimProblem != null)
                Log.Warning($"{dc.Name}: {device.Store.ClaimProblem}");
            LoadState(device);
        }
        catch
        {
            device.Dispose();
            throw;
        }
        return device;
    }

    /// <summary>
    /// The most request bytes one RX ring can hold on any interface the configuration may serve: half of
    /// the largest ring-buffer-size (the other half is TX), or the receive buffer of an interface without
    /// rings. It sizes every device's safety cap (<see cref="ExportedDevice.SlotCount"/>); without either
    /// (ring-buffer-size = 0 and the kernel's default receive buffer) the default ring's half stands in.
    /// </summary>
    private static long LargestRxRingBytes(GgaoedConfig config)
    {
        static long RxBytes(int ringKiB, int receiveKiB) => ringKiB > 0 ? ringKiB * 1024L / 2 : receiveKiB * 1024L;
        DefaultsConfig d = config.Defaults;
        long most = RxBytes(d.RingBufferSizeKiB, d.ReceiveBufferSizeKiB);
        foreach (InterfaceConfig ic in config.InterfaceGroups)
            most = Math.Max(most, RxBytes(ic.RingBufferSizeKiB ?? d.RingBufferSizeKiB, ic.ReceiveBufferSizeKiB ?? d.ReceiveBufferSizeKiB));
        return most > 0 ? most : DefaultsConfig.DefaultRingBufferSizeKiB * 1024L / 2;
    }

    /// <summary>The open store a reload's reopen of <paramref name="path"/> replaces (its claim is handed over).</summary>
    private BackingStore? PredecessorOf(string path)
    {
        foreach (DeviceEntry d in _devices)
            if (d.Device.Store.IsSame(path))
                return d.Device.Store;
        foreach (DeviceEntry d in _retiring)
            if (d.Device.Store.IsSame(path))
                return d.Device.Store;
        return null;
    }

    /// <summary>Registers a freshly opened device's eventfd with the reactor (it serves once <see cref="AddDevice"/> lists it).</summary>
    private DeviceEntry Register(ExportedDevice device)
    {
        var entry = new DeviceEntry(this, device);
        try
        {
            // Edge-triggered (the engine is told so): reaping never has to read the eventfd, and
            // ExportedDevice.Submit may reap right after io_submit without leaving a level-triggered
            // eventfd armed behind it.
            entry.Token = _reactor.Add(device.Engine.EventFd, Libc.EPOLLIN | Libc.EPOLLET, entry);
        }
        catch
        {
            device.Dispose();
            throw;
        }
        return entry;
    }

    /// <summary>Undoes <see cref="Register"/> for a device that never served (a reload that was refused).</summary>
    private void Unregister(DeviceEntry entry)
    {
        _reactor.Remove(entry.Token);
        entry.Device.Dispose();
    }

    /// <summary>A device starts serving (at start, added or reopened by a reload).</summary>
    private void AddDevice(DeviceEntry entry)
    {
        _devices.Add(entry);
        ExportedDevice device = entry.Device;
        Log.Info($"{device.Name}: exporting {device.Config.Path} as e{device.Config.Shelf}.{device.Config.Slot} " +
                 $"({device.Store.SizeBytes} bytes{(device.Config.ReadOnly ? ", read-only" : "")}{(device.Store.DirectIo ? ", direct I/O" : "")}, " +
                 $"{EngineChoice.Name(device.Engine.Kind)}, {device.Engine.QueueLength} request slots for a queue-length of {device.Config.QueueLength})");
    }

    /// <summary>Stops taking requests for a device; it is closed once its in-flight I/O has finished.</summary>
    private void RetireDevice(DeviceEntry entry)
    {
        entry.Device.Retire();
        _devices.Remove(entry);
        SaveState(entry.Device);
        _retiring.Add(entry);
    }

    private bool IsExportedName(string name)
    {
        foreach (DeviceEntry e in _devices)
            if (e.Device.Name == name)
                return true;
        return false;
    }

    private void CloseRetiredDevices()
    {
        for (int i = _retiring.Count - 1; i >= 0; i--)
        {
            DeviceEntry d = _retiring[i];
            if (!d.Device.IsIdle)
                continue;
            _reactor.Remove(d.Token);
            d.Device.Dispose();
            _retiring.RemoveAt(i);
            // A reopened device is still exported (by its new instance): say what really happened.
            if (IsExportedName(d.Device.Name))
                Log.Info($"{d.Device.Name}: closed the previous {d.Device.Config.Path} after its last requests were answered");
            else
                Log.Info($"{d.Device.Name}: no longer exported");
        }
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

    public NetworkPort? FindPort(string name) => FindPortEntry(name)?.Port;

    private PortEntry? FindPortEntry(string name)
    {
        foreach (PortEntry p in _ports)
            if (p.Port.Name == name)
                return p;
        return null;
    }

    /// <summary>Opens and serves an interface (at start, on hotplug); false (logged) when it can't be opened.</summary>
    private bool TryAttachInterface(string name)
    {
        if (FindPortEntry(name) != null)
            return true;
        if (TryOpenPort(name, _config) is not PortEntry entry)
            return false;
        AttachPort(entry);
        return true;
    }

    /// <summary>
    /// Opens an interface's packet socket and registers it with the reactor (it serves once
    /// <see cref="AttachPort"/> lists it). Null (a warning logged) when the socket can't be opened:
    /// that interface is not served, nothing else changes. Throws only when the reactor refuses it.
    /// </summary>
    private PortEntry? TryOpenPort(string name, GgaoedConfig config)
    {
        PacketPort port;
        try
        {
            port = PacketPort.Open(name, PortOptionsFor(name, config));
        }
        catch (NetworkException e)
        {
            Log.Warning($"{name}: not serving on this interface: {e.Message}");
            return null;
        }
        var entry = new PortEntry(this, new NetworkPort(port, MtuLimitFor(name, config)));
        try
        {
            entry.Token = _reactor.Add(port.Fd, Libc.EPOLLIN, entry);
        }
        catch
        {
            entry.Port.Dispose();
            throw;
        }
        return entry;
    }

    /// <summary>An interface starts serving (at start, on hotplug, or attached or reopened by a reload).</summary>
    private void AttachPort(PortEntry entry)
    {
        _ports.Add(entry);
        PacketPort port = entry.Port.Port;
        if (port.Mode == PacketPortMode.Fallback)
            Log.Warning($"{port.Name}: packet rings unavailable ({port.FallbackReason}); using send/recv");
        Log.Info($"{port.Name}: serving AoE (MTU {port.Mtu}, {entry.Port.Aoe.MaxSectors} sectors per request, {port.Mode})");
    }

    private static PacketPortOptions PortOptionsFor(string name, GgaoedConfig config)
    {
        EffectiveInterfaceSettings s = config.ForInterface(name);
        return new PacketPortOptions
        {
            RingBufferSizeKiB = s.RingBufferSizeKiB,
            SendBufferSizeKiB = s.SendBufferSizeKiB,
            ReceiveBufferSizeKiB = s.ReceiveBufferSizeKiB,
        };
    }

    /// <summary>The most the AoE view of an interface may use: its config mtu, within the slot buffers.</summary>
    private int MtuLimitFor(string name, GgaoedConfig config) => Math.Min(_slotMtu, config.ForInterface(name).Mtu ?? int.MaxValue);

    private void DetachInterface(PortEntry entry, string why)
    {
        _reactor.Remove(entry.Token);
        _ports.Remove(entry);
        entry.Port.Dispose();
        Log.Info($"{entry.Port.Name}: no longer serving ({why})");
    }

    private void AssignDevicesToPorts()
    {
        foreach (PortEntry p in _ports)
        {
            var list = new List<ExportedDevice>();
            foreach (DeviceEntry d in _devices)
                if (d.Device.Config.IsExportedOn(p.Port.Name))
                    list.Add(d.Device);
            p.Port.SetDevices(list.ToArray());
        }
        AdvertiseChanges();
    }

    /// <summary>A link appeared, changed or went away (netlink). <paramref name="mac"/>: null when not reported.</summary>
    internal void OnLinkChanged(string name, bool exists, bool up, int mtu, MacBytes? mac = null)
    {
        PortEntry? entry = FindPortEntry(name);
        if (!exists || !up)
        {
            if (entry != null)
                DetachInterface(entry, exists ? "link down" : "link removed");
            return;
        }
        if (!_config.IsInterfaceWanted(name))
            return;
        if (entry != null && entry.Port.FaultReason != null)
        {
            // A port in error is reopened by the next link event that concerns it.
            DetachInterface(entry, "reopened after an error: " + entry.Port.FaultReason);
            entry = null;
        }
        if (entry != null)
        {
            NetworkPort port = entry.Port;
            switch (port.Port.ApplyLinkChange(mac ?? port.Port.Mac, mtu))
            {
                case LinkChange.NeedsReopen:
                    // Frames are laid out for the MTU at open time: reopen for the larger one.
                    DetachInterface(entry, $"MTU changed to {mtu}");
                    entry = null;
                    break;
                case LinkChange.Applied:
                    // A new MAC (replies come from it, unicast requests go to it) or an MTU that still fits.
                    port.SetMtuLimit(MtuLimitFor(name, _config));
                    AdvertiseChanges();
                    Log.Info($"{name}: now MAC {new MacAddress(port.Port.Mac.Value)}, MTU {port.Port.Mtu} ({port.Aoe.MaxSectors} sectors per request)");
                    break;
            }
        }
        if (entry == null && TryAttachInterface(name))
            AssignDevicesToPorts();
    }

    // ---- the loop ------------------------------------------------------------------------------------

    /// <summary>A port's socket is readable (requests) or writable again (room for queued answers).</summary>
    private void OnPortEvents(PortEntry entry, uint events)
    {
        // What it answers at once leaves with this turn's kick; after EPOLLOUT, the answers that waited.
        // Set first: answers committed before a device's fault ends Receive early still leave this turn.
        entry.FlushDue = true;
        if ((events & Libc.EPOLLIN) != 0 && entry.Receiving)
            entry.Port.Receive();
    }

    /// <summary>A device's engine has completions: they go into the reply queues of their ports.</summary>
    private void OnDeviceEvents(DeviceEntry entry) => entry.Device.Deliver();

    /// <summary>
    /// The end of every loop turn, where batching happens: each device hands what it queued to the
    /// kernel (one syscall; what completed inside it goes into reply queues), then each port turns its
    /// reply queue into TX frames and kicks once, then the timer is armed for the next deadline. An
    /// exception from one device or port is contained there (<see cref="HandlerFaults"/>) and the rest
    /// of the turn goes on.
    /// </summary>
    public void OnEndOfTurn()
    {
        long deadline = long.MaxValue;
        long now = 0;
        foreach (DeviceEntry e in _devices)
        {
            ExportedDevice d = e.Device;
            SubmitContained(e);
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
        foreach (DeviceEntry e in _retiring)
        {
            SubmitContained(e);
            if (e.Device.Engine.HasQueued)
                deadline = Math.Min(deadline, e.Device.Engine.NextDeadlineNanos);
        }
        // Backwards: a port whose link failed under a send leaves the list.
        for (int i = _ports.Count - 1; i >= 0; i--)
        {
            PortEntry p = _ports[i];
            if (p.FlushDue || p.Port.HasRepliesQueued)
            {
                p.FlushDue = false;
                try
                {
                    FlushPort(p);
                }
                catch (Exception e) when (HandlerFaults.IsContainable(e))
                {
                    Contained(p, "sending answers", e);
                }
            }
        }
        foreach (PortEntry p in _ports)
            if (p.Port.Port.TxRetryAtNanos != 0)
                deadline = Math.Min(deadline, p.Port.Port.TxRetryAtNanos);

        _timer.ArmDeadline(deadline);

        if (_retiring.Count > 0)
            CloseRetiredDevices();
    }

    private void SubmitContained(DeviceEntry e)
    {
        try
        {
            e.Device.Submit();
            // A device in error that a reload replaced still owes the completions its failure left in
            // the engine (their eventfd edge was spent on the failed attempt): reaped every turn
            // until it is idle and can be closed.
            if (e.Device.Faulted && e.Device.Retiring && !e.Device.IsIdle)
                e.Device.Deliver();
        }
        catch (Exception ex) when (HandlerFaults.IsContainable(ex))
        {
            Contained(e.Device, "handling its completions", ex);
        }
    }

    private void FlushPort(PortEntry p)
    {
        NetworkPort port = p.Port;
        bool well = port.FaultReason == null;
        if (well)
            port.Flush();
        if (port.Port.LinkError != 0)
        {
            // The interface vanished or went down under a send; netlink brings it back when it returns.
            DetachInterface(p, "send failed: " + ErrnoText.Describe(port.Port.LinkError));
            return;
        }
        // EPOLLOUT only when the socket will tell us something: queued answers wait for the same TX
        // frames. After ENOBUFS it reports writable at once, so that retry waits on the timer.
        uint want = (p.Receiving && well ? Libc.EPOLLIN : 0) | (well && port.Port.WantsWritable ? Libc.EPOLLOUT : 0);
        if (want != p.Mask)
        {
            _reactor.Modify(p.Token, want);
            p.Mask = want;
        }
    }

    // ---- contained exceptions ------------------------------------------------------------------------

    /// <summary>The reactor contained an exception from <paramref name="handler"/> (see <see cref="HandlerFaults"/>).</summary>
    public void OnHandlerFault(object handler, Exception e)
    {
        if (e is DeviceFaultException df)
            Contained(df.Device, df.Step, df.InnerException ?? df);
        else if (handler is DeviceEntry d)
            Contained(d.Device, "handling its completions", e);
        else if (handler is PortEntry p)
            Contained(p, "receiving", e);
        else
            Contained($"the {handler.GetType().Name} handler", e);
    }

    /// <summary>A device's code threw: it goes into error (its I/O is answered with ABRT), the rest serves on.</summary>
    private void Contained(ExportedDevice device, string step, Exception e)
    {
        HandlerFailures++;
        string reason = HandlerFaults.Reason(step, e);
        if (device.Fault(reason) || ShouldLogFault(out _))
            Log.Error($"{device.Name}: in error after an internal failure ({reason}): every read, write and flush is " +
                      $"answered with ATA ABRT until 'ggaoectl reload' reopens it; the other devices are not affected. {e}");
    }

    /// <summary>A port's own code threw: it stops receiving and drops what it owed, the rest serves on.</summary>
    private void Contained(PortEntry p, string step, Exception e)
    {
        HandlerFailures++;
        string reason = HandlerFaults.Reason(step, e);
        p.Receiving = false;
        p.FlushDue = true; // the end of the turn takes EPOLLIN away
        if (p.Port.Fault(reason) || ShouldLogFault(out _))
            Log.Error($"{p.Port.Name}: in error after an internal failure ({reason}): not serving on it until 'ggaoectl reload' " +
                      $"or a link change reopens it; the other interfaces are not affected. {e}");
    }

    private void Contained(string who, Exception e)
    {
        HandlerFailures++;
        if (ShouldLogFault(out long suppressed))
            Log.Error($"{who} failed and was skipped; the daemon serves on{(suppressed > 0 ? $" ({suppressed} more failures not logged)" : "")}: {e}");
    }

    private bool ShouldLogFault(out long suppressed) => _faultLimiter.ShouldLog(TimerFd.NowNanos(), out suppressed);

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
            // Devices whose merge-delay ran out submit at the end of this turn (they still hold queued
            // requests); frames the qdisc refused (ENOBUFS) are retried: the Kick knows whether it is due.
            foreach (PortEntry p in daemon._ports)
                if (p.Port.Port.TxRetryAtNanos != 0)
                    p.FlushDue = true;
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
        foreach (PortEntry p in _ports)
        {
            p.Receiving = false;
            _reactor.Modify(p.Token, 0);
            p.Mask = 0;
        }
        long start = TimerFd.NowNanos();
        while (InFlight() > 0 && TimerFd.NowNanos() - start < ShutdownDrainNanos)
            _reactor.RunOnce(100);
        int left = InFlight();
        if (left > 0)
            Log.Warning($"stopping with {left} request(s) still in the kernel after {ShutdownDrainNanos / 1_000_000_000} s; their initiators will retry");
        foreach (DeviceEntry e in _devices)
        {
            ExportedDevice d = e.Device;
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
        // A device in error may never finish what its failure left behind: not waited for.
        int n = 0;
        foreach (DeviceEntry e in _devices)
            if (!e.Device.Faulted)
                n += e.Device.Engine.QueueDepth + e.Device.RepliesWaiting;
        foreach (DeviceEntry e in _retiring)
            if (!e.Device.Faulted)
                n += e.Device.Engine.QueueDepth + e.Device.RepliesWaiting;
        return n;
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration r in _signals)
            r.Dispose();
        _control?.Dispose();
        StopLinkMonitor();
        foreach (PortEntry p in _ports)
            p.Port.Dispose();
        foreach (DeviceEntry e in _devices)
            e.Device.Dispose();
        foreach (DeviceEntry e in _retiring)
            e.Device.Dispose();
        StopHousekeeping();
        _timer.Dispose();
        _wake.Dispose();
        _worker?.Dispose();
        _reactor.Dispose();
        _pidFile?.Dispose();
    }
}
