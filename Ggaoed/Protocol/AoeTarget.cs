using System;
using System.Text;

namespace Ggaoed.Protocol;

/// <summary>
/// Protocol state of one exported device (one shelf.slot): what the AoE engine needs to answer and
/// check requests, plus the state AoE commands change (config string, Mac Mask List, reserve list).
/// Everything the receive path touches is preallocated here.
/// Not thread-safe: owned by the thread that runs <see cref="AoeEngine.Handle"/> for this device.
/// </summary>
public sealed class AoeTarget
{
    /// <summary>
    /// Mac Mask List capacity. The AoE read reply must fit one frame on any sane MTU:
    /// 24 + 4 + 64 × 8 = 540 bytes, below even a 576-byte MTU. 64 initiator ports per device is far
    /// beyond real use (the Linux initiator never sends mask commands at all).
    /// </summary>
    public const int MaskListCapacity = 64;

    /// <summary>
    /// Reserve list capacity: the reply is 24 + 2 + 64 × 6 = 410 bytes, and 64 MACs cover a cluster of
    /// multi-port hosts. A set with more MACs is refused with AoE error 2 (bad argument).
    /// </summary>
    public const int ReserveListCapacity = 64;

    /// <summary>Linux clamps the advertised buffer count to aoe_maxout (64) and needs at least 2.</summary>
    public const ushort DefaultBufferCount = 64;

    /// <summary>
    /// Our version, 2.0, as the AoE config reply's big-endian firmware version: major in the high
    /// byte, minor in the low byte. IDENTIFY's firmware revision is the same number as text
    /// (<see cref="FirmwareRevision"/>), so both views of the target agree.
    /// </summary>
    public const ushort DefaultFirmwareVersion = 0x0200;

    public const string DefaultModel = "ggaoed";

    private readonly byte[] _config = new byte[AoeWire.MaxConfigStringLength];
    private readonly byte[] _identify = new byte[AtaIdentify.BlockLength];
    private bool _identifyValid;
    private ushort _bufferCount = DefaultBufferCount;
    private ushort _firmwareVersion = DefaultFirmwareVersion;
    private bool _writeCacheConfigured;
    private bool _writeCachePinned;
    private bool? _writeCacheChosen; // set by an initiator's SET FEATURES; persisted
    private bool _shared;
    private string _model = DefaultModel;
    private string? _name;
    // Kept as strings so that rebuilding IDENTIFY (after SET FEATURES, on the receive path) allocates nothing.
    private string _serial;
    private string _firmwareRevision = FormatFirmwareRevision(DefaultFirmwareVersion);

    public AoeTarget(ushort shelf, byte slot, ulong sectorCount)
    {
        // 0xFFFF / 0xFF are the broadcast addresses; a device there could never be addressed alone.
        if (shelf == AoeWire.BroadcastShelf)
            throw new ArgumentOutOfRangeException(nameof(shelf), "shelf 65535 is the AoE broadcast shelf");
        if (slot == AoeWire.BroadcastSlot)
            throw new ArgumentOutOfRangeException(nameof(slot), "slot 255 is the AoE broadcast slot");
        Shelf = shelf;
        Slot = slot;
        SectorCount = sectorCount;
        _serial = DefaultSerial(shelf, slot);
    }

    public ushort Shelf { get; }
    public byte Slot { get; }

    /// <summary>Size of the backing store in 512-byte sectors. Changing it (a resized file) updates IDENTIFY.</summary>
    public ulong SectorCount
    {
        get;
        set { field = value; _identifyValid = false; }
    }

    public bool ReadOnly { get; set; }

    /// <summary>
    /// ggaoed.conf "broadcast" (ggaoed 1.1's meaning): announce the device with a broadcast Query
    /// Config response even when it has an accept list. A plain setting for the daemon's
    /// announcements; the engine ignores it (it never serves ATA sent to a broadcast shelf/slot).
    /// </summary>
    public bool AnnounceByBroadcast { get; set; }

