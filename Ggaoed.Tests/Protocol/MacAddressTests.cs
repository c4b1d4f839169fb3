using System;
using Ggaoed.Protocol;
using Xunit;

namespace Ggaoed.Tests.Protocol;

public class MacAddressTests
{
    [Theory]
    [InlineData("00:11:22:33:44:55", 0x0011_2233_4455UL)]
    [InlineData("00-11-22-33-44-55", 0x0011_2233_4455UL)]
    [InlineData("AA:bb:Cc:dD:ee:FF", 0xAABB_CCDD_EEFFUL)]
    [InlineData("ff:ff:ff:ff:ff:ff", 0xFFFF_FFFF_FFFFUL)]
    public void Parse_AcceptsColonOrDashSeparatedHex(string text, ulong value)
    {
        Assert.True(MacAddress.TryParse(text, out MacAddress mac));
        Assert.Equal(value, mac.Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("00:11:22:33:44")]
    [InlineData("00:11:22:33:44:55:66")]
    [InlineData("00:11:22-33:44:55")]
    [InlineData("00.11.22.33.44.55")]
    [InlineData("0:11:22:33:44:55:")]
    [InlineData("00:11:22:33:44:5g")]
    [InlineData(" 00:11:22:33:44:55")]
    [InlineData("00:11:22:33:44:55 ")]
    [InlineData("001122334455")]
    [InlineData("+0:11:22:33:44:55")]
    public void Parse_RejectsGarbage(string text)
    {
        Assert.False(MacAddress.TryParse(text, out _));
        Assert.Throws<FormatException>(() => MacAddress.Parse(text));
    }

    [Fact]
    public void Format_IsLowerCaseColonSeparated_AndRoundTrips()
    {
        MacAddress mac = MacAddress.Parse("0A-1B-2C-3D-4E-5F");
        Assert.Equal("0a:1b:2c:3d:4e:5f", mac.ToString());
        Assert.Equal(mac, MacAddress.Parse(mac.ToString()));
        Span<char> small = stackalloc char[16];
        Assert.False(mac.TryFormat(small, out _));
    }

    [Fact]
    public void ReadWrite_UseWireOrder()
    {
        byte[] bytes = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
        MacAddress mac = MacAddress.Read(bytes);
        Assert.Equal(0x0211_2233_4455UL, mac.Value);
        var back = new byte[6];
        mac.Write(back);
        Assert.Equal(bytes, back);
    }

    [Fact]
    public void GroupBit_IsTheLowBitOfTheFirstByte()
    {
        Assert.True(MacAddress.Broadcast.IsGroup);
        Assert.True(MacAddress.Parse("01:00:5e:00:00:01").IsGroup);
        Assert.False(MacAddress.Parse("02:00:00:00:00:01").IsGroup);
        Assert.True(MacAddress.Broadcast.IsBroadcast);
    }
}
