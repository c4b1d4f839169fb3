using System;
using System.Buffers.Binary;
using System.Text;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

/// <summary>ggaoed 1.1's state files, built byte by byte as its raw structs lay them out on x86-64.</summary>
public class LegacyStateFilesTests
{
    private static byte[] ConfigFile(string value, uint magic = 0x38A0BFAE, int? length = null, int size = 1032)
    {
        var f = new byte[size];
        Span<byte> whole = stackalloc byte[1032];
        BinaryPrimitives.WriteUInt32LittleEndian(whole, magic);
        BinaryPrimitives.WriteUInt32LittleEndian(whole.Slice(4), (uint)(length ?? value.Length));
        Encoding.ASCII.GetBytes(value).CopyTo(whole.Slice(8));
        whole.Slice(0, Math.Min(size, 1032)).CopyTo(f);
        return f;
    }

    private static byte[] MacListFile(MacAddress[] macs, uint magic = 0xE92A716B, int? count = null, int size = 2048)
    {
        var whole = new byte[2048];
        BinaryPrimitives.WriteUInt32LittleEndian(whole, magic);
        BinaryPrimitives.WriteUInt32LittleEndian(whole.AsSpan(4), (uint)(count ?? macs.Length));
        for (int i = 0; i < macs.Length; i++)
        {
            macs[i].Write(whole.AsSpan(8 + 8 * i));
            whole[8 + 8 * i + 6] = 0xCC; // struct padding: whatever was on 1.1's stack
            whole[8 + 8 * i + 7] = 0xCC;
        }
        var f = new byte[size];
        whole.AsSpan(0, Math.Min(size, 2048)).CopyTo(f);
        return f;
    }

    private static MacAddress Mac(int n) => new(0x0200_0000_3000UL + (ulong)n);

    [Fact]
    public void Layout_IsWhatGgaoed11Writes()
    {
        Assert.Equal(1032, LegacyStateFiles.ConfigFileLength);
        Assert.Equal(2048, LegacyStateFiles.MacListFileLength);
        // The first bytes of a real file: magic little-endian, then the length.
        Assert.Equal("aebfa038" + "05000000" + ToHex("hello"u8), ToHex(ConfigFile("hello").AsSpan(0, 13)));
    }

    [Fact]
    public void Config_IsReadUpToItsLength_IgnoringStaleBytesAfterIt()
    {
        byte[] file = ConfigFile("cluster-7");
        file[8 + 9] = (byte)'X'; // left over from a longer string once set
        Assert.True(LegacyStateFiles.TryParseConfig(file, out byte[] config, out string? error), error);
        Assert.Equal("cluster-7", Encoding.ASCII.GetString(config));
        Assert.Null(error);
    }

    [Fact]
    public void Config_EmptyAndFull1024Bytes_AreFine()
    {
        Assert.True(LegacyStateFiles.TryParseConfig(ConfigFile(""), out byte[] config, out _));
        Assert.Empty(config);
        Assert.True(LegacyStateFiles.TryParseConfig(ConfigFile(new string('z', 1024)), out config, out _));
        Assert.Equal(1024, config.Length);
    }

    [Theory]
    [InlineData(0, "is 0 bytes, a ggaoed 1.1 config file has 1032")]
    [InlineData(8, "is 8 bytes")]
    [InlineData(1031, "is 1031 bytes")]
    [InlineData(1033, "is 1033 bytes")]
    [InlineData(2048, "is 2048 bytes")]
    public void Config_OfTheWrongSize_IsRefused(int size, string expected)
    {
        Assert.False(LegacyStateFiles.TryParseConfig(ConfigFile("abc", size: size), out byte[] config, out string? error));
        Assert.Contains(expected, error);
        Assert.Empty(config);
    }

    [Fact]
    public void Config_WithBadMagic_IsRefused_NamingBothMagics()
    {
        Assert.False(LegacyStateFiles.TryParseConfig(ConfigFile("abc", magic: 0xE92A716B), out _, out string? error));
        Assert.Equal("bad magic 0xE92A716B, a ggaoed 1.1 config file starts with 0x38A0BFAE", error);
    }

    [Fact]
    public void Config_FromABigEndianHost_IsNamedAsSuch()
    {
        Assert.False(LegacyStateFiles.TryParseConfig(ConfigFile("abc", magic: 0xAEBFA038), out _, out string? error));
        Assert.Contains("big-endian", error);
    }

    [Theory]
    [InlineData(1025)]
    [InlineData(0x0300_0000)] // a big-endian 3
    public void Config_LengthOver1024_IsRefused(int length)
    {
        Assert.False(LegacyStateFiles.TryParseConfig(ConfigFile("abc", length: length), out _, out string? error));
        Assert.Equal($"config string length {length} is more than 1024", error);
    }

    [Fact]
    public void MacList_IsReadInOrder_IgnoringPaddingAndSlotsPastTheCount()
    {
        byte[] file = MacListFile(new[] { Host, OtherHost, Mac(1) }, count: 2);
        Assert.True(LegacyStateFiles.TryParseMacList(file, 64, out MacAddress[] macs, out int dropped, out string? error), error);
        Assert.Equal(new[] { Host, OtherHost }, macs);
        Assert.Equal(0, dropped);
    }

