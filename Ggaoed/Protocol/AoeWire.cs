using Ggaoed.Storage;

namespace Ggaoed.Protocol;

/// <summary>
/// Wire constants of ATA over Ethernet, protocol revision 11 (Coraid AoEr11), as laid out by the
/// Linux driver (drivers/block/aoe/aoe.h). Offsets count from the start of the Ethernet frame.
/// Every multi-byte field is big-endian except the six ATA LBA bytes (little-endian).
/// </summary>
public static class AoeWire
{
    public const ushort EtherType = 0x88A2;

    // Ethernet header.
    public const int EthDestinationOffset = 0;
    public const int EthSourceOffset = 6;
    public const int EthTypeOffset = 12;
    public const int EthHeaderLength = 14;

    // AoE common header (AoEr11 section 2).
    public const int VerFlagsOffset = 14;
    public const int ErrorOffset = 15;
    public const int MajorOffset = 16;
    public const int MinorOffset = 18;
    public const int CommandOffset = 19;
    public const int TagOffset = 20;
    public const int AoeHeaderLength = 10;
    /// <summary>First byte of the command-specific argument.</summary>
    public const int ArgOffset = EthHeaderLength + AoeHeaderLength; // 24

    public const byte Version = 1;
    public const byte FlagResponse = 0x08;
    public const byte FlagError = 0x04;
    /// <summary>Version 1 in the high nibble plus the Response flag: the ver/flags byte of every reply.</summary>
    public const byte ReplyVerFlags = (Version << 4) | FlagResponse;

    public const ushort BroadcastShelf = 0xFFFF;
    public const byte BroadcastSlot = 0xFF;

    // AoE commands (AoEr11 section 2.4).
    public const byte CmdAta = 0;
    public const byte CmdQueryConfig = 1;
    public const byte CmdMacMask = 2;
    public const byte CmdReserve = 3;

    // AoE error codes (AoEr11 section 2.3).
    public const byte ErrUnrecognizedCommand = 1;
    public const byte ErrBadArgument = 2;
    public const byte ErrDeviceUnavailable = 3;
    public const byte ErrConfigStringPresent = 4;
    public const byte ErrUnsupportedVersion = 5;
    public const byte ErrTargetReserved = 6;

    // ATA argument (AoEr11 section 3.1): aflags, err/feature, sector count, cmd/status, lba0..lba5, 2 reserved.
    public const int AtaAflagsOffset = ArgOffset;          // 24
    public const int AtaErrFeatureOffset = ArgOffset + 1;  // 25
    public const int AtaSectorCountOffset = ArgOffset + 2; // 26
    public const int AtaCmdStatusOffset = ArgOffset + 3;   // 27
    public const int AtaLbaOffset = ArgOffset + 4;         // 28..33
    public const int AtaHeaderLength = 12;
    /// <summary>Where ATA data starts in requests and responses: 14 + 10 + 12.</summary>
    public const int AtaPayloadOffset = ArgOffset + AtaHeaderLength; // 36

    public const byte AflagLba48 = 0x40;
    public const byte AflagDevice = 0x10;
    public const byte AflagAsync = 0x02;
    public const byte AflagWrite = 0x01;

    // Query Config argument (AoEr11 section 3.2): bufcnt BE16, fwver BE16, scnt, ver|ccmd, len BE16, string.
    public const int CfgBufferCountOffset = ArgOffset;     // 24
    public const int CfgFirmwareOffset = ArgOffset + 2;    // 26
    public const int CfgSectorCountOffset = ArgOffset + 4; // 28
    public const int CfgVerCmdOffset = ArgOffset + 5;      // 29
    public const int CfgLengthOffset = ArgOffset + 6;      // 30
    public const int CfgStringOffset = ArgOffset + 8;      // 32
    public const int MaxConfigStringLength = 1024;

    public const byte CCmdRead = 0;
    public const byte CCmdTestExact = 1;
    public const byte CCmdTestPrefix = 2;
    public const byte CCmdSetIfEmpty = 3;
    public const byte CCmdForceSet = 4;

