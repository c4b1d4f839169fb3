using System;
using System.Buffers.Binary;

namespace Ggaoed.Protocol;

/// <summary>
/// Builds the 512-byte IDENTIFY DEVICE data (ATA8-ACS 7.16) for a target. Words are little-endian;
/// ATA strings put the first character of each pair in the high byte of its word.
/// </summary>
public static class AtaIdentify
{
    /// <summary>IDENTIFY DEVICE data is 256 words; Linux needs all of them (AOE-NOTES 0.10).</summary>
    public const int BlockLength = 512;

    public const int WordGeneralConfig = 0;
    public const int WordSerial = 10;       // 10-19, 20 chars
    public const int WordFirmware = 23;     // 23-26, 8 chars
    public const int WordModel = 27;        // 27-46, 40 chars
    public const int WordCapabilities = 49;
    public const int WordLba28Capacity = 60; // 60-61
    public const int WordCommandSet1 = 82;
    public const int WordCommandSet2 = 83;
    public const int WordCommandSetExt = 84;
    public const int WordEnabled1 = 85;
    public const int WordEnabled2 = 86;
    public const int WordEnabledExt = 87;
    public const int WordLba48Capacity = 100; // 100-103
    public const int WordIntegrity = 255;

    public const ushort CapLba = 1 << 9;
    public const ushort CapDma = 1 << 8;
    public const ushort Set1Smart = 1 << 0;
    public const ushort Set1WriteCache = 1 << 5;
    public const ushort Set2Lba48 = 1 << 10;
    public const ushort Set2FlushCache = 1 << 12;
    public const ushort Set2FlushCacheExt = 1 << 13;
    /// <summary>Words 83, 84, 87: bit 14 set and bit 15 clear mark the word as valid.</summary>
    public const ushort ValidWord = 1 << 14;

    /// <summary>LBA28 can address at most 0x0FFFFFFF sectors; bigger devices report that (ATA8-ACS 4.10.1).</summary>
    public const uint MaxLba28Capacity = 0x0FFF_FFFF;

    /// <param name="lba48">
    /// False leaves out the 48-bit feature set (words 83/86 bit 10, words 100-103), so an initiator must
    /// use the LBA28 commands: only <c>ggaoectl null-target</c> offers that, to test initiators; the
    /// daemon's targets always take LBA48 commands.
    /// </param>
    public static void Build(Span<byte> block, AoeTarget target, bool lba48 = true)
    {
        if (block.Length < BlockLength)
            throw new ArgumentException("IDENTIFY data is " + BlockLength + " bytes", nameof(block));
        block = block.Slice(0, BlockLength);
        block.Clear();
        ulong sectors = target.SectorCount;

        // Fixed, non-removable device.
        SetWord(block, WordGeneralConfig, 0x0040);

        // Legacy CHS geometry (16 heads, 63 sectors/track, cylinders capped at 16383): Linux falls back to
        // words 54-58 only without LBA48, but some tools print them. Word 53 bit 0: words 54-58 valid.
        ulong cylinders = Math.Min(sectors / (16 * 63), 16383UL);
        SetWord(block, 1, (ushort)cylinders);
        SetWord(block, 3, 16);
        SetWord(block, 6, 63);
        SetWord(block, 53, 0x0001);
        SetWord(block, 54, (ushort)cylinders);
        SetWord(block, 55, 16);
        SetWord(block, 56, 63);
        uint chsCapacity = (uint)(cylinders * 16 * 63);
        SetWord(block, 57, (ushort)chsCapacity);
        SetWord(block, 58, (ushort)(chsCapacity >> 16));

        WriteString(block, WordSerial, 20, target.Serial);
        WriteString(block, WordFirmware, 8, target.FirmwareRevision);
        WriteString(block, WordModel, 40, target.Model);

        SetWord(block, WordCapabilities, CapLba | CapDma);
        uint lba28 = (uint)Math.Min(sectors, MaxLba28Capacity);
        SetWord(block, WordLba28Capacity, (ushort)lba28);
        SetWord(block, WordLba28Capacity + 1, (ushort)(lba28 >> 16));

        // Major version: ATA/ATAPI-4 through ATA8-ACS (bits 4-8).
        SetWord(block, 80, 0x01F0);

        // Supported / enabled feature sets. Linux picks LBA48 from bit 10 of (word 83 | word 86).
        SetWord(block, WordCommandSet1, Set1Smart | Set1WriteCache);
        ushort lba48Bit = lba48 ? Set2Lba48 : (ushort)0;
        SetWord(block, WordCommandSet2, (ushort)(ValidWord | lba48Bit | Set2FlushCache | Set2FlushCacheExt));
        SetWord(block, WordCommandSetExt, ValidWord);
        SetWord(block, WordEnabled1, (ushort)(Set1Smart | (target.WriteCache ? Set1WriteCache : 0)));
        SetWord(block, WordEnabled2, (ushort)(lba48Bit | Set2FlushCache | Set2FlushCacheExt));
        SetWord(block, WordEnabledExt, ValidWord);

        if (lba48)
            BinaryPrimitives.WriteUInt64LittleEndian(block.Slice(WordLba48Capacity * 2), sectors);

        // Word 255: signature 0xA5 in the low byte and, in the high byte, the value that makes all
        // 512 bytes sum to zero modulo 256 (ATA8-ACS 7.16.7.89).
        block[WordIntegrity * 2] = 0xA5;
        byte sum = 0;
        for (int i = 0; i < BlockLength - 1; i++)
            sum += block[i];
        block[WordIntegrity * 2 + 1] = (byte)(-sum);
    }

    /// <summary>ATA string: ASCII, space padded, characters 2i and 2i+1 in the high and low byte of word i.</summary>
    private static void WriteString(Span<byte> block, int word, int length, string value)
    {
        Span<byte> field = block.Slice(word * 2, length);
        for (int i = 0; i < length; i++)
        {
            char c = i < value.Length ? value[i] : ' ';
            if (c < 0x20 || c > 0x7E)
                c = ' ';
            field[i ^ 1] = (byte)c;
        }
    }

    private static void SetWord(Span<byte> block, int word, ushort value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(block.Slice(word * 2), value);

    /// <summary>Reads an identify word (tests and diagnostics).</summary>
    public static ushort GetWord(ReadOnlySpan<byte> block, int word) =>
        BinaryPrimitives.ReadUInt16LittleEndian(block.Slice(word * 2));

    /// <summary>Reads an ATA string field back (undoes the byte swap, trims padding).</summary>
    public static string ReadString(ReadOnlySpan<byte> block, int word, int length)
    {
        Span<char> chars = stackalloc char[length];
        for (int i = 0; i < length; i++)
            chars[i] = (char)block[word * 2 + (i ^ 1)];
        return new string(chars).TrimEnd(' ');
    }
}
