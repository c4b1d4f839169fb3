using System;
using System.Buffers.Binary;
using Ggaoed.Protocol;
using Ggaoed.Storage;

namespace Ggaoed.Tests.Protocol;

/// <summary>How far a frame got through the gates every frame passes (README "Who may do what").</summary>
internal enum FuzzGate
{
    /// <summary>Not AoE, a response, not for our MAC, from a group MAC, or another shelf/slot: silent, uncounted.</summary>
    Ignored,
    /// <summary>Deny, accept or Mac Mask List hides the device from the sender: counted Denied.</summary>
    Denied,
    /// <summary>ATA to a broadcast shelf/slot: counted BroadcastIgnored.</summary>
    BroadcastAta,
    /// <summary>A state change to a broadcast shelf/slot: counted AdminBroadcastRefused.</summary>
    BroadcastStateChange,
    /// <summary>Reached a command handler: counted Requests.</summary>
    Handled,
}

/// <summary>What the model says <see cref="AoeEngine.Handle"/> must do with one frame.</summary>
internal struct FuzzExpectation
{
    public FuzzGate Gate;
    public AoeDecision Decision;
    /// <summary>Reply length (padded) when <see cref="Decision"/> is Reply.</summary>
    public int ReplyLength;
    /// <summary>AoE error code of the reply (Error flag), 0 for none.</summary>
    public byte AoeError;
    /// <summary>ATA error register of an ATA reply without the AoE Error flag (0 = success).</summary>
    public byte AtaError;
    /// <summary>Mac Mask reply: MError and Dir Count of an MError reply.</summary>
    public byte MaskError, MaskDirCount;
    public bool AdminRefused, Oversized;
    /// <summary>The model changed the persistent state (config string, lists, write cache choice).</summary>
    public bool StateChanged;
    public IoKind IoKind;
    public ulong IoLba;
    public int IoSectors;
}

/// <summary>
/// A second, separate statement of the target's rules, written from Ggaoed/Protocol/README.md and
/// AoEr11 rather than from AoeEngine.cs: the gates (addressing, visibility, broadcast), every
/// command's outcome (decision, error code, reply size and whether it fits the MTU) and the state it
/// changes. Where the README leaves the order of two checks open (a set from outside admin-accept
/// that is also malformed, say), it takes the order AoeEngine documents. It keeps its own copy of
/// the device's state (config string, Mac Mask List, reserve list, write cache choice) and applies
/// each frame to it; the fuzz compares the target against it frame by frame.
/// </summary>
internal sealed class AoeReferenceModel
{
    private readonly FuzzTargetConfig _cfg;
    private readonly MacAddress[] _accept, _deny, _admin;

    public readonly byte[] Config = new byte[AoeWire.MaxConfigStringLength];
    public int ConfigLength;
    public readonly MacAddress[] Mask = new MacAddress[AoeTarget.MaskListCapacity];
    public int MaskCount;
    public readonly MacAddress[] Reserve = new MacAddress[AoeTarget.ReserveListCapacity];
    public int ReserveCount;
    private bool? _writeCacheChosen;
    private readonly MacAddress[] _scratch = new MacAddress[AoeTarget.ReserveListCapacity];

    public AoeReferenceModel(FuzzTargetConfig cfg)
    {
        _cfg = cfg;
        _accept = FuzzPool.Macs(cfg.Accept);
        _deny = FuzzPool.Macs(cfg.Deny);
        _admin = FuzzPool.Macs(cfg.Admin);
        ConfigLength = cfg.Config.Length;
        for (int i = 0; i < ConfigLength; i++)
            Config[i] = (byte)cfg.Config[i];
        foreach (MacAddress m in FuzzPool.Macs(cfg.Mask))
            Mask[MaskCount++] = m;
        if (!cfg.Shared) // a shared device keeps no reservation (README)
        {
            foreach (MacAddress m in FuzzPool.Macs(cfg.Reserve))
                Reserve[ReserveCount++] = m;
        }
    }

    public ReadOnlySpan<byte> ConfigString => Config.AsSpan(0, ConfigLength);
    public ReadOnlySpan<MacAddress> MaskList => Mask.AsSpan(0, MaskCount);
    public ReadOnlySpan<MacAddress> ReserveList => Reserve.AsSpan(0, ReserveCount);
    public bool WriteCache => _cfg.WriteCachePinned ? _cfg.WriteCacheEnabled : _writeCacheChosen ?? _cfg.WriteCacheEnabled;
    public bool Reserved => ReserveCount > 0;

    public bool IsVisibleTo(MacAddress source) =>
        !Has(_deny, source) && (_cfg.Accept < 0 || Has(_accept, source)) && (MaskCount == 0 || Has(MaskList, source));

