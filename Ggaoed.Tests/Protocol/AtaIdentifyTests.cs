using System;
using System.Buffers.Binary;
using Ggaoed.Protocol;
using Xunit;

namespace Ggaoed.Tests.Protocol;

public class AtaIdentifyTests
{
    [Theory]
    [InlineData(1000UL)]
    [InlineData(0x0FFF_FFFFUL)]
    [InlineData(0x1_0000_0000UL)]
    [InlineData(0xFFFF_FFFF_FFFFUL)]
    public void ChecksumAndSignature_MakeTheBlockSumToZero(ulong sectors)
    {
        ReadOnlySpan<byte> id = new AoeTarget(1, 2, sectors).IdentifyBlock;
        Assert.Equal(512, id.Length);
        Assert.Equal(0xA5, id[510]);
        byte sum = 0;
        foreach (byte b in id)
            sum += b;
        Assert.Equal(0, sum);
    }

    [Theory]
    [InlineData(1000UL, 1000U)]
    [InlineData(0x0FFF_FFFFUL, 0x0FFF_FFFFU)]
    [InlineData(0x1000_0000UL, 0x0FFF_FFFFU)]
    [InlineData(0x1_2345_6789UL, 0x0FFF_FFFFU)]
    public void Capacity_Lba28WordsCapAt0FFFFFFF_Lba48WordsHoldTheFullCount(ulong sectors, uint lba28)
    {
        ReadOnlySpan<byte> id = new AoeTarget(1, 2, sectors).IdentifyBlock;
        Assert.Equal(lba28, (uint)(AtaIdentify.GetWord(id, 60) | AtaIdentify.GetWord(id, 61) << 16));
        Assert.Equal(sectors, BinaryPrimitives.ReadUInt64LittleEndian(id.Slice(200)));
    }

    [Fact]
    public void Strings_AreSpacePaddedAndByteSwappedPerWord()
    {
        var t = new AoeTarget(7, 3, 1000);
        ReadOnlySpan<byte> id = t.IdentifyBlock;
        // Model "ggaoed": word 27 = 'g','g'; word 28 = 'a','o' stored as 'o','a'; word 29 'e','d' as 'd','e'.
        Assert.Equal("ggoade  ", System.Text.Encoding.ASCII.GetString(id.Slice(54, 8)));
        Assert.Equal("ggaoed", AtaIdentify.ReadString(id, 27, 40));
        Assert.Equal("7.3", AtaIdentify.ReadString(id, 10, 20));
        Assert.Equal(".7 3", System.Text.Encoding.ASCII.GetString(id.Slice(20, 4)));
        Assert.Equal("2.0", AtaIdentify.ReadString(id, 23, 8));
        Assert.Equal((byte)' ', id[20 + 19]); // last serial byte is padding
    }

    [Fact]
    public void ConfiguredModel_IsUsed_AndSanitized()
    {
        var t = new AoeTarget(1, 2, 1000) { Model = "My\u00e9Disk" };
        Assert.Equal("My Disk", AtaIdentify.ReadString(t.IdentifyBlock, 27, 40));
    }

    [Fact]
    public void Serial_IsTheDeviceName_ByteSwappedPerWord_SpacePadded()
    {
        var t = new AoeTarget(7, 3, 1000) { Name = "disk1" };
        ReadOnlySpan<byte> serial = t.IdentifyBlock.Slice(20, 20);
        // ATA string: characters 2i and 2i+1 in the high and low byte of word i (stored low byte first).
        Assert.Equal("idks 1" + new string(' ', 14), System.Text.Encoding.ASCII.GetString(serial));
        Assert.Equal("disk1", AtaIdentify.ReadString(t.IdentifyBlock, 10, 20));
    }

    [Fact]
    public void Serial_FromALongName_KeepsTheFirst20Characters()
    {
        var t = new AoeTarget(7, 3, 1000) { Name = "backup-volume-0123456789" };
        Assert.Equal("abkcpuv-lomu-e103254", System.Text.Encoding.ASCII.GetString(t.IdentifyBlock.Slice(20, 20)));
        Assert.Equal("backup-volume-012345", AtaIdentify.ReadString(t.IdentifyBlock, 10, 20));
        // Exactly 20: no padding at all.
        t.Name = "abcdefghijklmnopqrst";
        Assert.Equal("badcfehgjilknmporqts", System.Text.Encoding.ASCII.GetString(t.IdentifyBlock.Slice(20, 20)));
    }

    [Fact]
    public void Serial_WithoutAName_IsShelfDotSlot()
    {
        var t = new AoeTarget(7, 3, 1000) { Name = "x" };
        t.Name = null;
        Assert.Equal("7.3", AtaIdentify.ReadString(t.IdentifyBlock, 10, 20));
        t.Name = "";
        Assert.Equal("7.3", AtaIdentify.ReadString(t.IdentifyBlock, 10, 20));
    }

    [Fact]
    public void FirmwareRevision_IsTheQueryConfigFirmwareVersion_AsMajorDotMinor()
    {
        var t = new AoeTarget(1, 2, 1000);
        Assert.Equal(0x0200, t.FirmwareVersion);
        Assert.Equal("2.0", AtaIdentify.ReadString(t.IdentifyBlock, 23, 8));
        // The default is this release's major.minor.
        Assert.StartsWith(t.FirmwareRevision + ".", Program.Version);
        t.FirmwareVersion = 0x4019;
        Assert.Equal("64.25", AtaIdentify.ReadString(t.IdentifyBlock, 23, 8));
        t.FirmwareVersion = 0xFFFF;
        Assert.Equal("255.255", AtaIdentify.ReadString(t.IdentifyBlock, 23, 8)); // 7 characters: fits words 23-26
    }

    [Fact]
    public void FeatureBits_AdvertiseLba48FlushExtAndWriteCache()
    {
        ReadOnlySpan<byte> id = new AoeTarget(1, 2, 1000).IdentifyBlock;
        Assert.NotEqual(0, AtaIdentify.GetWord(id, 49) & (1 << 9));                    // LBA
        Assert.NotEqual(0, (AtaIdentify.GetWord(id, 83) | AtaIdentify.GetWord(id, 86)) & (1 << 10)); // LBA48 (Linux test)
        Assert.NotEqual(0, AtaIdentify.GetWord(id, 83) & (1 << 13));                   // FLUSH CACHE EXT
        Assert.Equal(0x4000, AtaIdentify.GetWord(id, 83) & 0xC000);                    // word valid
        Assert.NotEqual(0, AtaIdentify.GetWord(id, 82) & (1 << 5));                    // write cache supported
        Assert.Equal(0, AtaIdentify.GetWord(id, 85) & (1 << 5));                       // ...not enabled
    }

    [Fact]
    public void WriteCacheAndSizeChanges_RebuildTheBlock()
    {
        var t = new AoeTarget(1, 2, 1000);
        _ = t.IdentifyBlock;
        t.ConfigureWriteCache(enabled: true, pinned: false);
        Assert.NotEqual(0, AtaIdentify.GetWord(t.IdentifyBlock, 85) & (1 << 5));
        t.SectorCount = 5000;
        Assert.Equal(5000, AtaIdentify.GetWord(t.IdentifyBlock, 60));
    }
}
