using System;
using System.Buffers.Binary;

namespace Ggaoed.Initiator;

/// <summary>
/// The initiator's own encoder/decoder for AoE frames (AoEr11). Written independently of the target's
/// protocol engine on purpose: the two meet on the wire, so a misreading on either side shows up as a
/// failing test instead of two matching bugs.
/// </summary>
/// <remarks>
/// Layout (byte offsets in the Ethernet frame):
/// <code>
///  0 dst MAC (6)   6 src MAC (6)   12 EtherType 0x88A2 (BE)
/// 14 ver(4)|flags(4)  15 error  16 shelf (BE u16)  18 slot  19 command  20 tag (BE u32)
/// config arg: 24 bufcnt (BE)  26 fw version (BE)  28 sector count  29 aoe ver(4)|ccmd(4)  30 length (BE)  32 string
/// ATA arg:    24 aflags  25 err/feature  26 sector count  27 cmd/status  28..33 LBA (little-endian!)  34 reserved(2)  36 data
/// </code>
/// </remarks>
public static class AoeWire
{
    public const ushort EtherType = 0x88A2;
    public const int HeaderLength = 24;
    public const int AtaHeaderLength = 36;
    public const int ConfigHeaderLength = 32;
    public const int MinFrame = 60;
    public const int SectorSize = 512;

    /// <summary>Version 1 in the high nibble. Linux sends exactly 0x10 (no flags).</summary>
    public const byte Version1 = 0x10;
    public const byte FlagResponse = 0x08;
    public const byte FlagError = 0x04;

    public const byte CommandAta = 0;
    public const byte CommandConfig = 1;

    public const ushort BroadcastShelf = 0xFFFF;
    public const byte BroadcastSlot = 0xFF;

    /// <summary>
    /// Userland tools (aoeping, aoecfg) set tag bit 31; the Linux driver drops responses carrying it, so
    /// our traffic can never be mistaken for the kernel's if the aoe module shares the link.
    /// </summary>
    public const uint UserTagBit = 0x8000_0000;

    public const byte AFlagExtended = 0x40;
    public const byte AFlagDevice = 0x10;
    public const byte AFlagAsync = 0x02;
    public const byte AFlagWrite = 0x01;

    public const byte AtaReadSectors = 0x20;
    public const byte AtaReadSectorsExt = 0x24;
    public const byte AtaWriteSectors = 0x30;
    public const byte AtaWriteSectorsExt = 0x34;
    public const byte AtaIdentify = 0xEC;

    /// <summary>BSY | DF | DRQ | ERR: what Linux tests for failure (status &amp; 0xA9).</summary>
    public const byte AtaStatusFailMask = 0xA9;
    public const byte AtaStatusReady = 0x40;
    public const byte AtaStatusError = 0x01;

