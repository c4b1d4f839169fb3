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

    /// <summary>Our version, 2.0, as the AoE config reply's big-endian firmware version.</summary>
    public const ushort DefaultFirmwareVersion = 0x0200;

    public const string DefaultModel = "ggaoed";
    public const string DefaultFirmwareRevision = "2.0.0";

    private readonly byte[] _config = new byte[AoeWire.MaxConfigStringLength];
    private readonly byte[] _identify = new byte[512];
    private bool _identifyValid;
    private ushort _bufferCount = DefaultBufferCount;
    private bool _writeCache;
    private bool _shared;
    private string _model = DefaultModel;
    private string _serial;
    private string _firmwareRevision = DefaultFirmwareRevision;

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
    /// this drops any reservation the device had.
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

    public ushort FirmwareVersion { get; set; } = DefaultFirmwareVersion;

    /// <summary>The volatile write cache state IDENTIFY reports; SET FEATURES 0x02/0x82 changes it.</summary>
    public bool WriteCache
    {
        get => _writeCache;
        set { _writeCache = value; _identifyValid = false; }
    }

    /// <summary>IDENTIFY model number (words 27-46, at most 40 ASCII characters).</summary>
    public string Model
    {
        get => _model;
        set { _model = value ?? DefaultModel; _identifyValid = false; }
    }

    /// <summary>IDENTIFY serial number (words 10-19, at most 20 characters); defaults to "shelf.slot".</summary>
    public string Serial
    {
        get => _serial;
        set { _serial = string.IsNullOrEmpty(value) ? DefaultSerial(Shelf, Slot) : value; _identifyValid = false; }
    }

    /// <summary>IDENTIFY firmware revision (words 23-26, at most 8 characters).</summary>
    public string FirmwareRevision
    {
        get => _firmwareRevision;
        set { _firmwareRevision = value ?? DefaultFirmwareRevision; _identifyValid = false; }
    }

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
    /// Reserve set/force set, Query Config set/force set); others get the error listed in
    /// README.md. <c>null</c> (the default) = anyone who sees the device may;
    /// <see cref="MacSet.Empty"/> = nobody may.
    /// </summary>
    public MacSet? AdminAcceptList { get; set; }

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
    /// ggaoed-state 1
    /// config 6869          (hex of the config string bytes; line omitted when empty)
    /// mask 00:11:22:33:44:55
    /// reserve 00:11:22:33:44:55
    /// </code>
    /// Hex keeps arbitrary config bytes on one line; MACs are readable for an operator.
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
        return sb.ToString();
    }

    private const string StateHeader = "ggaoed-state 1";

    /// <summary>
    /// Loads state written by <see cref="SerializeState"/>. All or nothing: on error nothing changes and
    /// <paramref name="error"/> says which line is wrong. Bumps <see cref="StateVersion"/> when anything changed.
    /// </summary>
    public bool TryLoadState(string text, out string? error)
    {
        error = null;
        var config = new byte[AoeWire.MaxConfigStringLength];
        int configLength = 0;
        var mask = new MacList(MaskListCapacity);
        var reserve = new MacList(ReserveListCapacity);
        string[] lines = text.Split('\n');
        bool sawHeader = false;
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            if (!sawHeader)
            {
                if (line != StateHeader)
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

        bool changed = !ConfigEquals(config.AsSpan(0, configLength)) || !MaskList.SequenceEqual(mask) || !ReserveList.SequenceEqual(reserve);
        config.AsSpan(0, configLength).CopyTo(_config);
        ConfigLength = configLength;
        MaskList.CopyFrom(mask);
        ReserveList.CopyFrom(reserve);
        if (changed)
            StateVersion++;
        return true;
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
