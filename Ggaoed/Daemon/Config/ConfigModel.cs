using System;
using System.Collections.Generic;

namespace Ggaoed.Daemon.Config;

/// <summary>Where a group or key was written, for messages at run time (e.g. "device from ggaoed.conf:12").</summary>
public readonly record struct SourceLocation(string File, int Line)
{
    public override string ToString() => File + ":" + Line.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The <c>io-engine</c> key: which kernel interface a device's storage engine uses.</summary>
public enum IoEngineSetting
{
    /// <summary>io_uring where this process can use it (probed once), else Linux AIO.</summary>
    Auto,

    /// <summary>io_uring, or the device does not open.</summary>
    IoUring,

    /// <summary>Linux native AIO (asynchronous for O_DIRECT only).</summary>
    Aio,
}

/// <summary>The <c>[defaults]</c> group: daemon-wide settings and the fallbacks for devices and interfaces.</summary>
public sealed record DefaultsConfig
{
    public const int DefaultQueueLength = 64;
    /// <summary>
    /// Upper bound for queue-length. io_setup(n) charges about 2n against fs.aio-max-nr (65536 by default,
    /// system-wide), so 1024 lets 32 devices run at the cap; and the Linux initiator never keeps more than
    /// aoe_maxout (64) frames in flight per target MAC, so 1024 already serves 16 busy initiators per device.
    /// </summary>
    public const int MaxQueueLength = 1024;
    /// <summary>A buffer count below 2 makes Linux start with a window of bufcnt/2 = 0 (AOE-NOTES 0.5).</summary>
    public const int MinQueueLength = 2;
    public const int DefaultRingBufferSizeKiB = 4096;
    /// <summary>
    /// The smallest packet ring pair: half goes to each direction, and a ring is built of 64 KiB blocks (the
    /// block size ggaoed 1.1 started from), so below 128 KiB no block fits and 1.1 quietly ran without rings.
    /// A smaller value is raised to this, with a warning.
    /// </summary>
    public const int MinRingBufferSizeKiB = 128;
    public const int MaxBufferSizeKiB = 1024 * 1024;
    public const double DefaultMaxDelay = 0.01;
    public const double MaxDelayLimit = 1.0;
    /// <summary>busy-poll bound: a millisecond; longer gaps are idle, not "the disk is about to answer".</summary>
    public const int MaxBusyPollMicroseconds = 1000;

    public int QueueLength { get; init; } = DefaultQueueLength;
    /// <summary>
    /// Interface name patterns (<see cref="GlobPattern"/>). Empty (the key unset, or set to nothing) means every
    /// interface, loopback included, as in ggaoed 1.1.
    /// </summary>
    public string[] Interfaces { get; init; } = Array.Empty<string>();
    public bool DirectIo { get; init; } = true;
    public bool TraceIo { get; init; }
    public string PidFile { get; init; } = "/var/run/ggaoed.pid";
    public string ControlSocket { get; init; } = "/var/run/ggaoed.sock";
    public string StateDirectory { get; init; } = "/var/lib/ggaoed";
    /// <summary>KiB for the RX and TX PACKET_MMAP rings together (split evenly); 0 disables the rings.</summary>
    public int RingBufferSizeKiB { get; init; } = DefaultRingBufferSizeKiB;
    /// <summary>KiB for SO_SNDBUF when no TX ring is used; 0 keeps the kernel default (net.core.wmem_default).</summary>
    public int SendBufferSizeKiB { get; init; }
    /// <summary>KiB for SO_RCVBUF when no RX ring is used; 0 keeps the kernel default (net.core.rmem_default).</summary>
    public int ReceiveBufferSizeKiB { get; init; }
    /// <summary>Seconds a request may wait in total before it is submitted, however many merges are pending.</summary>
    public double MaxDelay { get; init; } = DefaultMaxDelay;
    /// <summary>Seconds to wait for an adjacent request to merge with; 0 = submit at the end of the loop turn.</summary>
    public double MergeDelay { get; init; }
    /// <summary>
    /// Microseconds the reactor keeps polling (epoll_wait with a zero timeout) before it sleeps, after
    /// a turn with events and while I/O is in flight at the kernel; 0 = always sleep. Trades a CPU for the wake-up latency of an
    /// idle one (deep C-states, or a halted vCPU: tens of µs per completion).
    /// </summary>
    public int BusyPollMicroseconds { get; init; }
    /// <summary>
    /// <c>mtu</c> in [defaults]: the MTU limit for every interface whose own group does not set one (ggaoed 1.1's
    /// meaning); null = each interface's own MTU.
    /// </summary>
    public int? Mtu { get; init; }
    /// <summary>The <c>admin-accept</c> list of devices that have none of their own; null = unset (see <see cref="DeviceConfig.AdminAccept"/>).</summary>
    public ulong[]? AdminAccept { get; init; }
    /// <summary>
    /// <c>write-cache</c> in [defaults]; null = not set, so devices start with the cache off and initiators may turn it on
    /// (see <see cref="DeviceConfig.WriteCachePinned"/>).
    /// </summary>
    public bool? WriteCache { get; init; }
    /// <summary>io-engine: which kernel interface does the I/O (see <see cref="IoEngineSetting"/>).</summary>
    public IoEngineSetting IoEngine { get; init; }
    public SourceLocation Location { get; init; }
}

/// <summary>A per-interface group such as <c>[eth0]</c>. Null members inherit from <see cref="DefaultsConfig"/>.</summary>
public sealed record InterfaceConfig
{
    public const int MinMtu = 548;     // 36-byte AoE/ATA header + one 512-byte sector
    public const int MaxMtu = 65535;

    /// <summary>The group name: an interface name, or a pattern such as <c>eth*</c>.</summary>
    public required string Name { get; init; }
    /// <summary>
    /// An upper bound on the MTU the advertised sector count is computed from (the smaller of this and the
    /// interface's own wins); null = not set here, so [defaults] decides; 0 = the interface's own MTU even when
    /// [defaults] sets one (ggaoed 1.1's meaning of 0).
    /// </summary>
    public int? Mtu { get; init; }
    public int? RingBufferSizeKiB { get; init; }
    public int? SendBufferSizeKiB { get; init; }
    public int? ReceiveBufferSizeKiB { get; init; }
    public SourceLocation Location { get; init; }
}

/// <summary>
/// An interface's settings with the defaults filled in, as <see cref="GgaoedConfig.ForInterface"/> returns them.
/// <see cref="Mtu"/> is an upper bound on the interface's MTU; null = the interface's own.
/// </summary>
public readonly record struct EffectiveInterfaceSettings(
    string Name, int? Mtu, int RingBufferSizeKiB, int SendBufferSizeKiB, int ReceiveBufferSizeKiB);

/// <summary>An exported device. All inherited values are already resolved against <c>[defaults]</c>.</summary>
/// <remarks>
/// Access lists tell "no list" (null) from "a list that admits nobody" (empty): <c>accept =</c> with nothing in
/// it is a configuration error, but a list whose every name fails to resolve (a host missing from /etc/ethers)
/// only warns and leaves an empty list, and an empty list must shut the device, never open it to all.
/// </remarks>
public sealed record DeviceConfig
{
    public const int MaxShelf = 0xFFFE;   // 0xFFFF is the broadcast shelf
    public const int MaxSlot = 0xFE;      // 0xFF is the broadcast slot
    /// <summary>AoE carries a 48-bit LBA (AoEr11 section 3.2): no export can be longer, nor end further out.</summary>
    public const long MaxSectors = 1L << 48;

    /// <summary>The group name: the device's name in ggaoectl and logs, and the base name of its state file.</summary>
    public required string Name { get; init; }
    /// <summary>
    /// The file or block device to export: as written, or what <see cref="Uuid"/> resolved to; empty when the UUID
    /// resolved to nothing (then <see cref="Unavailable"/> says so).
    /// </summary>
    public required string Path { get; init; }
    /// <summary>The UUID it was configured by, or null when configured by <c>path</c>.</summary>
    public string? Uuid { get; init; }
    /// <summary>
    /// Null when the backing store was found at load time. Otherwise why not, in words for a log line or ggaoectl
    /// stats ("/srv/a.img does not exist", "no block device has UUID ..."): the device stays in the configuration,
    /// is not exported, and is tried again on the next reload. Only the machine's state (a missing file, an
    /// unresolved UUID, a directory where a file should be) makes a device unavailable; a mistake in the file itself
    /// is a configuration error.
    /// </summary>
    public string? Unavailable { get; init; }
    public ushort Shelf { get; init; }
    public byte Slot { get; init; }
    public bool DirectIo { get; init; }
    public int QueueLength { get; init; }
    /// <summary>
    /// Interface name patterns: the device's own <c>interfaces</c>, else those of [defaults]. Empty = every interface
    /// (<see cref="OnEveryInterface"/>), as in ggaoed 1.1 when no <c>interfaces</c> is set anywhere.
    /// </summary>
    public string[] Interfaces { get; init; } = Array.Empty<string>();
    public bool TraceIo { get; init; }
    public double MaxDelay { get; init; }
    public double MergeDelay { get; init; }
    /// <summary>
    /// ggaoed 1.1's meaning: announce the device (the unsolicited Query Config response at start, reload, hotplug,
    /// MTU change) by broadcast even when it has an accept list, instead of unicast to each accepted MAC. It does
    /// not make the device serve ATA commands sent to the broadcast shelf/slot: those are never served.
    /// </summary>
    public bool Broadcast { get; init; }
    public bool ReadOnly { get; init; }
    /// <summary>MACs allowed in (sorted, distinct). Null = no accept list: everyone not denied. Empty = nobody.</summary>
    public ulong[]? Accept { get; init; }
    /// <summary>MACs refused (sorted, distinct; empty = nobody); wins over <see cref="Accept"/>.</summary>
    public ulong[] Deny { get; init; } = Array.Empty<ulong>();
    /// <summary>
    /// MACs allowed to change the device's state: Mac Mask List edits, Reserve set, Query Config set (sorted, distinct).
    /// Null = unset: every MAC the device admits may. Empty = nobody may. A MAC must also be admitted
    /// (<see cref="Accept"/>, <see cref="Deny"/>) to reach the device at all.
    /// </summary>
    public ulong[]? AdminAccept { get; init; }
    /// <summary>
    /// The volatile write cache state the device starts with. False: a WRITE is answered only once the data is
    /// durable (RWF_DSYNC) and IDENTIFY reports the cache supported but disabled. True: a WRITE is answered once
    /// the kernel has the data, FLUSH CACHE does an fdatasync, and IDENTIFY reports it enabled.
    /// </summary>
    public bool WriteCache { get; init; }
    /// <summary>
    /// True when the configuration set <c>write-cache</c> (here or in [defaults]) or <see cref="Shared"/> forces it off:
    /// then an initiator's SET FEATURES may not change it. False: initiators may turn the cache on and off.
    /// </summary>
    public bool WriteCachePinned { get; init; }
    /// <summary>
    /// Other gateways may export the same volume at the same time (multipath across hosts). The loader has
    /// checked that <see cref="DirectIo"/> is on and the write cache off and pinned (a page cache or a write cache
    /// here would serve stale data after another gateway wrote). The Mac Mask List and the config string stay per
    /// gateway; Reserve set is refused, since this gateway cannot enforce a reservation on the others.
    /// </summary>
    public bool Shared { get; init; }
    /// <summary>First exported sector of the backing store, in 512-byte sectors (vblade -o); 0 = its start.</summary>
    public long OffsetSectors { get; init; }
    /// <summary>Exported length in 512-byte sectors (vblade -l); null = from <see cref="OffsetSectors"/> to the end.</summary>
    public long? LengthSectors { get; init; }
    /// <summary>io-engine: which kernel interface does the I/O (see <see cref="IoEngineSetting"/>).</summary>
    public IoEngineSetting IoEngine { get; init; }
    public SourceLocation Location { get; init; }

    /// <summary>True when the device is exported on every interface the daemon serves (no patterns anywhere).</summary>
    public bool OnEveryInterface => Interfaces.Length == 0;

    /// <summary>
    /// True when both describe the same export with the same settings (where it was written is ignored), so a
    /// reload can leave such a device running untouched.
    /// </summary>
    public bool HasSameSettings(DeviceConfig other) =>
        Name == other.Name && Path == other.Path && Uuid == other.Uuid && Unavailable == other.Unavailable
        && Shelf == other.Shelf && Slot == other.Slot
        && DirectIo == other.DirectIo && QueueLength == other.QueueLength && TraceIo == other.TraceIo
        && MaxDelay == other.MaxDelay && MergeDelay == other.MergeDelay && Broadcast == other.Broadcast
        && ReadOnly == other.ReadOnly && Interfaces.AsSpan().SequenceEqual(other.Interfaces)
        && SameList(Accept, other.Accept) && Deny.AsSpan().SequenceEqual(other.Deny) && SameList(AdminAccept, other.AdminAccept)
        && WriteCache == other.WriteCache && WriteCachePinned == other.WriteCachePinned && Shared == other.Shared
        && OffsetSectors == other.OffsetSectors && LengthSectors == other.LengthSectors && IoEngine == other.IoEngine;

    public bool IsExportedOn(string interfaceName)
    {
        if (OnEveryInterface)
            return true;
        foreach (string p in Interfaces)
            if (GlobPattern.IsMatch(p, interfaceName))
                return true;
        return false;
    }

    private static bool SameList(ulong[]? a, ulong[]? b) => a == null ? b == null : b != null && a.AsSpan().SequenceEqual(b);
}

/// <summary>A whole, validated configuration. Only <see cref="ConfigLoader"/> builds one.</summary>
public sealed class GgaoedConfig
{
    public required string FileName { get; init; }
    public required DefaultsConfig Defaults { get; init; }
    /// <summary>Per-interface groups in file order.</summary>
    public required IReadOnlyList<InterfaceConfig> InterfaceGroups { get; init; }
    /// <summary>Devices in file order.</summary>
    public required IReadOnlyList<DeviceConfig> Devices { get; init; }
    /// <summary>
    /// Resolved <c>[acls]</c> (sorted, distinct MACs), by name; an ACL none of whose names resolved is empty. ACLs
    /// with errors (an empty value) are absent, but then there is no configuration at all.
    /// </summary>
    public required IReadOnlyDictionary<string, ulong[]> Acls { get; init; }

    /// <summary>
    /// True when some device is exported on <paramref name="interfaceName"/>, i.e. the daemon should listen there;
    /// true for any interface, loopback included, once a device has no interface patterns at all
    /// (<see cref="DeviceConfig.OnEveryInterface"/>). Unavailable devices count: they may come back on a reload.
    /// </summary>
    public bool IsInterfaceWanted(string interfaceName)
    {
        foreach (DeviceConfig d in Devices)
            if (d.IsExportedOn(interfaceName))
                return true;
        return false;
    }

    /// <summary>
    /// Settings for one interface: a group named exactly like it wins, else the first group whose name is a
    /// pattern matching it (file order), else only <c>[defaults]</c>; a key the group does not set comes from
    /// <c>[defaults]</c>.
    /// </summary>
    public EffectiveInterfaceSettings ForInterface(string interfaceName)
    {
        InterfaceConfig? pick = null;
        foreach (InterfaceConfig g in InterfaceGroups)
        {
            if (g.Name == interfaceName)
            {
                pick = g;
                break;
            }
            if (pick == null && GlobPattern.HasWildcards(g.Name) && GlobPattern.IsMatch(g.Name, interfaceName))
                pick = g;
        }
        int? mtu = pick?.Mtu ?? Defaults.Mtu;
        return new EffectiveInterfaceSettings(
            interfaceName,
            mtu == 0 ? null : mtu,
            pick?.RingBufferSizeKiB ?? Defaults.RingBufferSizeKiB,
            pick?.SendBufferSizeKiB ?? Defaults.SendBufferSizeKiB,
            pick?.ReceiveBufferSizeKiB ?? Defaults.ReceiveBufferSizeKiB);
    }

    public DeviceConfig? FindDevice(string name)
    {
        foreach (DeviceConfig d in Devices)
            if (d.Name == name)
                return d;
        return null;
    }
}
