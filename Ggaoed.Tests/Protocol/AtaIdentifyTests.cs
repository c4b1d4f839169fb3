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
        Assert.Equal("2.0.0", AtaIdentify.ReadString(id, 23, 8));
        Assert.Equal((byte)' ', id[20 + 19]); // last serial byte is padding
    }

    [Fact]
    public void ConfiguredStrings_AreUsed_AndTruncatedOrSanitized()
    {
        var t = new AoeTarget(1, 2, 1000) { Serial = "SERIAL-0123456789-ABCDEFG", Model = "My\u00e9Disk", FirmwareRevision = "fw1" };
        ReadOnlySpan<byte> id = t.IdentifyBlock;
        Assert.Equal("SERIAL-0123456789-AB", AtaIdentify.ReadString(id, 10, 20));
        Assert.Equal("My Disk", AtaIdentify.ReadString(id, 27, 40));
        Assert.Equal("fw1", AtaIdentify.ReadString(id, 23, 8));
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
        t.WriteCache = true;
        Assert.NotEqual(0, AtaIdentify.GetWord(t.IdentifyBlock, 85) & (1 << 5));
        t.SectorCount = 5000;
        Assert.Equal(5000, AtaIdentify.GetWord(t.IdentifyBlock, 60));
    }
}