    [Fact]
    public void MacList_Empty_IsFine_AndDuplicatesCollapse()
    {
        Assert.True(LegacyStateFiles.TryParseMacList(MacListFile(Array.Empty<MacAddress>()), 64, out MacAddress[] macs, out _, out _));
        Assert.Empty(macs);
        Assert.True(LegacyStateFiles.TryParseMacList(MacListFile(new[] { Host, Host, OtherHost }), 64, out macs, out int dropped, out _));
        Assert.Equal(new[] { Host, OtherHost }, macs);
        Assert.Equal(0, dropped);
    }

    [Theory]
    [InlineData(64, 64, 0)]
    [InlineData(65, 64, 1)]
    [InlineData(255, 64, 191)]
    public void MacList_LongerThanOurCapacity_KeepsTheFirst_AndSaysHowManyWereDropped(int count, int kept, int droppedExpected)
    {
        var all = new MacAddress[count];
        for (int i = 0; i < count; i++)
            all[i] = Mac(i);
        Assert.True(LegacyStateFiles.TryParseMacList(MacListFile(all), AoeTarget.MaskListCapacity, out MacAddress[] macs, out int dropped, out string? error), error);
        Assert.Equal(all.AsSpan(0, kept).ToArray(), macs);
        Assert.Equal(droppedExpected, dropped);
    }

    [Theory]
    [InlineData(256)]
    [InlineData(0x0100_0000)] // a big-endian 1
    public void MacList_CountOver255_IsRefused(int count)
    {
        Assert.False(LegacyStateFiles.TryParseMacList(MacListFile(new[] { Host }, count: count), 64, out MacAddress[] macs, out _, out string? error));
        Assert.Equal($"MAC count {count} is more than 255", error);
        Assert.Empty(macs);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(2047)]
    [InlineData(2049)]
    [InlineData(1032)]
    public void MacList_OfTheWrongSize_IsRefused(int size)
    {
        Assert.False(LegacyStateFiles.TryParseMacList(MacListFile(new[] { Host }, size: size), 64, out _, out _, out string? error));
        Assert.Equal($"is {size} bytes, a ggaoed 1.1 MAC list file has 2048", error);
    }

    [Fact]
    public void MacList_WithBadMagic_IsRefused()
    {
        Assert.False(LegacyStateFiles.TryParseMacList(MacListFile(new[] { Host }, magic: 0x38A0BFAE), 64, out _, out _, out string? error));
        Assert.Equal("bad magic 0x38A0BFAE, a ggaoed 1.1 MAC list file starts with 0xE92A716B", error);
        Assert.False(LegacyStateFiles.TryParseMacList(MacListFile(new[] { Host }, magic: 0x6B712AE9), 64, out _, out _, out error));
        Assert.Contains("big-endian", error);
    }

    [Fact]
    public void EveryTruncationOfValidFiles_IsRefused_NeverThrows()
    {
        byte[] config = ConfigFile("abc");
        for (int n = 0; n < config.Length; n++)
            Assert.False(LegacyStateFiles.TryParseConfig(config.AsSpan(0, n), out _, out _));
        byte[] list = MacListFile(new[] { Host });
        for (int n = 0; n < list.Length; n++)
            Assert.False(LegacyStateFiles.TryParseMacList(list.AsSpan(0, n), 64, out _, out _, out _));
    }

    [Fact]
    public void ImportState_AppliesAParsedSet_AndBumpsStateVersion()
    {
        Assert.True(LegacyStateFiles.TryParseConfig(ConfigFile("legacy"), out byte[] config, out _));
        Assert.True(LegacyStateFiles.TryParseMacList(MacListFile(new[] { Host, OtherHost }), AoeTarget.MaskListCapacity, out MacAddress[] mask, out _, out _));
        Assert.True(LegacyStateFiles.TryParseMacList(MacListFile(new[] { Host }), AoeTarget.ReserveListCapacity, out MacAddress[] reserve, out _, out _));
        AoeTarget t = NewTarget();
        t.ImportState(config, mask, reserve);
        Assert.Equal(1, t.StateVersion);
        Assert.Equal("ggaoed-state 2\nconfig 6c6567616379\nmask 02:00:00:00:00:02\nmask 02:00:00:00:00:03\nreserve 02:00:00:00:00:02\n",
            t.SerializeState());
        t.ImportState(config, mask, reserve);
        Assert.Equal(1, t.StateVersion); // the same again: nothing to persist
        Assert.Throws<ArgumentException>(() => t.ImportState(new byte[1025], default, default));
        var tooMany = new MacAddress[65];
        for (int i = 0; i < tooMany.Length; i++)
            tooMany[i] = Mac(i);
        Assert.Throws<ArgumentException>(() => t.ImportState(default, tooMany, default));
        Assert.Equal(1, t.StateVersion);
    }
}
