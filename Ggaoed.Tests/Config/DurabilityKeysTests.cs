using Ggaoed.Daemon.Config;
using Xunit;

namespace Ggaoed.Tests.Config;

/// <summary>write-cache, shared, offset and length: parsed, validated against each other, modelled.</summary>
public class DurabilityKeysTests
{
    private const string Device = ConfigText.Device;

    private static ConfigLoadResult Load(string text, FakeConfigHost? host = null) => ConfigText.Load(text, host);

    private static DeviceConfig Single(string text, FakeConfigHost? host = null)
    {
        ConfigLoadResult r = Load(text, host);
        Assert.Equal([], ConfigText.Lines(r.Errors));
        return Assert.Single(r.Config!.Devices);
    }

    [Theory]
    [InlineData("", "", false, false)]
    [InlineData("", "write-cache = false\n", false, true)]
    [InlineData("", "write-cache = true\n", true, true)]
    [InlineData("write-cache = true\n", "", true, true)]
    [InlineData("write-cache = false\n", "", false, true)]
    [InlineData("write-cache = true\n", "write-cache = false\n", false, true)]
    public void WriteCache_DefaultsOff_AndIsPinnedWhenTheConfigurationSetsIt(string defaults, string device, bool on, bool pinned)
    {
        DeviceConfig d = Single("[defaults]\n" + defaults + Device + device);
        Assert.Equal(on, d.WriteCache);
        Assert.Equal(pinned, d.WriteCachePinned);
    }

    [Fact]
    public void Shared_PinsTheWriteCacheOff()
    {
        DeviceConfig d = Single(Device + "shared = true\n");
        Assert.True(d.Shared);
        Assert.True(d.DirectIo);
        Assert.False(d.WriteCache);
        Assert.True(d.WriteCachePinned);
    }

    [Fact]
    public void Shared_WithoutDirectIo_OrWithTheWriteCacheOn_IsAnError_NamingBothLines()
    {
        ConfigLoadResult r = Load("[defaults]\ndirect-io = false\n" + Device + "shared = true\n[e]\npath = /srv/b\nshelf = 1\nslot = 2\ndirect-io = true\nwrite-cache = true\nshared = true\n");
        Assert.Equal(
        [
            "g.conf:7: shared: a shared device needs direct-io = true ([defaults] at line 1 turns it off): this gateway's page cache would serve stale data after another gateway wrote",
            "g.conf:14: shared: a shared device needs write-cache = false (line 13 turns it on): this gateway would answer writes other gateways cannot see yet",
        ], ConfigText.Lines(r.Errors));
    }

    [Theory]
    [InlineData("2048", 2048L)]
    [InlineData("0", 0L)]
    [InlineData("1K", 2L)]
    [InlineData("1k", 2L)]
    [InlineData("4M", 8192L)]
    [InlineData("1G", 2097152L)]
    [InlineData("2T", 4294967296L)]
    public void OffsetAndLength_AreSectors_OrBytesWithASuffix(string value, long sectors)
    {
        DeviceConfig d = Single(Device + "offset = " + value + "\n", new FakeConfigHost().WithFile("/srv/a", 1L << 50));
        Assert.Equal(sectors, d.OffsetSectors);
        if (sectors > 0)
            Assert.Equal(sectors, Single(Device + "length = " + value + "\n", new FakeConfigHost().WithFile("/srv/a", 1L << 50)).LengthSectors);
    }

    [Theory]
    [InlineData("offset = -1", "offset: '-1' is not a size: write sectors of 512 bytes (e.g. 2048), or bytes with a K, M, G or T suffix (e.g. 1M)")]
    [InlineData("offset = 1.5M", "offset: '1.5M' is not a size: write sectors of 512 bytes (e.g. 2048), or bytes with a K, M, G or T suffix (e.g. 1M)")]
    [InlineData("length = 12X", "length: '12X' is not a size: write sectors of 512 bytes (e.g. 2048), or bytes with a K, M, G or T suffix (e.g. 1M)")]
    [InlineData("length = M", "length: 'M' is not a size: write sectors of 512 bytes (e.g. 2048), or bytes with a K, M, G or T suffix (e.g. 1M)")]
    [InlineData("length = 0", "length: an export of 0 sectors: remove length to export up to the end of the backing store")]
    [InlineData("length = 281474976710657", "length: 281474976710657 sectors is past the 48-bit LBA limit of AoE (281474976710656 sectors)")]
    [InlineData("length = 131073T", "length: 131073T is past the 48-bit LBA limit of AoE (281474976710656 sectors of 512 bytes)")]
    public void BadOffsetOrLength_IsAnError(string line, string message)
    {
        ConfigLoadResult r = Load(Device + line + "\n");
        Assert.Equal(["g.conf:5: " + message], ConfigText.Lines(r.Errors));
    }

    [Fact]
    public void OffsetAndLength_ThatDoNotFitTheStore_Warn_WhenItsSizeIsKnown()
    {
        var host = new FakeConfigHost().WithFile("/srv/a", 1 << 20).WithFile("/srv/b", 1 << 20).WithFile("/srv/c", 1 << 20);
        ConfigLoadResult r = Load(Device + "offset = 2048\n[e]\npath = /srv/b\nshelf = 1\nslot = 2\noffset = 1024\nlength = 1025\n"
            + "[f]\npath = /srv/c\nshelf = 1\nslot = 3\noffset = 1024\nlength = 1024\n", host);
        Assert.True(r.Ok);
        Assert.Equal(
        [
            "g.conf:5: offset: sector 2048 is at or past the end of /srv/a (2048 sectors): the device cannot be opened until the store grows",
            "g.conf:11: length: offset + length = 2049 sectors runs past the end of /srv/b (2048 sectors): the device cannot be opened until the store grows",
        ], ConfigText.Lines(r.Warnings));
        Assert.Equal(1024, r.Config!.FindDevice("f")!.LengthSectors);
    }

    [Fact]
    public void StoreOfUnknownSize_IsNotJudged()
    {
        var host = new FakeConfigHost().WithFile("/srv/a", -1);
        Assert.Equal(1L << 40, Single(Device + "offset = " + (1L << 40) + "\n", host).OffsetSectors);
    }
}
