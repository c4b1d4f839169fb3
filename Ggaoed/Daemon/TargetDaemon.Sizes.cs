using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Ggaoed.Native;
using Ggaoed.Storage;

namespace Ggaoed.Daemon;

internal sealed partial class TargetDaemon
{
    // Sizes follow the stores (ggaoed 1.1 re-read them on reload: "New size"). A store's size is read
    // again on every reload, on a block device's uevent (a "change": RESIZE=1 after losetup -c,
    // lvextend, a grown virtual disk) and by a periodic check (files, whose growth sends no event,
    // and block devices whose events are lost or never sent: a partition resized in place, a daemon
    // in a container with its own user namespace). A new size takes effect at once for IDENTIFY, Query
    // Config and the bounds check (requests past a shrunk end get IDNF), is logged with the old one,
    // and is advertised. Reading a size is one syscall that never waits on a local file system or a
    // block device; on a network or cluster file system it may (BackingStore.SizeReadMayWait), so
    // those stores are read on a thread of their own, apart from the worker that saves state and
    // loads the configuration: a file server that hangs delays nothing but its own size checks.

    /// <summary>The periodic check: one fstat or ioctl per store every 5 s; a file that grows is seen within that.</summary>
    private const long DefaultSizeCheckIntervalNanos = 5_000_000_000;

    private BlockEvents? _blockEvents;
    private int _blockEventsToken = -1;
    private long _sizeCheckIntervalNanos = DefaultSizeCheckIntervalNanos;
    private long _nextSizeCheckNanos = long.MaxValue;

    /// <summary>The last errno reading a device's size gave, by device name (logged once per failure, not per check).</summary>
    private readonly Dictionary<string, int> _sizeErrors = new(StringComparer.Ordinal);

    private BackgroundWorker? _sizeProbes;
    private int _sizeProbesToken = -1;
    private bool _sizeProbeRunning;
    private string? _sizeProbeAgain;

    /// <summary>When the periodic check runs next (CLOCK_MONOTONIC ns); long.MaxValue when there is no device to check.</summary>
    private long NextSizeCheckNanos => _devices.Count > 0 ? _nextSizeCheckNanos : long.MaxValue;