    /// <summary>
    /// ggaoed.conf "shared": several gateways export this one volume. A reservation only one gateway
    /// knows is no reservation, so Reserve set and force set are refused (AoE error 2), and setting
    /// this drops any reservation the device had (restored state included).
    /// </summary>
    public bool Shared
    {
        get => _shared;
        set
        {
            _shared = value;
            if (value)
                ClearReserveList();
        }
    }

    /// <summary>Advertised outstanding-request count; at least 2 (AOE-NOTES 0.5).</summary>
    public ushort BufferCount
    {
        get => _bufferCount;
        set => _bufferCount = value < 2 ? (ushort)2 : value;
    }

    /// <summary>The Query Config firmware version (BE u16, major.minor in the high and low byte).</summary>
    public ushort FirmwareVersion
    {
        get => _firmwareVersion;
        set
        {
            _firmwareVersion = value;
            _firmwareRevision = FormatFirmwareRevision(value);
            _identifyValid = false;
        }
    }

    /// <summary>
    /// IDENTIFY firmware revision (words 23-26): <see cref="FirmwareVersion"/> as "major.minor" in
    /// decimal, so 0x0200 reads "2.0" in hdparm and 0x4019 "64.25".
    /// </summary>
    public string FirmwareRevision => _firmwareRevision;

    private static string FormatFirmwareRevision(ushort version) => (version >> 8).ToString() + "." + (version & 0xFF).ToString();

    /// <summary>
    /// The volatile write cache state IDENTIFY reports (word 85 bit 5): the initiator's last SET
    /// FEATURES 0x02/0x82 choice when it may make one, otherwise the configured state.
    /// </summary>
    public bool WriteCache => _writeCachePinned ? _writeCacheConfigured : _writeCacheChosen ?? _writeCacheConfigured;

    /// <summary>The configuration fixes <see cref="WriteCache"/>: SET FEATURES 0x02/0x82 that would change it get ABRT.</summary>
    public bool WriteCachePinned => _writeCachePinned;

    /// <summary>
    /// The configured write cache state, and whether initiators may change it. Pinning discards an
    /// initiator's earlier choice (bumping <see cref="StateVersion"/> so the state file loses it);
    /// unpinned, a choice restored or made since still wins over <paramref name="enabled"/>.
    /// </summary>
    public void ConfigureWriteCache(bool enabled, bool pinned)
    {
        _writeCacheConfigured = enabled;
        _writeCachePinned = pinned;
        if (pinned && _writeCacheChosen.HasValue)
        {
            _writeCacheChosen = null;
            StateVersion++;
        }
        _identifyValid = false;
    }

    /// <summary>
    /// SET FEATURES enable (true) or disable (false) write cache from an initiator. False (the
    /// engine answers ABRT, as a drive that cannot change it would) when the configuration pins a
    /// different state; asking for the state it already has succeeds.
    /// </summary>
    internal bool TrySetWriteCacheFromInitiator(bool enabled)
    {
        if (_writeCachePinned)
            return enabled == _writeCacheConfigured;
        if (_writeCacheChosen != enabled)
        {
            _writeCacheChosen = enabled;
            StateVersion++;
            _identifyValid = false;
        }
        return true;
    }

    /// <summary>IDENTIFY model number (words 27-46, at most 40 ASCII characters).</summary>
    public string Model
    {
        get => _model;
        set { _model = value ?? DefaultModel; _identifyValid = false; }
    }

    /// <summary>
    /// The device name (the ggaoed.conf group name). It is the IDENTIFY serial number, as in ggaoed
    /// 1.1, so an initiator sees the name it was configured with (hdparm -i, udev's by-id links).
    /// </summary>
    public string? Name
    {
        get => _name;
        set
        {
            _name = value;
            _serial = string.IsNullOrEmpty(value) ? DefaultSerial(Shelf, Slot) : value;
            _identifyValid = false;
        }
    }

    /// <summary>
    /// IDENTIFY serial number (words 10-19): <see cref="Name"/>, or "shelf.slot" without one.
    /// IDENTIFY keeps the first 20 characters; names that agree in those share a serial.
    /// </summary>
    public string Serial => _serial;