    public static ReadOnlySpan<byte> BroadcastMac => [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

    /// <summary>
    /// Sectors per frame on a link: Linux's (mtu - 36) / 512 (it subtracts the Ethernet+AoE+ATA header
    /// sizes from the MTU, which is conservative by 14 bytes): 2 at MTU 1500, 17 at MTU 9000.
    /// </summary>
    public static int SectorsForMtu(int mtu) => Math.Max(0, (mtu - AtaHeaderLength) / SectorSize);

    /// <summary>Writes the Ethernet and AoE common header.</summary>
    public static void WriteHeader(Span<byte> frame, ReadOnlySpan<byte> dst, ReadOnlySpan<byte> src, ushort shelf, byte slot, byte command, uint tag)
    {
        dst.Slice(0, 6).CopyTo(frame);
        src.Slice(0, 6).CopyTo(frame.Slice(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.Slice(12), EtherType);
        frame[14] = Version1;
        frame[15] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(frame.Slice(16), shelf);
        frame[18] = slot;
        frame[19] = command;
        BinaryPrimitives.WriteUInt32BigEndian(frame.Slice(20), tag);
    }

    /// <summary>A Query Config Information request (ccmd 0, empty string). Returns the frame length (padded to 60).</summary>
    public static int BuildConfigQuery(Span<byte> frame, ReadOnlySpan<byte> dst, ReadOnlySpan<byte> src, ushort shelf, byte slot, uint tag)
    {
        frame.Slice(0, MinFrame).Clear();
        WriteHeader(frame, dst, src, shelf, slot, CommandConfig, tag);
        return MinFrame;
    }

    /// <summary>
    /// An ATA request. <paramref name="dataLength"/> bytes at offset 36 must already hold the write data
    /// (they are not touched, so a bench can fill them once). Returns the frame length (padded to 60).
    /// </summary>
    public static int BuildAta(Span<byte> frame, ReadOnlySpan<byte> dst, ReadOnlySpan<byte> src, ushort shelf, byte slot, uint tag,
        byte aflags, byte command, byte sectors, ulong lba, int dataLength)
    {
        WriteHeader(frame, dst, src, shelf, slot, CommandAta, tag);
        frame[24] = aflags;
        frame[25] = 0;
        frame[26] = sectors;
        frame[27] = command;
        WriteLba(frame.Slice(28, 6), lba, (aflags & AFlagExtended) != 0);
        frame[34] = 0;
        frame[35] = 0;
        int length = AtaHeaderLength + dataLength;
        if (length < MinFrame)
        {
            frame.Slice(length, MinFrame - length).Clear();
            length = MinFrame;
        }
        return length;
    }

    /// <summary>
    /// The 6 LBA bytes are little-endian (the only LE field in AoE). LBA28 puts 0xE0 | bits 24-27 in
    /// lba3, as Linux does (LBA mode bit plus the obsolete always-one bits of the device register).
    /// </summary>
    public static void WriteLba(Span<byte> lba6, ulong lba, bool lba48)
    {
        if (lba48)
        {
            for (int i = 0; i < 6; i++)
                lba6[i] = (byte)(lba >> (8 * i));
        }
        else
        {
            lba6[0] = (byte)lba;
            lba6[1] = (byte)(lba >> 8);
            lba6[2] = (byte)(lba >> 16);
            lba6[3] = (byte)(0xE0 | ((lba >> 24) & 0x0F));
            lba6[4] = 0;
            lba6[5] = 0;
        }
    }

    public static ulong ReadLba(ReadOnlySpan<byte> lba6)
    {
        ulong v = 0;
        for (int i = 5; i >= 0; i--)
            v = (v << 8) | lba6[i];
        return v;
    }

    /// <summary>An ATA request for a read/write of <paramref name="sectors"/> sectors; LBA48 when the target supports it.</summary>
    public static int BuildReadWrite(Span<byte> frame, ReadOnlySpan<byte> dst, ReadOnlySpan<byte> src, ushort shelf, byte slot, uint tag,
        bool write, bool lba48, byte sectors, ulong lba)
    {
        byte aflags = (byte)((lba48 ? AFlagExtended : 0) | (write ? AFlagWrite : 0));
        byte cmd = write ? (lba48 ? AtaWriteSectorsExt : AtaWriteSectors) : (lba48 ? AtaReadSectorsExt : AtaReadSectors);
        return BuildAta(frame, dst, src, shelf, slot, tag, aflags, cmd, sectors, lba, write ? sectors * SectorSize : 0);
    }

    /// <summary>IDENTIFY DEVICE the way Linux sends it: aflags 0, one sector, lba3 = 0xA0.</summary>
    public static int BuildIdentify(Span<byte> frame, ReadOnlySpan<byte> dst, ReadOnlySpan<byte> src, ushort shelf, byte slot, uint tag)
    {
        int n = BuildAta(frame, dst, src, shelf, slot, tag, 0, AtaIdentify, 1, 0, 0);
        frame[31] = 0xA0;
        return n;
    }

    /// <summary>
    /// Reads the common header of a received frame. False for anything that isn't an AoE response
    /// (short, wrong EtherType, no Response flag: e.g. our own or another initiator's requests).
    /// </summary>
    public static bool TryParseResponse(ReadOnlySpan<byte> frame, out AoeResponseHeader header)
    {
        header = default;
        if (frame.Length < HeaderLength || BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(12)) != EtherType)
            return false;
        byte verFlags = frame[14];
        if ((verFlags & FlagResponse) == 0)
            return false;
        header = new AoeResponseHeader(
            (byte)(verFlags >> 4),
            (byte)(verFlags & 0x0F),
            frame[15],
            BinaryPrimitives.ReadUInt16BigEndian(frame.Slice(16)),
            frame[18],
            frame[19],
            BinaryPrimitives.ReadUInt32BigEndian(frame.Slice(20)));
        return true;
    }

    /// <summary>The config argument of a response; missing bytes read as zero.</summary>
    public static ConfigInfo ParseConfig(ReadOnlySpan<byte> frame)
    {
        Span<byte> arg = stackalloc byte[8];
        arg.Clear();
        if (frame.Length > HeaderLength)
            frame.Slice(HeaderLength, Math.Min(8, frame.Length - HeaderLength)).CopyTo(arg);
        int strlen = BinaryPrimitives.ReadUInt16BigEndian(arg.Slice(6));
        int avail = Math.Max(0, frame.Length - ConfigHeaderLength);
        // AoEr11 caps the config string at 1024 bytes.
        int n = Math.Min(Math.Min(strlen, avail), 1024);
        byte[] cfg = frame.Slice(Math.Min(frame.Length, ConfigHeaderLength), n).ToArray();
        return new ConfigInfo(
            BinaryPrimitives.ReadUInt16BigEndian(arg),
            BinaryPrimitives.ReadUInt16BigEndian(arg.Slice(2)),
            arg[4],
            (byte)(arg[5] >> 4),
            (byte)(arg[5] & 0x0F),
            cfg);
    }

    /// <summary>The ATA argument of a response (frame must be at least 36 bytes).</summary>
    public static AtaResponse ParseAta(ReadOnlySpan<byte> frame) =>
        new(frame[24], frame[25], frame[26], frame[27], ReadLba(frame.Slice(28, 6)));

    public static bool IsAtaFailure(byte status) => (status & AtaStatusFailMask) != 0;
}

/// <summary>The common AoE header of a response.</summary>
public readonly record struct AoeResponseHeader(byte Version, byte Flags, byte Error, ushort Shelf, byte Slot, byte Command, uint Tag)
{
    public bool IsError => (Flags & AoeWire.FlagError) != 0;
}

/// <summary>The config argument of a Query Config response.</summary>
public readonly record struct ConfigInfo(ushort BufferCount, ushort FirmwareVersion, byte SectorCount, byte AoeVersion, byte ConfigCommand, byte[] ConfigString);

/// <summary>The ATA argument of a response: status in place of the command, error in place of features.</summary>
public readonly record struct AtaResponse(byte AFlags, byte Error, byte SectorCount, byte Status, ulong Lba)
{
    public bool Failed => AoeWire.IsAtaFailure(Status);
}
