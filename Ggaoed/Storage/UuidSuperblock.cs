using System;
using System.Buffers.Binary;
using System.Text;

namespace Ggaoed.Storage;

/// <summary>What kind of on-disk header a UUID came from.</summary>
public enum UuidSource
{
    None,
    Ext,
    Xfs,
    Btrfs,
    Swap,
    Luks,
}

/// <summary>
/// Pure readers that find a filesystem/container UUID in the first bytes of a block device, the way
/// blkid does but only for the formats ggaoed users export by UUID. Every reader takes the device's
/// leading bytes (<see cref="HeadBytes"/> is enough for all of them) and returns the UUID in the canonical
/// lower-case 8-4-4-4-12 form, or null.
/// </summary>
public static class UuidSuperblock
{
    /// <summary>btrfs' superblock sits at 64 KiB and swap's signature may sit at the end of a 64 KiB page.</summary>
    public const int HeadBytes = 0x10000 + 0x1000;

    public static string? Probe(ReadOnlySpan<byte> head, out UuidSource source)
    {
        string? u;
        if ((u = ReadLuks(head)) != null) { source = UuidSource.Luks; return u; }
        if ((u = ReadXfs(head)) != null) { source = UuidSource.Xfs; return u; }
        if ((u = ReadExt(head)) != null) { source = UuidSource.Ext; return u; }
        if ((u = ReadBtrfs(head)) != null) { source = UuidSource.Btrfs; return u; }
        if ((u = ReadSwap(head)) != null) { source = UuidSource.Swap; return u; }
        source = UuidSource.None;
        return null;
    }

    /// <summary>
    /// ext2/3/4: the superblock starts at byte 1024; s_magic (LE 0xEF53) at +0x38, s_uuid (16 bytes, in
    /// printed order) at +0x68 (fs/ext4/ext4.h).
    /// </summary>
    public static string? ReadExt(ReadOnlySpan<byte> head)
    {
        const int sb = 1024;
        if (head.Length < sb + 0x78)
            return null;
        if (BinaryPrimitives.ReadUInt16LittleEndian(head.Slice(sb + 0x38, 2)) != 0xEF53)
            return null;
        return FormatBytes(head.Slice(sb + 0x68, 16));
    }

    /// <summary>XFS: sb_magicnum "XFSB" at 0, sb_uuid (16 bytes) at 32 (fs/xfs/libxfs/xfs_format.h).</summary>
    public static string? ReadXfs(ReadOnlySpan<byte> head)
    {
        if (head.Length < 48 || !head[..4].SequenceEqual("XFSB"u8))
            return null;
        return FormatBytes(head.Slice(32, 16));
    }

    /// <summary>
    /// btrfs: the primary superblock is at 64 KiB; fsid (16 bytes) at +0x20, magic "_BHRfS_M" at +0x40
    /// (fs/btrfs/ctree.h, struct btrfs_super_block).
    /// </summary>
    public static string? ReadBtrfs(ReadOnlySpan<byte> head)
    {
        const int sb = 0x10000;
        if (head.Length < sb + 0x48 || !head.Slice(sb + 0x40, 8).SequenceEqual("_BHRfS_M"u8))
            return null;
        return FormatBytes(head.Slice(sb + 0x20, 16));
    }

    /// <summary>
    /// Linux swap (include/linux/swap.h, union swap_header): "SWAPSPACE2" in the last 10 bytes of the first
    /// page; info.uuid follows bootbits[1024] and three __u32 (version, last_page, nr_badpages), i.e. at byte
    /// 1036. The page size is the one of the machine that ran mkswap, so try the common ones.
    /// </summary>
    public static string? ReadSwap(ReadOnlySpan<byte> head)
    {
        ReadOnlySpan<int> pageSizes = [4096, 8192, 16384, 65536];
        foreach (int page in pageSizes)
        {
            if (head.Length < page)
                break;
            if (head.Slice(page - 10, 10).SequenceEqual("SWAPSPACE2"u8))
            {
                ReadOnlySpan<byte> uuid = head.Slice(1024 + 12, 16);
                // mkswap without libuuid leaves it zero; that is not an identity.
                return uuid.IndexOfAnyExcept((byte)0) < 0 ? null : FormatBytes(uuid);
            }
        }
        return null;
    }