    /// <summary>Bumped whenever the config string, Mac Mask List or reserve list changes, so the daemon knows to persist.</summary>
    public long StateVersion { get; private set; }

    public MacList MaskList { get; } = new(MaskListCapacity);

    public AoeTargetCounters Counters { get; } = new();
    public MacList ReserveList { get; } = new(ReserveListCapacity);

    public int ConfigLength { get; private set; }
    public ReadOnlySpan<byte> ConfigString => _config.AsSpan(0, ConfigLength);

    public static string DefaultSerial(ushort shelf, byte slot) => shelf.ToString() + "." + slot.ToString();

    /// <summary>True when a request addressed to this shelf/slot (broadcast included) is for this device.</summary>
    public bool IsAddressedBy(ushort shelf, byte slot) =>
        (shelf == Shelf || shelf == AoeWire.BroadcastShelf) && (slot == Slot || slot == AoeWire.BroadcastSlot);

    /// <summary>
    /// Config "accept" list: only these MACs see the device. <c>null</c> (the default) = no accept
    /// list, everyone not denied; <see cref="MacSet.Empty"/> = nobody (a list whose names all failed
    /// to resolve must fail closed).
    /// </summary>
    public MacSet? AcceptList { get; set; }

    /// <summary>Config "deny" list: these MACs never see the device; wins over every other list.</summary>
    public MacSet DenyList { get; set; } = MacSet.Empty;

    /// <summary>
    /// Config "admin-accept" list: only these MACs may change the device's state (Mac Mask edit,
    /// Reserve set/force set, Query Config set/force set, SET FEATURES write cache); others get the
    /// error listed in README.md. <c>null</c> (the default) = anyone who sees the device may;
    /// <see cref="MacSet.Empty"/> = nobody may.
    /// </summary>
    public MacSet? AdminAcceptList { get; set; }

    /// <summary>
    /// Who an advertisement of this device goes to (ggaoed 1.1's rule): the broadcast address (true)
    /// when anyone may see it or <see cref="AnnounceByBroadcast"/> is set; otherwise (false) one frame
    /// to each MAC that may see it, added to <paramref name="unicast"/>: the accept list, or the Mac
    /// Mask List when there is no accept list, without denied and masked-out MACs. An accept list that
    /// names nobody adds nobody: a device nobody may see is not announced. Group addresses are left out:
    /// no initiator sends from one, and a frame to one would reach everybody (a Mac Mask List closed
    /// after a corrupt state file holds only the broadcast address, to let nobody in).
    /// </summary>
    public bool AdvertiseTo(System.Collections.Generic.List<MacAddress> unicast)
    {
        if (AnnounceByBroadcast || (AcceptList == null && MaskList.IsEmpty))
            return true;
        if (AcceptList != null)
        {
            for (int i = 0; i < AcceptList.Count; i++)
                if (!AcceptList[i].IsGroup && IsVisibleTo(AcceptList[i]))
                    unicast.Add(AcceptList[i]);
            return false;
        }
        foreach (MacAddress mac in MaskList.AsSpan())
            if (!mac.IsGroup && IsVisibleTo(mac))
                unicast.Add(mac);
        return false;
    }

    /// <summary>
    /// Whether the device answers this source at all: not denied, accepted (when an accept list exists)
    /// and in the Mac Mask List (when it is non-empty, AoEr11 section 3.3). Anyone else gets silence.
    /// </summary>
    public bool IsVisibleTo(MacAddress source)
    {
        if (DenyList.Contains(source))
            return false;
        if (AcceptList is { } accept && !accept.Contains(source))
            return false;
        return MaskList.IsEmpty || MaskList.Contains(source);
    }

    /// <summary>Whether this source may change the device's state (see <see cref="AdminAcceptList"/>).</summary>
    public bool IsAdmin(MacAddress source) => AdminAcceptList is not { } admins || admins.Contains(source);

    /// <summary>True when a reservation exists and this source is not in it (AoEr11 section 3.4).</summary>
    public bool IsReservedAgainst(MacAddress source) => !ReserveList.IsEmpty && !ReserveList.Contains(source);