    /// <summary>
    /// The period of the size check (5 s). Tests set it (on the reactor thread, after Start) to take the
    /// periodic check out of the way of the uevent path, or to run it quickly.
    /// </summary>
    internal long SizeCheckIntervalNanos
    {
        get => _sizeCheckIntervalNanos;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value);
            _sizeCheckIntervalNanos = value;
            _nextSizeCheckNanos = TimerFd.NowNanos() + value;
            ArmHousekeeping();
        }
    }

    private void StartSizeWatch()
    {
        try
        {
            _blockEvents = BlockEvents.Open();
            _blockEventsToken = _reactor.Add(_blockEvents.Fd, Libc.EPOLLIN, new BlockEventsHandler(this));
        }
        catch (StorageException e)
        {
            _blockEvents?.Dispose();
            _blockEvents = null;
            Log.Warning($"a resized block device is noticed by the periodic size check only ({e.Message})");
        }
        _nextSizeCheckNanos = TimerFd.NowNanos() + _sizeCheckIntervalNanos;
        ArmHousekeeping();
    }

    private void StopSizeWatch()
    {
        if (_blockEvents != null)
        {
            _reactor.Remove(_blockEventsToken);
            _blockEvents.Dispose();
            _blockEvents = null;
        }
        if (_sizeProbes != null)
        {
            _reactor.Remove(_sizeProbesToken);
            // Disposing joins the thread: not while it waits for a file server that may never answer
            // (a background thread, it does not keep the process alive).
            if (!_sizeProbeRunning)
                _sizeProbes.Dispose();
            _sizeProbes = null;
        }
    }

    /// <summary>Hook (reload): every store's size, as ggaoed 1.1 re-read it; changes go into the reload's report.</summary>
    private void RefreshSizesOnReload(StringBuilder report) => RefreshSizes("reload", report, null);

    private void PeriodicSizeCheck(long now)
    {
        _nextSizeCheckNanos = now + _sizeCheckIntervalNanos;
        RefreshSizes("periodic check", null, null);
    }

    /// <summary>
    /// Reads the sizes of the exported stores (only the block device <paramref name="only"/> when given)
    /// and applies what changed: at once, or when the probe thread has read a store whose size read may wait.
    /// </summary>
    private void RefreshSizes(string why, StringBuilder? report, DeviceNumber? only)
    {
        List<SizeProbe.Item>? remote = null;
        foreach (DeviceEntry e in _devices)
        {
            ExportedDevice d = e.Device;
            BackingStore store = d.Store;
            if (only is DeviceNumber number && (!store.IsBlockDevice || store.DeviceNumber != number))
                continue;
            if (!store.SizeReadMayWait)
                ApplySize(d, store.RefreshSize(), why, report);
            else if (_sizeProbeRunning)
                _sizeProbeAgain ??= why; // the probe still waits for a slow or hung server: again when it is back
            else
                (remote ??= new()).Add(new SizeProbe.Item(d));
        }
        if (remote != null)
            StartSizeProbe(remote, why);
    }

    /// <summary>Takes a size read from a device's store: logs and applies a change or a failure.</summary>
    private void ApplySize(ExportedDevice d, SizeRefresh r, string why, StringBuilder? report)
    {
        if (r.Errno != 0)
        {
            if (!_sizeErrors.TryGetValue(d.Name, out int before) || before != r.Errno)
                Log.Warning($"{d.Name}: cannot read the size of {d.Config.Path} ({why}): {ErrnoText.Describe(r.Errno)}; " +
                            $"still exporting {r.Sectors} sectors");
            _sizeErrors[d.Name] = r.Errno;
            return;
        }
        if (_sizeErrors.Remove(d.Name))
            Log.Info($"{d.Name}: the size of {d.Config.Path} can be read again");
        if (!r.Changed)
            return;
        d.Target.SectorCount = r.Sectors;
        d.Engine.DeviceSectors = r.Sectors;
        string line = $"{d.Name}: new size of {d.Config.Path}: {Size(r.Sectors)}, was {Size(r.PreviousSectors)} ({why})";
        if (r.WindowCut)
            line += $"; the configured offset/length runs past the end of the store, which is {d.Store.SizeBytes.ToString(CultureInfo.InvariantCulture)} bytes now: " +
                    "only what is left of the window is exported (correct offset/length or grow the store)";
        if (r.WindowCut || r.Sectors < r.PreviousSectors)
            Log.Warning(line);
        else
            Log.Notice(line);
        report?.Append(line).Append('\n');
        AdvertiseChanges();
    }

    private static string Size(ulong sectors)
        => sectors.ToString(CultureInfo.InvariantCulture) + " sectors (" + (sectors * (ulong)Sector.Size).ToString(CultureInfo.InvariantCulture) + " bytes)";

    // ---- block device events ---------------------------------------------------------------------------

    private sealed class BlockEventsHandler(TargetDaemon daemon) : IEventHandler
    {
        public void OnEvents(uint events)
        {
            var handler = new SizeEvents(daemon);
            daemon._blockEvents?.Receive(ref handler);
        }
    }

    private readonly struct SizeEvents(TargetDaemon daemon) : IBlockEventHandler
    {
        /// <summary>
        /// Any "change" of an exported disk: RESIZE=1 is what a capacity change sends, but device-mapper
        /// (lvextend) reports its resume without it, and reading a size is cheap.
        /// </summary>
        public void OnBlockEvent(in Uevent uevent)
        {
            if (uevent.Action == UeventAction.Change && uevent.TryGetDeviceNumber(out DeviceNumber device))
                daemon.RefreshSizes("block device event", null, device);
        }

        public void OnEventsLost() => daemon.RefreshSizes("block device events were lost", null, null);
    }

    // ---- stores whose size read may wait ---------------------------------------------------------------

    private void StartSizeProbe(List<SizeProbe.Item> items, string why)
    {
        if (_sizeProbes == null)
        {
            _sizeProbes = new BackgroundWorker();
            _sizeProbesToken = _reactor.Add(_sizeProbes.Fd, Libc.EPOLLIN, _sizeProbes);
        }
        _sizeProbeRunning = true;
        _sizeProbes.Post(new SizeProbe(this, why, items));
    }

    private void OnSizeProbeDone(SizeProbe probe)
    {
        _sizeProbeRunning = false;
        foreach (SizeProbe.Item item in probe.Items)
            if (!_stopping && !item.Device.Retiring) // a reload may have retired it while the probe ran
                ApplySize(item.Device, item.Device.Store.ApplySize(item.Size, item.Errno), probe.Why, null);
        if (_sizeProbeAgain is string again && !_stopping)
        {
            _sizeProbeAgain = null;
            RefreshSizes(again, null, null);
        }
    }

    /// <summary>
    /// Reads the sizes of stores on file systems where that may wait, on the probe thread. Each store is
    /// read through a duplicate of its descriptor, taken on the reactor thread and closed by the probe:
    /// the store may be closed (a reload) while the probe waits, and its descriptor number reused.
    /// </summary>
    private sealed class SizeProbe(TargetDaemon daemon, string why, List<SizeProbe.Item> items) : BackgroundJob
    {
        public string Why => why;
        public List<Item> Items => items;

        protected internal override void Run()
        {
            foreach (Item item in items)
                item.Read();
        }

        protected internal override void Complete() => daemon.OnSizeProbeDone(this);

        public sealed class Item
        {
            private int _fd;

            public Item(ExportedDevice device)
            {
                Device = device;
                _fd = Libc.fcntl(device.Store.Fd, Libc.F_DUPFD_CLOEXEC, 0);
                Errno = _fd < 0 ? Marshal.GetLastPInvokeError() : 0;
            }

            public ExportedDevice Device { get; }
            public long Size { get; private set; }
            public int Errno { get; private set; }

            /// <summary>On the probe thread: the size, then the duplicate is closed.</summary>
            public void Read()
            {
                if (_fd < 0)
                    return;
                Errno = BackingStore.ReadSize(_fd, block: false, out long size);
                Size = size;
                Libc.close(_fd);
                _fd = -1;
            }
        }
    }
}