    public bool IsAdmin(MacAddress source) => _cfg.Admin < 0 || Has(_admin, source);

    public bool IsReservedAgainst(MacAddress source) => ReserveCount > 0 && !Has(ReserveList, source);

    private static bool Has(ReadOnlySpan<MacAddress> list, MacAddress mac) => list.IndexOf(mac) >= 0;

    private static byte At(ReadOnlySpan<byte> f, int offset) => offset < f.Length ? f[offset] : (byte)0;

    /// <summary>Predicts the outcome of one frame and applies the state change it makes.</summary>
    public FuzzExpectation Apply(ReadOnlySpan<byte> f, in AoeInterface iface)
    {
        var e = new FuzzExpectation { Gate = FuzzGate.Ignored, Decision = AoeDecision.Drop };
        if (f.Length < 24 || BinaryPrimitives.ReadUInt16BigEndian(f.Slice(12)) != AoeWire.EtherType || (f[14] & AoeWire.FlagResponse) != 0)
            return e;
        MacAddress destination = MacAddress.Read(f), source = MacAddress.Read(f.Slice(6));
        if ((destination != iface.Mac && !destination.IsGroup) || source.IsGroup)
            return e;
        ushort shelf = BinaryPrimitives.ReadUInt16BigEndian(f.Slice(16));
        byte slot = f[18];
        if ((shelf != _cfg.Shelf && shelf != 0xFFFF) || (slot != _cfg.Slot && slot != 0xFF))
            return e;
        if (!IsVisibleTo(source))
        {
            e.Gate = FuzzGate.Denied;
            return e;
        }
        byte command = f[19];
        bool broadcast = shelf == 0xFFFF || slot == 0xFF;
        if (broadcast && command == AoeWire.CmdAta)
        {
            e.Gate = FuzzGate.BroadcastAta;
            return e;
        }
        if (broadcast && ChangesState(f, command))
        {
            e.Gate = FuzzGate.BroadcastStateChange;
            return e;
        }
        e.Gate = FuzzGate.Handled;
        var ctx = new Ctx(f, iface, source);
        if (f[14] >> 4 != 1)
            AoeError(ref e, AoeWire.ErrUnsupportedVersion);
        else if (command == AoeWire.CmdAta)
            AtaCommand(ref e, ctx);
        else if (command == AoeWire.CmdQueryConfig)
            QueryConfig(ref e, ctx);
        else if (command == AoeWire.CmdMacMask)
            MacMask(ref e, ctx);
        else if (command == AoeWire.CmdReserve)
            ReserveRelease(ref e, ctx);
        else
            AoeError(ref e, AoeWire.ErrUnrecognizedCommand);
        return e;
    }

    /// <summary>README: config set-if-empty / force set, Mask edit, Reserve set / force set; missing bytes read 0.</summary>
    public static bool ChangesState(ReadOnlySpan<byte> f, byte command) => command switch
    {
        AoeWire.CmdQueryConfig => (At(f, 29) & 0x0F) is 3 or 4,
        AoeWire.CmdMacMask => At(f, 25) == 1,
        AoeWire.CmdReserve => At(f, 24) is 1 or 2,
        _ => false,
    };

    private readonly ref struct Ctx(ReadOnlySpan<byte> frame, in AoeInterface iface, MacAddress source)
    {
        public readonly ReadOnlySpan<byte> F = frame;
        public readonly int MaxSectors = iface.MaxSectors;
        /// <summary>A reply fits when its padded length fits the MTU (or is the 60-byte minimum).</summary>
        public readonly int Room = Math.Max(iface.MaxFrameLength, 60);
        public readonly MacAddress Source = source;
    }

    private static void Reply(ref FuzzExpectation e, in Ctx ctx, int length)
    {
        length = Math.Max(length, 60);
        if (length > ctx.Room)
        {
            e.Decision = AoeDecision.Drop; // does not fit the interface: no answer, counted Unanswered
            return;
        }
        e.Decision = AoeDecision.Reply;
        e.ReplyLength = length;
    }

    private static void AoeError(ref FuzzExpectation e, byte code)
    {
        e.Decision = AoeDecision.Reply;
        e.ReplyLength = 60; // header + up to 36 bytes of argument echoed, padded
        e.AoeError = code;
    }

    private static void AtaReply(ref FuzzExpectation e, byte error)
    {
        e.Decision = AoeDecision.Reply;
        e.ReplyLength = 60;
        e.AtaError = error;
    }

    // ---- ATA: README "Decisions" rows for sizes, LBA, read-only, unknown commands, reservations ----------