    internal bool ConfigEquals(ReadOnlySpan<byte> value) => ConfigString.SequenceEqual(value);
    internal bool ConfigStartsWith(ReadOnlySpan<byte> value) => ConfigString.StartsWith(value);

    /// <summary>Replaces the config string (at most 1024 bytes); bumps <see cref="StateVersion"/> if it changed.</summary>
    public void SetConfigString(ReadOnlySpan<byte> value)
    {
        if (value.Length > AoeWire.MaxConfigStringLength)
            throw new ArgumentException("AoE config strings are at most 1024 bytes", nameof(value));
        SetConfigUnchecked(value);
    }

    internal void SetConfigUnchecked(ReadOnlySpan<byte> value)
    {
        if (ConfigEquals(value))
            return;
        value.CopyTo(_config);
        ConfigLength = value.Length;
        StateVersion++;
    }

    public void ClearConfigString() => SetConfigUnchecked(ReadOnlySpan<byte>.Empty);

    public void ClearMaskList()
    {
        if (MaskList.IsEmpty)
            return;
        MaskList.Clear();
        StateVersion++;
    }

    public void ClearReserveList()
    {
        if (ReserveList.IsEmpty)
            return;
        ReserveList.Clear();
        StateVersion++;
    }

    internal void MarkStateChanged() => StateVersion++;

    /// <summary>The 512-byte IDENTIFY DEVICE block, rebuilt only after a setting it reflects changed.</summary>
    public ReadOnlySpan<byte> IdentifyBlock
    {
        get
        {
            if (!_identifyValid)
            {
                AtaIdentify.Build(_identify, this);
                _identifyValid = true;
            }
            return _identify;
        }
    }

    // ---- persistence (pure; the daemon does the file I/O) -------------------------------------------

    /// <summary>
    /// The persistent state as text, one item per line:
    /// <code>
    /// ggaoed-state 2
    /// config 6869          (hex of the config string bytes; line omitted when empty)
    /// mask 00:11:22:33:44:55
    /// reserve 00:11:22:33:44:55
    /// write-cache on       (an initiator's SET FEATURES choice; omitted when none was made)
    /// </code>
    /// Hex keeps arbitrary config bytes on one line; MACs are readable for an operator. Version 2
    /// added write-cache: an older ggaoed then rejects the file by its header, not by an unknown line.
    /// </summary>
    public string SerializeState()
    {
        var sb = new StringBuilder();
        sb.Append(StateHeader).Append('\n');
        if (ConfigLength > 0)
            sb.Append("config ").Append(Convert.ToHexStringLower(ConfigString)).Append('\n');
        foreach (MacAddress mac in MaskList.AsSpan())
            sb.Append("mask ").Append(mac.ToString()).Append('\n');
        foreach (MacAddress mac in ReserveList.AsSpan())
            sb.Append("reserve ").Append(mac.ToString()).Append('\n');
        if (_writeCacheChosen is bool chosen)
            sb.Append("write-cache ").Append(chosen ? "on" : "off").Append('\n');
        return sb.ToString();
    }

    private const string StateHeader = "ggaoed-state 2";
    /// <summary>Written before write-cache existed; read the same way.</summary>
    private const string StateHeaderV1 = "ggaoed-state 1";