    /// <summary>
    /// LUKS1 and LUKS2: magic "LUKS\xBA\xBE" at 0 and the UUID as NUL-terminated text in a 40-byte field at
    /// 168 (cryptsetup's on-disk format documents; the same offset in both versions).
    /// </summary>
    public static string? ReadLuks(ReadOnlySpan<byte> head)
    {
        ReadOnlySpan<byte> magic = [(byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xBA, 0xBE];
        if (head.Length < 208 || !head[..6].SequenceEqual(magic))
            return null;
        ReadOnlySpan<byte> field = head.Slice(168, 40);
        int nul = field.IndexOf((byte)0);
        if (nul >= 0)
            field = field[..nul];
        if (field.IsEmpty)
            return null;
        return Normalize(Encoding.ASCII.GetString(field));
    }

    /// <summary>
    /// The unique partition GUID of GPT entry <paramref name="entryIndex"/> (0-based; Linux partition
    /// number = index + 1). <paramref name="disk"/> starts at LBA 0 and must cover the header at LBA 1 and
    /// the entry. The GUID is stored mixed-endian (UEFI spec 2.x, "GPT Partition Entry Array": the first
    /// three fields little-endian).
    /// </summary>
    public static string? ReadGptPartitionGuid(ReadOnlySpan<byte> disk, int sectorSize, int entryIndex)
    {
        if (!TryReadGptHeader(disk, sectorSize, out long entriesLba, out uint count, out uint entrySize))
            return null;
        if ((uint)entryIndex >= count)
            return null;
        long off = entriesLba * sectorSize + (long)entryIndex * entrySize;
        if (off + 32 > disk.Length)
            return null;
        ReadOnlySpan<byte> entry = disk.Slice((int)off, 32);
        if (entry[..16].IndexOfAnyExcept((byte)0) < 0)
            return null;   // unused entry: type GUID zero
        return FormatMixedEndianGuid(entry.Slice(16, 16));
    }

    /// <summary>Reads the fields of the GPT header at LBA 1 that locate the entry array.</summary>
    public static bool TryReadGptHeader(ReadOnlySpan<byte> disk, int sectorSize, out long entriesLba, out uint count, out uint entrySize)
    {
        entriesLba = 0;
        count = entrySize = 0;
        if (disk.Length < sectorSize + 92 || !disk.Slice(sectorSize, 8).SequenceEqual("EFI PART"u8))
            return false;
        ReadOnlySpan<byte> h = disk.Slice(sectorSize, 92);
        entriesLba = (long)BinaryPrimitives.ReadUInt64LittleEndian(h.Slice(72, 8));
        count = BinaryPrimitives.ReadUInt32LittleEndian(h.Slice(80, 4));
        entrySize = BinaryPrimitives.ReadUInt32LittleEndian(h.Slice(84, 4));
        // The spec requires 128 * 2^n; anything else is a corrupt header, and a huge LBA cannot be read anyway.
        return entrySize >= 128 && (entrySize & (entrySize - 1)) == 0 && entriesLba >= 2 && entriesLba < int.MaxValue / sectorSize;
    }

    /// <summary>
    /// The PARTUUID Linux gives an MBR partition: the disk signature at byte 440 (LE) and the partition
    /// number, "%08x-%02x".
    /// </summary>
    public static string? ReadMbrPartUuid(ReadOnlySpan<byte> disk, int partitionNumber)
    {
        if (disk.Length < 512 || disk[510] != 0x55 || disk[511] != 0xAA)
            return null;
        uint sig = BinaryPrimitives.ReadUInt32LittleEndian(disk.Slice(440, 4));
        if (sig == 0)
            return null;
        return sig.ToString("x8", System.Globalization.CultureInfo.InvariantCulture) + "-"
            + partitionNumber.ToString("x2", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Canonical lower-case form for comparison; accepts any case and surrounding blanks.</summary>
    public static string Normalize(string uuid) => uuid.Trim().ToLowerInvariant();

    /// <summary>16 bytes in stored order as 8-4-4-4-12 hex (how ext4, xfs, btrfs and swap print theirs).</summary>
    public static string FormatBytes(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder(36);
        for (int i = 0; i < 16; i++)
        {
            if (i is 4 or 6 or 8 or 10)
                sb.Append('-');
            sb.Append(b[i].ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>A GUID stored as LE u32, LE u16, LE u16, then 8 bytes in order.</summary>
    public static string FormatMixedEndianGuid(ReadOnlySpan<byte> b)
    {
        Span<byte> t = stackalloc byte[16];
        t[0] = b[3]; t[1] = b[2]; t[2] = b[1]; t[3] = b[0];
        t[4] = b[5]; t[5] = b[4];
        t[6] = b[7]; t[7] = b[6];
        b.Slice(8, 8).CopyTo(t[8..]);
        return FormatBytes(t);
    }
}