    private void AtaCommand(ref FuzzExpectation e, in Ctx ctx)
    {
        ReadOnlySpan<byte> f = ctx.F;
        if (f.Length < 36)
        {
            AoeError(ref e, AoeWire.ErrBadArgument);
            return;
        }
        byte feature = f[25], count = f[26], command = f[27];
        if (command != Ata.CmdIdentify && IsReservedAgainst(ctx.Source))
        {
            AoeError(ref e, AoeWire.ErrTargetReserved);
            return;
        }
        switch (command)
        {
            case 0x20 or 0xC8 or 0x24 or 0x25 or 0x30 or 0xCA or 0x34 or 0x35:
            {
                bool write = command is 0x30 or 0xCA or 0x34 or 0x35;
                bool lba48 = command is 0x24 or 0x25 or 0x34 or 0x35;
                ulong raw = BinaryPrimitives.ReadUInt32LittleEndian(f.Slice(28)) | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(f.Slice(32)) << 32;
                ulong lba = lba48 ? raw : raw & 0x0FFF_FFFF;
                if (write && _cfg.ReadOnly)
                {
                    AtaReply(ref e, Ata.ErrorAbrt);
                }
                else if (count == 0 || count > ctx.MaxSectors || (write && count * 512 > f.Length - 36))
                {
                    e.Oversized = true;
                    AtaReply(ref e, Ata.ErrorAbrt);
                }
                else if (lba >= _cfg.Sectors || count > _cfg.Sectors - lba)
                {
                    AtaReply(ref e, Ata.ErrorIdnf);
                }
                else
                {
                    e.Decision = AoeDecision.Io;
                    e.IoKind = write ? IoKind.Write : IoKind.Read;
                    e.IoLba = lba;
                    e.IoSectors = count;
                }
                return;
            }
            case Ata.CmdIdentify:
                Reply(ref e, ctx, 36 + 512);
                return;
            case Ata.CmdFlushCache or Ata.CmdFlushCacheExt:
                e.Decision = AoeDecision.Io;
                e.IoKind = IoKind.Flush;
                return;
            case Ata.CmdCheckPowerMode:
                AtaReply(ref e, 0);
                return;
            case Ata.CmdSetFeatures:
                if (feature is not (Ata.FeatureEnableWriteCache or Ata.FeatureDisableWriteCache))
                {
                    AtaReply(ref e, Ata.ErrorAbrt);
                    return;
                }
                if (!IsAdmin(ctx.Source))
                {
                    e.AdminRefused = true;
                    AtaReply(ref e, Ata.ErrorAbrt);
                    return;
                }
                bool enable = feature == Ata.FeatureEnableWriteCache;
                if (_cfg.WriteCachePinned)
                {
                    // A drive that cannot change it aborts; asking for the pinned state succeeds.
                    AtaReply(ref e, enable == _cfg.WriteCacheEnabled ? (byte)0 : Ata.ErrorAbrt);
                    return;
                }
                if (_writeCacheChosen != enable)
                {
                    _writeCacheChosen = enable;
                    e.StateChanged = true;
                }
                AtaReply(ref e, 0);
                return;
            case Ata.CmdSmart when feature == Ata.SmartReturnStatus:
                AtaReply(ref e, 0);
                return;
            default:
                AtaReply(ref e, Ata.ErrorAbrt);
                return;
        }
    }

    // ---- Query Config (AoEr11 3.2; README: set refused outside admin-accept with error 4) --------------

    private void QueryConfig(ref FuzzExpectation e, in Ctx ctx)
    {
        ReadOnlySpan<byte> f = ctx.F;
        int ccmd = At(f, 29) & 0x0F;
        int length = At(f, 30) << 8 | At(f, 31);
        if (ccmd == 0)
        {
            Reply(ref e, ctx, 32 + ConfigLength);
            return;
        }
        if (ccmd > 4)
        {
            AoeError(ref e, AoeWire.ErrBadArgument);
            return;
        }
        if (ccmd >= 3 && !IsAdmin(ctx.Source))
        {
            e.AdminRefused = true;
            ConfigError(ref e, ctx);
            return;
        }
        if (length > AoeWire.MaxConfigStringLength || 32 + length > f.Length)
        {
            AoeError(ref e, AoeWire.ErrBadArgument);
            return;
        }
        ReadOnlySpan<byte> value = f.Slice(32, length);
        switch (ccmd)
        {
            case 1:
            case 2:
                // A test that does not match stays silent, so a broadcast test finds only the matches.
                if (ccmd == 1 ? ConfigString.SequenceEqual(value) : ConfigString.StartsWith(value))
                    Reply(ref e, ctx, 32 + ConfigLength);
                return;
            case 3 when ConfigLength != 0 && !ConfigString.SequenceEqual(value):
                ConfigError(ref e, ctx);
                return;
            default:
                if (!ConfigString.SequenceEqual(value))
                {
                    value.CopyTo(Config);
                    ConfigLength = length;
                    e.StateChanged = true;
                }
                Reply(ref e, ctx, 32 + ConfigLength);
                return;
        }
    }