    /// <summary>
    /// Loads state written by <see cref="SerializeState"/> (version 1 or 2). All or nothing: on error
    /// nothing changes and <paramref name="error"/> says which line is wrong. Bumps
    /// <see cref="StateVersion"/> when anything changed. A write-cache choice is ignored while the
    /// configuration pins the state, and reserve lines while the device is <see cref="Shared"/>.
    /// </summary>
    public bool TryLoadState(string text, out string? error)
    {
        error = null;
        var config = new byte[AoeWire.MaxConfigStringLength];
        int configLength = 0;
        var mask = new MacList(MaskListCapacity);
        var reserve = new MacList(ReserveListCapacity);
        bool? writeCache = null;
        string[] lines = text.Split('\n');
        bool sawHeader = false;
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            if (!sawHeader)
            {
                if (line != StateHeader && line != StateHeaderV1)
                {
                    error = $"line {i + 1}: expected '{StateHeader}'";
                    return false;
                }
                sawHeader = true;
                continue;
            }
            int space = line.IndexOf(' ');
            string key = space < 0 ? line : line.Substring(0, space);
            string value = space < 0 ? "" : line.Substring(space + 1).Trim();
            switch (key)
            {
                case "config":
                    if (value.Length % 2 != 0 || value.Length / 2 > AoeWire.MaxConfigStringLength
                        || !TryParseHex(value, config, out configLength))
                    {
                        error = $"line {i + 1}: config must be hex of at most 1024 bytes";
                        return false;
                    }
                    break;
                case "mask":
                case "reserve":
                    if (!MacAddress.TryParse(value, out MacAddress mac))
                    {
                        error = $"line {i + 1}: bad MAC address '{value}'";
                        return false;
                    }
                    if (!(key == "mask" ? mask : reserve).TryAdd(mac))
                    {
                        error = $"line {i + 1}: more than {(key == "mask" ? MaskListCapacity : ReserveListCapacity)} {key} entries";
                        return false;
                    }
                    break;
                case "write-cache":
                    if (value != "on" && value != "off")
                    {
                        error = $"line {i + 1}: write-cache must be 'on' or 'off'";
                        return false;
                    }
                    writeCache = value == "on";
                    break;
                default:
                    error = $"line {i + 1}: unknown item '{key}'";
                    return false;
            }
        }
        if (!sawHeader)
        {
            error = $"missing '{StateHeader}' header";
            return false;
        }
        ReplaceState(config.AsSpan(0, configLength), mask, reserve, writeCache);
        return true;
    }

    /// <summary>
    /// Replaces the config string, Mac Mask List and reserve list at once (an import of ggaoed 1.1
    /// state, see <see cref="LegacyStateFiles"/>); bumps <see cref="StateVersion"/> when anything
    /// changed. Duplicates collapse; more distinct MACs than a list holds is an argument error (the
    /// legacy parser already cut them). Reserve entries are dropped on a <see cref="Shared"/> device.
    /// </summary>
    public void ImportState(ReadOnlySpan<byte> config, ReadOnlySpan<MacAddress> mask, ReadOnlySpan<MacAddress> reserve)
    {
        if (config.Length > AoeWire.MaxConfigStringLength)
            throw new ArgumentException("AoE config strings are at most 1024 bytes", nameof(config));
        ReplaceState(config, ToList(mask, MaskListCapacity, nameof(mask)), ToList(reserve, ReserveListCapacity, nameof(reserve)),
            _writeCacheChosen);
    }

    private static MacList ToList(ReadOnlySpan<MacAddress> macs, int capacity, string name)
    {
        var list = new MacList(capacity);
        foreach (MacAddress mac in macs)
        {
            if (!list.TryAdd(mac))
                throw new ArgumentException($"more than {capacity} MACs", name);
        }
        return list;
    }

    private void ReplaceState(ReadOnlySpan<byte> config, MacList mask, MacList reserve, bool? writeCache)
    {
        if (_shared)
            reserve.Clear();
        if (_writeCachePinned)
            writeCache = null;
        bool changed = !ConfigEquals(config) || !MaskList.SequenceEqual(mask) || !ReserveList.SequenceEqual(reserve)
            || writeCache != _writeCacheChosen;
        config.CopyTo(_config);
        ConfigLength = config.Length;
        MaskList.CopyFrom(mask);
        ReserveList.CopyFrom(reserve);
        _writeCacheChosen = writeCache;
        _identifyValid = false;
        if (changed)
            StateVersion++;
    }

    private static bool TryParseHex(string hex, byte[] destination, out int length)
    {
        length = hex.Length / 2;
        for (int i = 0; i < length; i++)
        {
            int hi = HexValue(hex[2 * i]);
            int lo = HexValue(hex[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return false;
            destination[i] = (byte)(hi << 4 | lo);
        }
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
