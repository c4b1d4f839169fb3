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
    public const int MaxBufferSizeKiB = 1024 * 1024;
    public const double DefaultMaxDelay = 0.01;
    public const double MaxDelayLimit = 1.0;
    /// <summary>busy-poll bound: a millisecond; longer gaps are idle, not "the disk is about to answer".</summary>
    public const int MaxBusyPollMicroseconds = 1000;

    public int QueueLength { get; init; } = DefaultQueueLength;
    /// <summary>Interface name patterns (<see cref="GlobPattern"/>); empty means none.</summary>
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
    /// <summary>MTU to compute the advertised sector count from; null = the interface's own MTU.</summary>
    public int? Mtu { get; init; }
    public int? RingBufferSizeKiB { get; init; }
    public int? SendBufferSizeKiB { get; init; }
    public int? ReceiveBufferSizeKiB { get; init; }
    public SourceLocation Location { get; init; }
}

/// <summary>
/// An interface's settings with the defaults filled in, as <see cref="GgaoedConfig.ForInterface"/> returns them.
/// </summary>
public readonly record struct EffectiveInterfaceSettings(
    string Name, int? Mtu, int RingBufferSizeKiB, int SendBufferSizeKiB, int ReceiveBufferSizeKiB);

/// <summary>An exported device. All inherited values are already resolved against <c>[defaults]</c>.</summary>
public sealed record DeviceConfig
{
    public const int MaxShelf = 0xFFFE;   // 0xFFFF is the broadcast shelf
    public const int MaxSlot = 0xFE;      // 0xFF is the broadcast slot

    public required string Name { get; init; }
    /// <summary>The file or block device to export: as written, or what <see cref="Uuid"/> resolved to.</summary>
    public required string Path { get; init; }
    /// <summary>The UUID it was configured by, or null when configured by <c>path</c>.</summary>
    public string? Uuid { get; init; }
    public ushort Shelf { get; init; }
    public byte Slot { get; init; }
    public bool DirectIo { get; init; }
    public int QueueLength { get; init; }
    public string[] Interfaces { get; init; } = Array.Empty<string>();
    public bool TraceIo { get; init; }
    public double MaxDelay { get; init; }
    public double MergeDelay { get; init; }
    /// <summary>Answer ATA requests addressed to the broadcast shelf/slot too (config queries always are).</summary>
    public bool Broadcast { get; init; }
    public bool ReadOnly { get; init; }
    /// <summary>MACs allowed in (sorted, distinct). Empty = everyone not denied.</summary>
    public ulong[] Accept { get; init; } = Array.Empty<ulong>();
    /// <summary>MACs refused (sorted, distinct); wins over <see cref="Accept"/>.</summary>
    public ulong[] Deny { get; init; } = Array.Empty<ulong>();
    public IoEngineSetting IoEngine { get; init; }
    public SourceLocation Location { get; init; }

    /// <summary>
    /// True when both describe the same export with the same settings (where it was written is ignored), so a
    /// reload can leave such a device running untouched.
    /// </summary>
    public bool HasSameSettings(DeviceConfig other) =>
        Name == other.Name && Path == other.Path && Uuid == other.Uuid && Shelf == other.Shelf && Slot == other.Slot
        && DirectIo == other.DirectIo && QueueLength == other.QueueLength && TraceIo == other.TraceIo
        && MaxDelay == other.MaxDelay && MergeDelay == other.MergeDelay && Broadcast == other.Broadcast
        && ReadOnly == other.ReadOnly && IoEngine == other.IoEngine && Interfaces.AsSpan().SequenceEqual(other.Interfaces)
        && Accept.AsSpan().SequenceEqual(other.Accept) && Deny.AsSpan().SequenceEqual(other.Deny);

    public bool IsExportedOn(string interfaceName)
    {
        foreach (string p in Interfaces)
            if (GlobPattern.IsMatch(p, interfaceName))
                return true;
        return false;
    }

    /// <summary>The ACL decision for a request from <paramref name="mac"/>.</summary>
    public bool Admits(ulong mac)
    {
        if (Array.BinarySearch(Deny, mac) >= 0)
            return false;
        return Accept.Length == 0 || Array.BinarySearch(Accept, mac) >= 0;
    }
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
    /// <summary>Resolved <c>[acls]</c> (sorted, distinct MACs), by name.</summary>
    public required IReadOnlyDictionary<string, ulong[]> Acls { get; init; }

    /// <summary>
    /// True when some device is exported on <paramref name="interfaceName"/>, i.e. the daemon should listen there.
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
    /// pattern matching it (file order), else only <c>[defaults]</c>.
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
        return new EffectiveInterfaceSettings(
            interfaceName,
            pick?.Mtu,
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
