using System;
using System.Buffers.Binary;
using System.Text;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

public class UuidSuperblockTests
{
    private static byte[] Head() => new byte[UuidSuperblock.HeadBytes];

    [Fact]
    public void Ext_ReadsSUuid_WhenMagicIsPresent()
    {
        byte[] img = Head();
        BinaryPrimitives.WriteUInt16LittleEndian(img.AsSpan(1024 + 0x38), 0xEF53);
        DiskImages.SampleUuid.CopyTo(img, 1024 + 0x68);
        Assert.Equal(DiskImages.SampleUuidText, UuidSuperblock.ReadExt(img));
        Assert.Equal(DiskImages.SampleUuidText, UuidSuperblock.Probe(img, out UuidSource s));
        Assert.Equal(UuidSource.Ext, s);
        img[1024 + 0x38] = 0;
        Assert.Null(UuidSuperblock.ReadExt(img));
    }

    [Fact]
    public void Xfs_ReadsSbUuidAt32()
    {
        byte[] img = Head();
        "XFSB"u8.CopyTo(img);
        DiskImages.SampleUuid.CopyTo(img, 32);
        Assert.Equal(DiskImages.SampleUuidText, UuidSuperblock.Probe(img, out UuidSource s));
        Assert.Equal(UuidSource.Xfs, s);
    }

    [Fact]
    public void Btrfs_ReadsFsidFromTheSuperblockAt64KiB()
    {
        byte[] img = Head();
        "_BHRfS_M"u8.CopyTo(img.AsSpan(0x10000 + 0x40));
        DiskImages.SampleUuid.CopyTo(img, 0x10000 + 0x20);
        Assert.Equal(DiskImages.SampleUuidText, UuidSuperblock.Probe(img, out UuidSource s));
        Assert.Equal(UuidSource.Btrfs, s);
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(65536)]
    public void Swap_ReadsInfoUuid_ForThePageSizeMkswapUsed(int page)
    {
        byte[] img = Head();
        "SWAPSPACE2"u8.CopyTo(img.AsSpan(page - 10));
        DiskImages.SampleUuid.CopyTo(img, 1024 + 12);
        Assert.Equal(DiskImages.SampleUuidText, UuidSuperblock.Probe(img, out UuidSource s));
        Assert.Equal(UuidSource.Swap, s);
    }

    [Fact]
    public void Swap_WithAllZeroUuid_HasNoUuid()
    {
        byte[] img = Head();
        "SWAPSPACE2"u8.CopyTo(img.AsSpan(4096 - 10));
        Assert.Null(UuidSuperblock.ReadSwap(img));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Luks_ReadsTextUuidAt168_BothVersions(int version)
    {
        byte[] img = Head();
        new byte[] { (byte)'L', (byte)'U', (byte)'K', (byte)'S', 0xBA, 0xBE }.CopyTo(img, 0);
        BinaryPrimitives.WriteUInt16BigEndian(img.AsSpan(6), (ushort)version);
        Encoding.ASCII.GetBytes("3D2E8851-6C0B-4F2A-9E71-05AAC34D18F0").CopyTo(img, 168);
        Assert.Equal(DiskImages.SampleUuidText, UuidSuperblock.Probe(img, out UuidSource s));
        Assert.Equal(UuidSource.Luks, s);
    }

    [Fact]
    public void Gpt_ReadsUniquePartitionGuid_MixedEndian()
    {
        var guid = new Guid("1b8e2c4a-3f5d-4e6f-9a0b-1c2d3e4f5a6b");
        byte[] img = DiskImages.Gpt(32768, guid, 2048, 10239);
        // On disk the first field is little-endian: 4a 2c 8e 1b ...
        Assert.Equal(0x4a, img[2 * 512 + 16]);
        Assert.Equal("1b8e2c4a-3f5d-4e6f-9a0b-1c2d3e4f5a6b", UuidSuperblock.ReadGptPartitionGuid(img, 512, 0));
        Assert.Null(UuidSuperblock.ReadGptPartitionGuid(img, 512, 1));     // unused entry
        Assert.Null(UuidSuperblock.ReadGptPartitionGuid(img, 512, 500));   // past the array
        Assert.Null(UuidSuperblock.ReadGptPartitionGuid(img, 4096, 0));    // no header at that sector size
    }

    [Fact]
    public void Mbr_PartUuid_IsDiskSignatureAndNumber()
    {
        byte[] img = new byte[512];
        BinaryPrimitives.WriteUInt32LittleEndian(img.AsSpan(440), 0x5a3c0f12);
        img[510] = 0x55;
        img[511] = 0xAA;
        Assert.Equal("5a3c0f12-02", UuidSuperblock.ReadMbrPartUuid(img, 2));
    }

    [Fact]
    public void Probe_FindsNothingInZerosOrShortBuffers()
    {
        Assert.Null(UuidSuperblock.Probe(Head(), out UuidSource s));
        Assert.Equal(UuidSource.None, s);
        Assert.Null(UuidSuperblock.Probe(new byte[100], out _));
        Assert.Null(UuidSuperblock.Probe(ReadOnlySpan<byte>.Empty, out _));
    }

    [Fact]
    public void Crc32_MatchesTheStandardCheckValue() =>
        Assert.Equal(0xCBF43926u, DiskImages.Crc32("123456789"u8));
}
