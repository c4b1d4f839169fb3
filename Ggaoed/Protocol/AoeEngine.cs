using System;
using System.Buffers.Binary;
using Ggaoed.Storage;

namespace Ggaoed.Protocol;

/// <summary>
/// The AoE target protocol: one received frame and one device in, a decision and (for replies) the
/// complete reply frame out. Pure and allocation-free: no syscalls, no exceptions on malformed input.
/// </summary>
/// <remarks>
/// Order of checks for every frame, each failing one ending in silence unless noted:
/// complete 24-byte AoE header and EtherType 0x88A2; Response flag clear (our own and other targets'
/// replies); destination is our MAC or a group address; source is a unicast MAC (we could not answer
/// otherwise); shelf/slot address this device (or broadcast); the device is visible to the source
/// (deny, accept, Mac Mask List); a broadcast shelf/slot carries neither ATA nor a command that
/// changes state; then version 1 (else AoE error 5) and the command (else AoE error 1). State
/// changes also need a requester in the admin-accept list (<see cref="AoeTarget.AdminAcceptList"/>).
/// Every error reply is counted once by kind in <see cref="AoeTargetCounters"/>.
/// </remarks>
public static class AoeEngine
{
    /// <summary>
    /// Cheap look at a frame's AoE header so the daemon can find the candidate devices before calling
    /// <see cref="Handle"/>. False when the frame is too short or not AoE.
    /// </summary>
    public static bool TryPeekHeader(ReadOnlySpan<byte> frame, out ushort shelf, out byte slot, out bool isResponse)
    {
        if (frame.Length < AoeWire.ArgOffset || BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(AoeWire.EthTypeOffset)) != AoeWire.EtherType)
        {
            shelf = 0;
            slot = 0;
            isResponse = false;
            return false;
        }
        shelf = BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(AoeWire.MajorOffset));
        slot = frame[AoeWire.MinorOffset];
        isResponse = (frame[AoeWire.VerFlagsOffset] & AoeWire.FlagResponse) != 0;
        return true;
    }

    /// <summary>
    /// Handles one received frame for one device. On <see cref="AoeDecision.Reply"/> the reply frame
    /// (Ethernet header included, padded to 60 bytes) is in reply[..replyLength]. On
    /// <see cref="AoeDecision.Io"/>, <paramref name="io"/> describes the work; nothing was written.
    /// <paramref name="reply"/> should hold at least MTU + 14 bytes; a reply that does not fit it or the
    /// interface MTU is dropped.
    /// </summary>
    public static AoeDecision Handle(ReadOnlySpan<byte> frame, AoeTarget target, in AoeInterface iface,
        Span<byte> reply, out int replyLength, out AoeIoRequest io)
    {
        replyLength = 0;
        io = default;
        if (!TryPeekHeader(frame, out ushort shelf, out byte slot, out bool isResponse) || isResponse)
            return AoeDecision.Drop;

        MacAddress destination = MacAddress.Read(frame.Slice(AoeWire.EthDestinationOffset));
        if (destination != iface.Mac && !destination.IsGroup)
            return AoeDecision.Drop;
        MacAddress source = MacAddress.Read(frame.Slice(AoeWire.EthSourceOffset));
        if (source.IsGroup)
            return AoeDecision.Drop;
        if (!target.IsAddressedBy(shelf, slot))
            return AoeDecision.Drop;
        AoeTargetCounters counters = target.Counters;
        if (!target.IsVisibleTo(source))
        {
            counters.Denied++;
            return AoeDecision.Drop;
        }

        // AoE has no authentication, so one broadcast frame from anyone on the segment reaches every
        // device of every target. It may discover and read (Query Config, Mask and Reserve reads);
        // it may not do I/O or change state, and it gets no answer: silence keeps a flood from
        // being amplified into one reply per device.
        byte command = frame[AoeWire.CommandOffset];
        if (shelf == AoeWire.BroadcastShelf || slot == AoeWire.BroadcastSlot)
        {
            if (command == AoeWire.CmdAta)
            {
                counters.BroadcastIgnored++;
                return AoeDecision.Drop;
            }
            if (ChangesState(frame, command))
            {
                counters.AdminBroadcastRefused++;
                return AoeDecision.Drop;
            }
        }

        counters.Requests++;
        var ctx = new Context(frame, target, iface, source, reply);
        AoeDecision decision;
        if (frame[AoeWire.VerFlagsOffset] >> 4 != AoeWire.Version)
        {
            decision = ctx.AoeError(AoeWire.ErrUnsupportedVersion, out replyLength);
        }
        else
        {
            decision = command switch
            {
                AoeWire.CmdAta => HandleAta(ref ctx, out replyLength, out io),
                AoeWire.CmdQueryConfig => HandleConfig(ref ctx, out replyLength),
                AoeWire.CmdMacMask => HandleMacMask(ref ctx, out replyLength),
                AoeWire.CmdReserve => HandleReserve(ref ctx, out replyLength),
                _ => ctx.AoeError(AoeWire.ErrUnrecognizedCommand, out replyLength),
            };
        }

        switch (decision)
        {
            case AoeDecision.Io:
                counters.IoRequests++;
                break;
            case AoeDecision.Reply:
                counters.Replies++;
                if ((reply[AoeWire.VerFlagsOffset] & AoeWire.FlagError) != 0)
                    counters.CountAoeError(reply[AoeWire.ErrorOffset]);
                else if (command == AoeWire.CmdAta && (reply[AoeWire.AtaCmdStatusOffset] & Ata.StatusError) != 0)
                    counters.CountAtaError(reply[AoeWire.AtaErrFeatureOffset]);
                else if (command == AoeWire.CmdMacMask && reply[AoeWire.MaskErrorOffset] != 0)
                    counters.MaskErrors++;
                break;
            default:
                counters.Unanswered++;
                break;
        }
        return decision;
    }

    /// <summary>
    /// Whether a request would change the device's persistent state: Query Config set-if-empty or
    /// force set, Mac Mask edit, Reserve set or force set (a release is a set with no MACs). Read
    /// and test sub-commands, and unknown ones (answered with an error), do not. ATA is decided
    /// apart (SET FEATURES in <see cref="HandleAta"/>). Missing argument bytes read as zero.
    /// </summary>
    private static bool ChangesState(ReadOnlySpan<byte> frame, byte command) => command switch
    {
        AoeWire.CmdQueryConfig => (ByteAt(frame, AoeWire.CfgVerCmdOffset) & 0x0F) is AoeWire.CCmdSetIfEmpty or AoeWire.CCmdForceSet,
        AoeWire.CmdMacMask => ByteAt(frame, AoeWire.MaskCmdOffset) == AoeWire.MCmdEdit,
        AoeWire.CmdReserve => ByteAt(frame, AoeWire.ReserveCmdOffset) is AoeWire.RCmdSet or AoeWire.RCmdForceSet,
        _ => false,
    };

    /// <summary>Whether the requester may change state (admin-accept list); counts a refusal.</summary>
    private static bool IsAdmin(ref Context ctx)
    {
        if (ctx.Target.IsAdmin(ctx.Source))
            return true;
        ctx.Target.Counters.AdminRefused++;
        return false;
    }

    // ---- ATA (AoEr11 section 3.1) --------------------------------------------------------------------

    private static AoeDecision HandleAta(ref Context ctx, out int replyLength, out AoeIoRequest io)
    {
        io = default;
        ReadOnlySpan<byte> frame = ctx.Frame;
        // Without the 12-byte ATA header there is no command to run: AoE error 2, as AoEr11 says for an
        // argument that is too short (no I/O either way).
        if (frame.Length < AoeWire.AtaPayloadOffset)
            return ctx.AoeError(AoeWire.ErrBadArgument, out replyLength);

        AoeTarget target = ctx.Target;
        byte aflags = frame[AoeWire.AtaAflagsOffset];
        byte feature = frame[AoeWire.AtaErrFeatureOffset];
        byte count = frame[AoeWire.AtaSectorCountOffset];
        byte ataCommand = frame[AoeWire.AtaCmdStatusOffset];
        ulong rawLba = ReadLba(frame.Slice(AoeWire.AtaLbaOffset));

        // A reservation locks out every ATA command from other MACs except IDENTIFY, so other hosts
        // still see what the device is (vblade's choice; AoEr11 3.4 says "ATA commands").
        if (ataCommand != Ata.CmdIdentify && target.IsReservedAgainst(ctx.Source))
            return ctx.AoeError(AoeWire.ErrTargetReserved, out replyLength);

        switch (ataCommand)
        {
            case Ata.CmdReadSectors:
            case Ata.CmdReadDma:
            case Ata.CmdReadSectorsExt:
            case Ata.CmdReadDmaExt:
            case Ata.CmdWriteSectors:
            case Ata.CmdWriteDma:
            case Ata.CmdWriteSectorsExt:
            case Ata.CmdWriteDmaExt:
                return HandleReadWrite(ref ctx, aflags, count, ataCommand, rawLba, out replyLength, out io);

            case Ata.CmdIdentify:
            {
                const int length = AoeWire.AtaPayloadOffset + AtaIdentify.BlockLength;
                if (!ctx.Fits(length))
                    return Dropped(out replyLength);
                ctx.WriteAtaReply(Ata.StatusOk, 0, count, rawLba);
                target.IdentifyBlock.CopyTo(ctx.Reply.Slice(AoeWire.AtaPayloadOffset));
                replyLength = length;
                return AoeDecision.Reply;
            }

            case Ata.CmdFlushCache:
            case Ata.CmdFlushCacheExt:
                io = new AoeIoRequest(IoKind.Flush, 0, 0, ctx.Tag, ctx.Source, target.Shelf, target.Slot,
                    aflags, ataCommand, count, rawLba, 0, 0);
                replyLength = 0;
                return AoeDecision.Io;

            case Ata.CmdCheckPowerMode:
                return ctx.AtaReply(Ata.StatusOk, 0, Ata.PowerModeActive, rawLba, out replyLength);

            case Ata.CmdSetFeatures:
                // Enable/disable write cache, the only features we have. ABRT is what a drive answers
                // to a feature it does not support or will not change: here also for a requester
                // outside admin-accept, or a change to a state the configuration pins.
                if ((feature != Ata.FeatureEnableWriteCache && feature != Ata.FeatureDisableWriteCache)
                    || !IsAdmin(ref ctx) || !target.TrySetWriteCacheFromInitiator(feature == Ata.FeatureEnableWriteCache))
                    return ctx.AtaReply(Ata.StatusFailed, Ata.ErrorAbrt, count, rawLba, out replyLength);
                return ctx.AtaReply(Ata.StatusOk, 0, count, rawLba, out replyLength);

            case Ata.CmdSmart when feature == Ata.SmartReturnStatus:
            {
                // "No threshold exceeded": LBA mid 0x4F, LBA high 0xC2 (ATA8-ACS 7.52.7).
                ulong lba = (rawLba & ~0xFFFF00UL) | (0x4FUL << 8) | (0xC2UL << 16);
                return ctx.AtaReply(Ata.StatusOk, 0, count, lba, out replyLength);
            }

            default:
                return ctx.AtaReply(Ata.StatusFailed, Ata.ErrorAbrt, count, rawLba, out replyLength);
        }
    }

    private static AoeDecision HandleReadWrite(ref Context ctx, byte aflags, byte count, byte ataCommand, ulong rawLba,
        out int replyLength, out AoeIoRequest io)
    {
        io = default;
        AoeTarget target = ctx.Target;
        bool write = ataCommand is Ata.CmdWriteSectors or Ata.CmdWriteDma or Ata.CmdWriteSectorsExt or Ata.CmdWriteDmaExt;
        // LBA28 or LBA48 follows the command code, as ATA defines it (and vblade and Coraid do), not the
        // AoE E flag (ggaoed 1.1): Linux always sends them consistently, and the command code is the one
        // a disk would obey. LBA28 uses 28 bits; Linux puts 0xE0 | bits 24-27 in lba3 (AOE-NOTES 0.9).
        bool lba48 = ataCommand is Ata.CmdReadSectorsExt or Ata.CmdReadDmaExt or Ata.CmdWriteSectorsExt or Ata.CmdWriteDmaExt;
        ulong lba = lba48 ? rawLba : rawLba & 0x0FFF_FFFF;

        // ATA errors, not AoE errors: Linux turns an AoE error into a timeout and endless retransmits
        // (AOE-NOTES 0.7).
        if (write && target.ReadOnly)
            return ctx.AtaReply(Ata.StatusFailed, Ata.ErrorAbrt, count, rawLba, out replyLength);
        // Oversized: more sectors than this interface carries (what we advertise in Query Config, and
        // what the daemon sizes its buffers for), or a write whose frame holds less data than its
        // count. A count of 0 means 256 (LBA28) or 65536 (LBA48) sectors in ATA: oversized too.
        int bytes = count * Sector.Size;
        if (count == 0 || count > ctx.Iface.MaxSectors || (write && bytes > ctx.Frame.Length - AoeWire.AtaPayloadOffset))
        {
            target.Counters.Oversized++;
            return ctx.AtaReply(Ata.StatusFailed, Ata.ErrorAbrt, count, rawLba, out replyLength);
        }
        if (lba >= target.SectorCount || (ulong)count > target.SectorCount - lba)
            return ctx.AtaReply(Ata.StatusFailed, Ata.ErrorIdnf, count, rawLba, out replyLength);

        replyLength = 0;
        io = new AoeIoRequest(write ? IoKind.Write : IoKind.Read, lba, count, ctx.Tag, ctx.Source,
            target.Shelf, target.Slot, aflags, ataCommand, count, rawLba,
            write ? AoeWire.AtaPayloadOffset : 0, write ? bytes : 0);
        return AoeDecision.Io;
    }

    // ---- Query Config (AoEr11 section 3.2) ------------------------------------------------------------

    private static AoeDecision HandleConfig(ref Context ctx, out int replyLength)
    {
        ReadOnlySpan<byte> frame = ctx.Frame;
        AoeTarget target = ctx.Target;
        // Missing argument bytes read as zero: Linux sends 32-byte queries and nmap none at all
        // (AOE-NOTES 0.12). The version nibble is not checked: Linux leaves it 0 (AOE-NOTES 0.2).
        byte ccmd = (byte)(ByteAt(frame, AoeWire.CfgVerCmdOffset) & 0x0F);
        int length = ByteAt(frame, AoeWire.CfgLengthOffset) << 8 | ByteAt(frame, AoeWire.CfgLengthOffset + 1);

        if (ccmd == AoeWire.CCmdRead)
            return ConfigReply(ref ctx, ccmd, 0, out replyLength);
        if (ccmd > AoeWire.CCmdForceSet)
            return ctx.AoeError(AoeWire.ErrBadArgument, out replyLength);
        // A set from outside admin-accept gets AoEr11's refusal of a set, error 4, with the string
        // the device keeps (whether empty or not): the change was not made.
        if (ccmd >= AoeWire.CCmdSetIfEmpty && !IsAdmin(ref ctx))
            return ConfigReply(ref ctx, ccmd, AoeWire.ErrConfigStringPresent, out replyLength);
        if (length > AoeWire.MaxConfigStringLength || length > frame.Length - AoeWire.CfgStringOffset)
            return ctx.AoeError(AoeWire.ErrBadArgument, out replyLength);
        ReadOnlySpan<byte> value = frame.Slice(AoeWire.CfgStringOffset, length);

        switch (ccmd)
        {
            case AoeWire.CCmdTestExact:
                // Not ours: stay silent, so a broadcast test finds only the matching devices.
                return target.ConfigEquals(value) ? ConfigReply(ref ctx, ccmd, 0, out replyLength) : Dropped(out replyLength);
            case AoeWire.CCmdTestPrefix:
                return target.ConfigStartsWith(value) ? ConfigReply(ref ctx, ccmd, 0, out replyLength) : Dropped(out replyLength);
            case AoeWire.CCmdSetIfEmpty:
                // Setting the string it already has succeeds: the outcome is what the initiator asked
                // for, and vblade, ggaoed 1.1 and Coraid all accept it (a strict reading of AoEr11 says error 4).
                if (target.ConfigLength != 0 && !target.ConfigEquals(value))
                    return ConfigReply(ref ctx, ccmd, AoeWire.ErrConfigStringPresent, out replyLength);
                target.SetConfigUnchecked(value);
                return ConfigReply(ref ctx, ccmd, 0, out replyLength);
            default: // CCmdForceSet
                target.SetConfigUnchecked(value);
                return ConfigReply(ref ctx, ccmd, 0, out replyLength);
        }
    }

    private static AoeDecision ConfigReply(ref Context ctx, byte ccmd, byte error, out int replyLength)
    {
        AoeTarget target = ctx.Target;
        int length = AoeWire.CfgStringOffset + target.ConfigLength;
        if (!ctx.Fits(length))
            return Dropped(out replyLength);
        ctx.WriteHeader(error);
        WriteConfigArgument(ctx.Reply, target, ctx.Iface, ccmd);
        replyLength = ctx.Finish(length);
        return AoeDecision.Reply;
    }

    /// <summary>The Query Config argument of a reply: buffer count, firmware, sectors per request on this
    /// interface, version/ccmd, and the config string.</summary>
    private static void WriteConfigArgument(Span<byte> reply, AoeTarget target, in AoeInterface iface, byte ccmd)
    {
        BinaryPrimitives.WriteUInt16BigEndian(reply.Slice(AoeWire.CfgBufferCountOffset), target.BufferCount);
        BinaryPrimitives.WriteUInt16BigEndian(reply.Slice(AoeWire.CfgFirmwareOffset), target.FirmwareVersion);
        reply[AoeWire.CfgSectorCountOffset] = (byte)iface.MaxSectors;
        reply[AoeWire.CfgVerCmdOffset] = (byte)(AoeWire.Version << 4 | ccmd);
        BinaryPrimitives.WriteUInt16BigEndian(reply.Slice(AoeWire.CfgLengthOffset), (ushort)target.ConfigLength);
        target.ConfigString.CopyTo(reply.Slice(AoeWire.CfgStringOffset));
    }

    /// <summary>
    /// An advertisement: the unsolicited Query Config response ggaoed 1.1 sends when a device or an
    /// interface appears or changes (tag 0, Response flag, config read). The Linux initiator treats it
    /// as the answer to a discovery it did not send: it learns the device, or its new sectors per
    /// request, and asks IDENTIFY (AOE-NOTES 3.2), without waiting for its 60 s discover timer.
    /// <paramref name="destination"/> is the broadcast address or one accepted initiator. Returns the
    /// frame length (padded to 60), or 0 when the reply does not fit <paramref name="frame"/> or the MTU.
    /// </summary>
    public static int WriteAdvertisement(Span<byte> frame, AoeTarget target, in AoeInterface iface, MacAddress destination)
    {
        int length = AoeWire.CfgStringOffset + target.ConfigLength;
        int padded = Math.Max(length, AoeWire.MinFrameLength);
        if (padded > frame.Length || length > Math.Max(iface.MaxFrameLength, AoeWire.MinFrameLength))
            return 0;
        WriteHeader(frame, destination, iface.Mac, target.Shelf, target.Slot, AoeWire.CmdQueryConfig, tag: 0, error: 0);
        WriteConfigArgument(frame, target, iface, AoeWire.CCmdRead);
        frame.Slice(length, padded - length).Clear();
        return padded;
    }

    // ---- Mac Mask List (AoEr11 section 3.3) -----------------------------------------------------------

    private static AoeDecision HandleMacMask(ref Context ctx, out int replyLength)
    {
        ReadOnlySpan<byte> frame = ctx.Frame;
        MacList mask = ctx.Target.MaskList;
        byte mcmd = ByteAt(frame, AoeWire.MaskCmdOffset);
        int dirCount = ByteAt(frame, AoeWire.MaskDirCountOffset);

        if (mcmd == AoeWire.MCmdRead)
            return MaskReply(ref ctx, mcmd, 0, 0, listed: true, out replyLength);
        if (mcmd != AoeWire.MCmdEdit)
            return MaskReply(ref ctx, mcmd, AoeWire.MErrUnspecified, 0, listed: false, out replyLength);
        // Outside admin-accept: MError 1 (unspecified) with Dir Count 0, no directive applied.
        if (!IsAdmin(ref ctx))
            return MaskReply(ref ctx, mcmd, AoeWire.MErrUnspecified, 0, listed: false, out replyLength);
        if (AoeWire.MaskDirectivesOffset + dirCount * AoeWire.MaskDirectiveLength > frame.Length)
            return ctx.AoeError(AoeWire.ErrBadArgument, out replyLength);

        // Directives apply in order and are not undone on failure; the error reply's Dir Count is the
        // index of the failing directive, so the initiator knows how many took effect (vblade, ggaoed 1.1).
        bool changed = false;
        byte merror = 0;
        int index = 0;
        for (; index < dirCount; index++)
        {
            ReadOnlySpan<byte> directive = frame.Slice(AoeWire.MaskDirectivesOffset + index * AoeWire.MaskDirectiveLength);
            MacAddress mac = MacAddress.Read(directive.Slice(2));
            byte dcmd = directive[1];
            if (dcmd == AoeWire.DCmdNone)
                continue;
            if (dcmd == AoeWire.DCmdAdd)
            {
                if (mask.Contains(mac))
                    continue;
                if (!mask.TryAdd(mac))
                {
                    merror = AoeWire.MErrListFull;
                    break;
                }
                changed = true;
            }
            else if (dcmd == AoeWire.DCmdDelete)
            {
                changed |= mask.Remove(mac);
            }
            else
            {
                merror = AoeWire.MErrBadDirective;
                break;
            }
        }
        if (changed)
            ctx.Target.MarkStateChanged();
        return merror == 0
            ? MaskReply(ref ctx, mcmd, 0, 0, listed: true, out replyLength)
            : MaskReply(ref ctx, mcmd, merror, (byte)index, listed: false, out replyLength);
    }

    /// <summary>
    /// Mask reply: the whole list as directives (DCmd 0, "no directive") on success; on an MError just
    /// the 4-byte header with Dir Count = failing directive index.
    /// </summary>
    private static AoeDecision MaskReply(ref Context ctx, byte mcmd, byte merror, byte dirCount, bool listed, out int replyLength)
    {
        MacList mask = ctx.Target.MaskList;
        int entries = listed ? mask.Count : 0;
        int length = AoeWire.MaskDirectivesOffset + entries * AoeWire.MaskDirectiveLength;
        if (!ctx.Fits(length))
            return Dropped(out replyLength);
        Span<byte> reply = ctx.Reply;
        ctx.WriteHeader(0);
        reply[AoeWire.ArgOffset] = 0;
        reply[AoeWire.MaskCmdOffset] = mcmd;
        reply[AoeWire.MaskErrorOffset] = merror;
        reply[AoeWire.MaskDirCountOffset] = listed ? (byte)entries : dirCount;
        for (int i = 0; i < entries; i++)
        {
            Span<byte> directive = reply.Slice(AoeWire.MaskDirectivesOffset + i * AoeWire.MaskDirectiveLength);
            directive[0] = 0;
            directive[1] = AoeWire.DCmdNone;
            mask[i].Write(directive.Slice(2));
        }
        replyLength = ctx.Finish(length);
        return AoeDecision.Reply;
    }

    // ---- Reserve/Release (AoEr11 section 3.4) ---------------------------------------------------------

    private static AoeDecision HandleReserve(ref Context ctx, out int replyLength)
    {
        ReadOnlySpan<byte> frame = ctx.Frame;
        AoeTarget target = ctx.Target;
        MacList reserve = target.ReserveList;
        byte rcmd = ByteAt(frame, AoeWire.ReserveCmdOffset);
        int count = ByteAt(frame, AoeWire.ReserveCountOffset);

        if (rcmd == AoeWire.RCmdRead)
            return ReserveReply(ref ctx, rcmd, out replyLength);
        if (rcmd > AoeWire.RCmdForceSet)
            return ctx.AoeError(AoeWire.ErrBadArgument, out replyLength);
        // Outside admin-accept: error 6, AoEr11's refusal of a reservation change (as for a set
        // from outside the reserve list). On a shared volume a reservation this gateway alone holds
        // would bind nobody: set and force set are treated like an RCmd this target does not take,
        // error 2, so an initiator does not mistake it for someone else's reservation.
        if (!IsAdmin(ref ctx))
            return ctx.AoeError(AoeWire.ErrTargetReserved, out replyLength);
        if (target.Shared)
            return ctx.AoeError(AoeWire.ErrBadArgument, out replyLength);
        // Set: only when unreserved or the requester holds the reservation. Force set: always (that is
        // how an administrator breaks a dead host's reservation).
        if (rcmd == AoeWire.RCmdSet && target.IsReservedAgainst(ctx.Source))
            return ctx.AoeError(AoeWire.ErrTargetReserved, out replyLength);
        if (AoeWire.ReserveMacsOffset + count * 6 > frame.Length || count > reserve.Capacity)
            return ctx.AoeError(AoeWire.ErrBadArgument, out replyLength);

        // Build the new list in place only after validation; duplicates collapse, so it cannot overflow.
        // Changed = the request's distinct MACs, in first-seen order, differ from the list: a repeated
        // MAC is no change, and no change must not bump StateVersion (a needless save).
        bool changed = false;
        int kept = 0;
        for (int i = 0; i < count && !changed; i++)
        {
            MacAddress mac = MacAddress.Read(frame.Slice(AoeWire.ReserveMacsOffset + i * 6));
            bool repeat = false;
            for (int j = 0; j < i && !repeat; j++)
                repeat = MacAddress.Read(frame.Slice(AoeWire.ReserveMacsOffset + j * 6)) == mac;
            if (!repeat)
                changed = kept >= reserve.Count || reserve[kept++] != mac;
        }
        changed |= kept != reserve.Count;
        if (changed)
        {
            reserve.Clear();
            for (int i = 0; i < count; i++)
                reserve.TryAdd(MacAddress.Read(frame.Slice(AoeWire.ReserveMacsOffset + i * 6)));
            target.MarkStateChanged();
        }
        return ReserveReply(ref ctx, rcmd, out replyLength);
    }

    private static AoeDecision ReserveReply(ref Context ctx, byte rcmd, out int replyLength)
    {
        MacList reserve = ctx.Target.ReserveList;
        int length = AoeWire.ReserveMacsOffset + reserve.Count * 6;
        if (!ctx.Fits(length))
            return Dropped(out replyLength);
        Span<byte> reply = ctx.Reply;
        ctx.WriteHeader(0);
        reply[AoeWire.ReserveCmdOffset] = rcmd;
        reply[AoeWire.ReserveCountOffset] = (byte)reserve.Count;
        for (int i = 0; i < reserve.Count; i++)
            reserve[i].Write(reply.Slice(AoeWire.ReserveMacsOffset + i * 6));
        replyLength = ctx.Finish(length);
        return AoeDecision.Reply;
    }

    // ---- completion of I/O ----------------------------------------------------------------------------

    /// <summary>
    /// Writes the Ethernet, AoE and ATA headers of the reply to a finished I/O request and returns the
    /// frame length. A successful read's data belongs at <see cref="AoeWire.AtaPayloadOffset"/>
    /// (36 + sectors × 512 bytes in total); the caller may put it there before or after this call,
    /// as this writes only bytes 0..35 then. Every other reply is 60 bytes (zero padded).
    /// <paramref name="frame"/> must hold the whole reply.
    /// </summary>
    public static int WriteIoReply(Span<byte> frame, in AoeIoRequest io, in AoeInterface iface, byte ataStatus, byte ataError)
    {
        WriteHeader(frame, io.Source, iface.Mac, io.Shelf, io.Slot, AoeWire.CmdAta, io.Tag, 0);
        WriteAtaHeader(frame, io.Aflags, ataError, io.RequestSectorCount, ataStatus, io.RawLba);
        bool dataReply = io.Kind == IoKind.Read && (ataStatus & FailingStatusBits) == 0;
        if (dataReply)
            return AoeWire.AtaPayloadOffset + io.ByteLength;
        frame.Slice(AoeWire.AtaPayloadOffset, AoeWire.MinFrameLength - AoeWire.AtaPayloadOffset).Clear();
        return AoeWire.MinFrameLength;
    }

    /// <summary>BSY | DF | DRQ | ERR: the status bits the Linux initiator treats as failure (status &amp; 0xA9).</summary>
    public const byte FailingStatusBits = Ata.StatusBusy | Ata.StatusFault | Ata.StatusDrq | Ata.StatusError;

    /// <summary>
    /// ATA status/error for a failed backing-store operation: DRDY|ERR plus
    /// UNC (uncorrectable data) for EIO on a read — what a disk reports for an unreadable sector;
    /// IDNF for a read that came back short (ENODATA, the storage engine's code for it, or 0: the
    /// store ended before the request, because it shrank after the bounds check, so the sectors do
    /// not exist, as for a request past the end caught before any I/O); ABRT for everything else
    /// (write EIO, ENOSPC, EROFS, ...), ATA having no better code for them. Any of these fails the
    /// Linux bio (status &amp; 0xA9).
    /// </summary>
    public static void MapIoError(int errno, IoKind kind, out byte ataStatus, out byte ataError)
    {
        const int EIO = 5;
        const int ENODATA = 61;
        ataStatus = Ata.StatusFailed;
        ataError = errno == 0 || errno == ENODATA ? Ata.ErrorIdnf
            : errno == EIO && kind == IoKind.Read ? Ata.ErrorUnc
            : Ata.ErrorAbrt;
    }

    // ---- helpers --------------------------------------------------------------------------------------

    private static AoeDecision Dropped(out int replyLength)
    {
        replyLength = 0;
        return AoeDecision.Drop;
    }

    private static byte ByteAt(ReadOnlySpan<byte> frame, int offset) => offset < frame.Length ? frame[offset] : (byte)0;

    private static ulong ReadLba(ReadOnlySpan<byte> lba) =>
        BinaryPrimitives.ReadUInt32LittleEndian(lba) | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(lba.Slice(4)) << 32;

    private static void WriteLba(Span<byte> lba, ulong value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(lba, (uint)value);
        BinaryPrimitives.WriteUInt16LittleEndian(lba.Slice(4), (ushort)(value >> 32));
    }

    private static void WriteHeader(Span<byte> reply, MacAddress destination, MacAddress source, ushort shelf, byte slot,
        byte command, uint tag, byte error)
    {
        destination.Write(reply.Slice(AoeWire.EthDestinationOffset));
        source.Write(reply.Slice(AoeWire.EthSourceOffset));
        BinaryPrimitives.WriteUInt16BigEndian(reply.Slice(AoeWire.EthTypeOffset), AoeWire.EtherType);
        reply[AoeWire.VerFlagsOffset] = error == 0 ? AoeWire.ReplyVerFlags : (byte)(AoeWire.ReplyVerFlags | AoeWire.FlagError);
        reply[AoeWire.ErrorOffset] = error;
        BinaryPrimitives.WriteUInt16BigEndian(reply.Slice(AoeWire.MajorOffset), shelf);
        reply[AoeWire.MinorOffset] = slot;
        reply[AoeWire.CommandOffset] = command;
        BinaryPrimitives.WriteUInt32BigEndian(reply.Slice(AoeWire.TagOffset), tag);
    }

    private static void WriteAtaHeader(Span<byte> reply, byte aflags, byte error, byte count, byte status, ulong lba)
    {
        reply[AoeWire.AtaAflagsOffset] = aflags;
        reply[AoeWire.AtaErrFeatureOffset] = error;
        reply[AoeWire.AtaSectorCountOffset] = count;
        reply[AoeWire.AtaCmdStatusOffset] = status;
        WriteLba(reply.Slice(AoeWire.AtaLbaOffset), lba);
        reply[AoeWire.AtaLbaOffset + 6] = 0;
        reply[AoeWire.AtaLbaOffset + 7] = 0;
    }

    /// <summary>Per-frame values shared by the command handlers; a ref struct so spans can live in it.</summary>
    private readonly ref struct Context
    {
        public readonly ReadOnlySpan<byte> Frame;
        public readonly AoeTarget Target;
        public readonly AoeInterface Iface;
        public readonly MacAddress Source;
        public readonly Span<byte> Reply;
        public readonly uint Tag;

        public Context(ReadOnlySpan<byte> frame, AoeTarget target, in AoeInterface iface, MacAddress source, Span<byte> reply)
        {
            Frame = frame;
            Target = target;
            Iface = iface;
            Source = source;
            Reply = reply;
            Tag = BinaryPrimitives.ReadUInt32BigEndian(frame.Slice(AoeWire.TagOffset));
        }

        /// <summary>Whether a reply of this length (at least 60 after padding) fits the buffer and the MTU.</summary>
        public bool Fits(int length)
        {
            int padded = Math.Max(length, AoeWire.MinFrameLength);
            return padded <= Reply.Length && length <= Math.Max(Iface.MaxFrameLength, AoeWire.MinFrameLength);
        }

        public void WriteHeader(byte error) =>
            AoeEngine.WriteHeader(Reply, Source, Iface.Mac, Target.Shelf, Target.Slot, Frame[AoeWire.CommandOffset], Tag, error);

        /// <summary>Zero-pads to the 60-byte Ethernet minimum and returns the frame length.</summary>
        public int Finish(int length)
        {
            if (length >= AoeWire.MinFrameLength)
                return length;
            Reply.Slice(length, AoeWire.MinFrameLength - length).Clear();
            return AoeWire.MinFrameLength;
        }

        public void WriteAtaReply(byte status, byte error, byte count, ulong lba)
        {
            WriteHeader(0);
            WriteAtaHeader(Reply, Frame[AoeWire.AtaAflagsOffset], error, count, status, lba);
        }

        /// <summary>A data-less ATA reply (60 bytes): status and error in the ATA header, AoE error 0.</summary>
        public AoeDecision AtaReply(byte status, byte error, byte count, ulong lba, out int replyLength)
        {
            if (!Fits(AoeWire.AtaPayloadOffset))
                return Dropped(out replyLength);
            WriteAtaReply(status, error, count, lba);
            replyLength = Finish(AoeWire.AtaPayloadOffset);
            return AoeDecision.Reply;
        }

        /// <summary>
        /// An AoE error reply: Error flag and code, then up to 36 bytes of the request's argument echoed
        /// (enough for an ATA or config header, so dissectors show what failed), zero padded to 60.
        /// </summary>
        public AoeDecision AoeError(byte code, out int replyLength)
        {
            if (!Fits(AoeWire.MinFrameLength))
                return Dropped(out replyLength);
            WriteHeader(code);
            int echo = Math.Min(Frame.Length - AoeWire.ArgOffset, AoeWire.MinFrameLength - AoeWire.ArgOffset);
            Frame.Slice(AoeWire.ArgOffset, echo).CopyTo(Reply.Slice(AoeWire.ArgOffset));
            replyLength = Finish(AoeWire.ArgOffset + echo);
            return AoeDecision.Reply;
        }
    }
}