    /// <summary>Error 4 with the string the device keeps; a reply that does not fit is not sent (nor counted as an error).</summary>
    private void ConfigError(ref FuzzExpectation e, in Ctx ctx)
    {
        Reply(ref e, ctx, 32 + ConfigLength);
        if (e.Decision == AoeDecision.Reply)
            e.AoeError = AoeWire.ErrConfigStringPresent;
    }

    // ---- Mac Mask List (AoEr11 3.3; README: MError 1 outside admin-accept, list full = MError 3) ---------

    private void MacMask(ref FuzzExpectation e, in Ctx ctx)
    {
        ReadOnlySpan<byte> f = ctx.F;
        int mcmd = At(f, 25), count = At(f, 27);
        if (mcmd == 0)
        {
            Reply(ref e, ctx, 28 + 8 * MaskCount);
            return;
        }
        if (mcmd != 1 || !IsAdmin(ctx.Source))
        {
            e.AdminRefused = mcmd == 1;
            MaskError(ref e, AoeWire.MErrUnspecified, 0);
            return;
        }
        if (28 + 8 * count > f.Length)
        {
            AoeError(ref e, AoeWire.ErrBadArgument);
            return;
        }
        // Directives apply in order and stay applied when a later one fails.
        for (int i = 0; i < count; i++)
        {
            byte dcmd = f[28 + 8 * i + 1];
            MacAddress mac = MacAddress.Read(f.Slice(28 + 8 * i + 2));
            int at = MaskList.IndexOf(mac);
            if (dcmd == AoeWire.DCmdNone || (dcmd == AoeWire.DCmdAdd && at >= 0))
                continue;
            if (dcmd == AoeWire.DCmdAdd)
            {
                if (MaskCount == Mask.Length)
                {
                    MaskError(ref e, AoeWire.MErrListFull, (byte)i);
                    return;
                }
                Mask[MaskCount++] = mac;
                e.StateChanged = true;
            }
            else if (dcmd == AoeWire.DCmdDelete)
            {
                if (at >= 0)
                {
                    Array.Copy(Mask, at + 1, Mask, at, MaskCount - at - 1);
                    MaskCount--;
                    e.StateChanged = true;
                }
            }
            else
            {
                MaskError(ref e, AoeWire.MErrBadDirective, (byte)i);
                return;
            }
        }
        Reply(ref e, ctx, 28 + 8 * MaskCount);
    }

    private static void MaskError(ref FuzzExpectation e, byte merror, byte dirCount)
    {
        e.Decision = AoeDecision.Reply;
        e.ReplyLength = 60; // the 4-byte header only
        e.MaskError = merror;
        e.MaskDirCount = dirCount;
    }

    // ---- Reserve/Release (AoEr11 3.4; README: error 6 outside admin-accept, error 2 on a shared device) -

    private void ReserveRelease(ref FuzzExpectation e, in Ctx ctx)
    {
        ReadOnlySpan<byte> f = ctx.F;
        int rcmd = At(f, 24), count = At(f, 25);
        if (rcmd == 0)
        {
            Reply(ref e, ctx, 26 + 6 * ReserveCount);
            return;
        }
        if (rcmd > 2)
        {
            AoeError(ref e, AoeWire.ErrBadArgument);
            return;
        }
        if (!IsAdmin(ctx.Source))
        {
            e.AdminRefused = true;
            AoeError(ref e, AoeWire.ErrTargetReserved);
            return;
        }
        if (_cfg.Shared)
        {
            AoeError(ref e, AoeWire.ErrBadArgument);
            return;
        }
        if (rcmd == 1 && IsReservedAgainst(ctx.Source))
        {
            AoeError(ref e, AoeWire.ErrTargetReserved);
            return;
        }
        if (26 + 6 * count > f.Length || count > Reserve.Length)
        {
            AoeError(ref e, AoeWire.ErrBadArgument);
            return;
        }
        int n = 0;
        for (int i = 0; i < count; i++)
        {
            MacAddress mac = MacAddress.Read(f.Slice(26 + 6 * i));
            if (_scratch.AsSpan(0, n).IndexOf(mac) < 0)
                _scratch[n++] = mac;
        }
        if (!_scratch.AsSpan(0, n).SequenceEqual(ReserveList))
        {
            _scratch.AsSpan(0, n).CopyTo(Reserve);
            ReserveCount = n;
            e.StateChanged = true;
        }
        Reply(ref e, ctx, 26 + 6 * ReserveCount);
    }
}