    // Mac Mask List argument (AoEr11 section 3.3): reserved, mcmd, merror, dir count, then 8-byte directives
    // (reserved, dcmd, mac[6]).
    public const int MaskCmdOffset = ArgOffset + 1;      // 25
    public const int MaskErrorOffset = ArgOffset + 2;    // 26
    public const int MaskDirCountOffset = ArgOffset + 3; // 27
    public const int MaskDirectivesOffset = ArgOffset + 4; // 28
    public const int MaskDirectiveLength = 8;

    public const byte MCmdRead = 0;
    public const byte MCmdEdit = 1;
    public const byte DCmdNone = 0;
    public const byte DCmdAdd = 1;
    public const byte DCmdDelete = 2;
    public const byte MErrUnspecified = 1;
    public const byte MErrBadDirective = 2;
    public const byte MErrListFull = 3;

    // Reserve/Release argument (AoEr11 section 3.4): rcmd, nmacs, then 6-byte MACs.
    public const int ReserveCmdOffset = ArgOffset;       // 24
    public const int ReserveCountOffset = ArgOffset + 1; // 25
    public const int ReserveMacsOffset = ArgOffset + 2;  // 26

    public const byte RCmdRead = 0;
    public const byte RCmdSet = 1;
    public const byte RCmdForceSet = 2;

    /// <summary>
    /// Ethernet minimum frame without FCS. Replies are padded to it because NICs on veth/tap don't,
    /// and Wireshark calls shorter ATA replies malformed (AOE-NOTES 0.13).
    /// </summary>
    public const int MinFrameLength = 60;

    /// <summary>
    /// Most 512-byte sectors one ATA request may carry on an interface of this MTU. Uses the Linux
    /// initiator's own formula, (mtu - 36) / 512 (aoecmd.c counts the 14-byte Ethernet header inside
    /// the 36), so both sides agree: 2 sectors at MTU 1500, 17 at MTU 9000. Capped at 255, the
    /// largest value of the one-byte sector count.
    /// </summary>
    public static int MaxSectorsForMtu(int mtu)
    {
        int n = (mtu - AtaPayloadOffset) / Sector.Size;
        return n < 0 ? 0 : n > 255 ? 255 : n;
    }
}

/// <summary>ATA command codes, status and error bits (ATA8-ACS) that the target deals with.</summary>
public static class Ata
{
    public const byte CmdReadSectors = 0x20;
    public const byte CmdReadSectorsExt = 0x24;
    public const byte CmdReadDmaExt = 0x25;
    public const byte CmdReadDma = 0xC8;
    public const byte CmdWriteSectors = 0x30;
    public const byte CmdWriteSectorsExt = 0x34;
    public const byte CmdWriteDmaExt = 0x35;
    public const byte CmdWriteDma = 0xCA;
    public const byte CmdIdentify = 0xEC;
    public const byte CmdFlushCache = 0xE7;
    public const byte CmdFlushCacheExt = 0xEA;
    public const byte CmdCheckPowerMode = 0xE5;
    public const byte CmdSetFeatures = 0xEF;
    public const byte CmdSmart = 0xB0;

    public const byte FeatureEnableWriteCache = 0x02;
    public const byte FeatureDisableWriteCache = 0x82;
    public const byte SmartReturnStatus = 0xDA;

    // Status register.
    public const byte StatusBusy = 0x80;
    public const byte StatusReady = 0x40;   // DRDY
    public const byte StatusFault = 0x20;   // DF
    public const byte StatusDrq = 0x08;
    public const byte StatusError = 0x01;   // ERR
    /// <summary>DRDY alone: Linux fails a request when status &amp; 0xA9 (BSY|DF|DRQ|ERR) is non-zero.</summary>
    public const byte StatusOk = StatusReady;
    public const byte StatusFailed = StatusReady | StatusError; // 0x41

    // Error register.
    public const byte ErrorUnc = 0x40;  // uncorrectable data
    public const byte ErrorIdnf = 0x10; // ID (sector) not found
    public const byte ErrorAbrt = 0x04; // command aborted

    /// <summary>CHECK POWER MODE sector count meaning "active or idle".</summary>
    public const byte PowerModeActive = 0xFF;
}
