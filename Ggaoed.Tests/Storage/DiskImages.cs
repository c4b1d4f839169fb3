using System;
using System.Buffers.Binary;
using System.Text;

namespace Ggaoed.Tests.Storage;

/// <summary>Synthetic on-disk headers for UUID tests: only the bytes the readers (and the kernel) look at.</summary>
internal static class DiskImages
{
    public static readonly byte[] SampleUuid =
    [
        0x3d, 0x2e, 0x88, 0x51, 0x6c, 0x0b, 0x4f, 0x2a, 0x9e, 0x71, 0x05, 0xaa, 0xc3, 0x4d, 0x18, 0xf0,
    ];
    public const string SampleUuidText = "3d2e8851-6c0b-4f2a-9e71-05aac34d18f0";

    /// <summary>
    /// A GPT disk of <paramref name="sectors"/> 512-byte sectors: protective MBR, primary header and entry
    /// array with valid CRCs (the kernel checks them), and one Linux partition with the given unique GUID.
    /// </summary>
    public static byte[] Gpt(long sectors, Guid partitionGuid, long firstLba, long lastLba)
    {
        const int ss = 512;
        byte[] img = new byte[34 * ss];
        // Protective MBR: one partition of type 0xEE from LBA 1 (UEFI spec, "Protective MBR").
        img[446 + 4] = 0xEE;
        BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan(446 + 8), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan(446 + 12), (uint)Math.Min(sectors - 1, uint.MaxValue));
        img[510] = 0x55;
        img[511] = 0xAA;

        Span<byte> entries = img.AsSpan(2 * ss, 128 * 128);
        new Guid("0fc63daf-8483-4772-8e79-3d69d8477de4").TryWriteBytes(entries[..16]);   // Linux filesystem data
        partitionGuid.TryWriteBytes(entries.Slice(16, 16));   // Guid's byte layout is GPT's mixed-endian one
        BinaryPrimitives.WriteInt64LittleEndian(entries.Slice(32), firstLba);
        BinaryPrimitives.WriteInt64LittleEndian(entries.Slice(40), lastLba);
        Encoding.Unicode.GetBytes("data").CopyTo(entries.Slice(56));

        Span<byte> h = img.AsSpan(ss, 92);
        "EFI PART"u8.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(8), 0x00010000);
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(12), 92);
        BinaryPrimitives.WriteInt64LittleEndian(h.Slice(24), 1);
        BinaryPrimitives.WriteInt64LittleEndian(h.Slice(32), sectors - 1);
        BinaryPrimitives.WriteInt64LittleEndian(h.Slice(40), 34);
        BinaryPrimitives.WriteInt64LittleEndian(h.Slice(48), sectors - 34);
        new Guid("9a1f0c52-6e2b-4d8a-b4c3-7f60e1d2a5b9").TryWriteBytes(h.Slice(56, 16));
        BinaryPrimitives.WriteInt64LittleEndian(h.Slice(72), 2);
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(80), 128);
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(84), 128);
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(88), Crc32(entries));
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(16), Crc32(h));
        return img;
    }

    /// <summary>CRC-32 (IEEE 802.3, reflected 0xEDB88320), as GPT uses.</summary>
    public static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
