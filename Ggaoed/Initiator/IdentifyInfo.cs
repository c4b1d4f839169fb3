using System;
using System.Buffers.Binary;
using System.Text;

namespace Ggaoed.Initiator;

/// <summary>What an initiator takes from the 512-byte IDENTIFY DEVICE data (ATA8-ACS words, little-endian).</summary>
public sealed record IdentifyInfo(ulong Sectors, bool Lba48, string Model, string Serial, string Firmware)
{
    /// <summary>
    /// Decodes IDENTIFY data the way the Linux driver does (ataid_complete): LBA48 when bit 10 of
    /// word 83 or 86 is set, then capacity from words 100-103; otherwise words 60-61.
    /// </summary>
    public static IdentifyInfo Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length < 512)
            throw new ArgumentException("IDENTIFY data is shorter than 512 bytes", nameof(data));
        ushort w83 = Word(data, 83);
        ushort w86 = Word(data, 86);
        bool lba48 = ((w83 | w86) & (1 << 10)) != 0;
        ulong sectors = lba48
            ? BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(200, 8))
            : BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(120, 4));
        return new IdentifyInfo(sectors, lba48, AtaString(data, 27, 20), AtaString(data, 10, 10), AtaString(data, 23, 4));
    }

    private static ushort Word(ReadOnlySpan<byte> data, int word) => BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(word * 2, 2));

    /// <summary>ATA strings hold two characters per word, the first in the high byte.</summary>
    private static string AtaString(ReadOnlySpan<byte> data, int firstWord, int words)
    {
        Span<byte> s = stackalloc byte[words * 2];
        for (int i = 0; i < words; i++)
        {
            ushort w = Word(data, firstWord + i);
            s[2 * i] = (byte)(w >> 8);
            s[2 * i + 1] = (byte)w;
        }
        for (int i = 0; i < s.Length; i++)
            if (s[i] < 0x20 || s[i] > 0x7E)
                s[i] = (byte)' ';
        return Encoding.ASCII.GetString(s).Trim();
    }
}
