using System;
using System.Collections.Generic;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

/// <summary>
/// Advertisements (ggaoed 1.1's unsolicited Query Config response): what goes on the wire and to whom.
/// </summary>
public class AdvertisementTests
{
    private static byte[] Advertise(AoeTarget target, MacAddress to, AoeInterface? iface = null)
    {
        var frame = new byte[1600];
        int n = AoeEngine.WriteAdvertisement(frame, target, iface ?? Iface1500, to);
        return frame.AsSpan(0, n).ToArray();
    }

    [Fact]
    public void Advertisement_IsAConfigReplyWithTagZero_ByteExact()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString("hello"u8);
        byte[] frame = Advertise(t, Host);
        // The reply a Query Config read from Host would get, with tag 0.
        string expected = ReplyHeader(1, tag: 0) + "0040" + "0200" + "02" + "10" + "0005" + ToHex("hello"u8) + Zeros(23);
        Assert.Equal(expected, ToHex(frame));
        Assert.Equal(60, frame.Length);
    }

    [Fact]
    public void Advertisement_CarriesThisInterfacesSectors_AndTheBroadcastDestination()
    {
        byte[] frame = Advertise(NewTarget(), MacAddress.Broadcast, Iface9000);
        Assert.Equal("ffffffffffff", ToHex(frame.AsSpan(0, 6)));
        Assert.Equal(17, frame[28]);
        Assert.Equal(0x18, frame[14]); // version 1, Response
        Assert.Equal(0u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(20)));
    }

    [Fact]
    public void Advertisement_ThatDoesNotFit_IsNotWritten()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString(new byte[1024]);
        Assert.Equal(0, AoeEngine.WriteAdvertisement(new byte[100], t, Iface1500, Host));
        Assert.Equal(0, AoeEngine.WriteAdvertisement(new byte[2000], t, new AoeInterface(Ours, 600), Host));
    }

    [Fact]
    public void WithoutAnyList_TheDeviceIsAnnouncedByBroadcast()
    {
        var unicast = new List<MacAddress>();
        Assert.True(NewTarget().AdvertiseTo(unicast));
        Assert.Empty(unicast);
    }

    [Fact]
    public void WithAnAcceptList_EachAcceptedMacGetsItsOwnFrame_ButNotADeniedOrMaskedOutOne()
    {
        AoeTarget t = NewTarget();
        t.AcceptList = new MacSet([Host, OtherHost, MacAddress.Parse("02:00:00:00:00:04")]);
        t.DenyList = new MacSet([OtherHost]);
        var unicast = new List<MacAddress>();
        Assert.False(t.AdvertiseTo(unicast));
        Assert.Equal([Host, MacAddress.Parse("02:00:00:00:00:04")], unicast);

        t.MaskList.TryAdd(Host);
        unicast.Clear();
        Assert.False(t.AdvertiseTo(unicast));
        Assert.Equal([Host], unicast);
    }

    [Fact]
    public void AnnounceByBroadcast_BroadcastsEvenWithAnAcceptList()
    {
        AoeTarget t = NewTarget();
        t.AcceptList = new MacSet([Host]);
        t.AnnounceByBroadcast = true;
        var unicast = new List<MacAddress>();
        Assert.True(t.AdvertiseTo(unicast));
        Assert.Empty(unicast);
    }

    [Fact]
    public void AnAcceptListOfNobody_AnnouncesToNobody_AndAMaskListAloneIsUnicast()
    {
        AoeTarget t = NewTarget();
        t.AcceptList = MacSet.Empty;
        var unicast = new List<MacAddress>();
        Assert.False(t.AdvertiseTo(unicast));
        Assert.Empty(unicast);

        AoeTarget masked = NewTarget();
        masked.MaskList.TryAdd(OtherHost);
        Assert.False(masked.AdvertiseTo(unicast));
        Assert.Equal([OtherHost], unicast);
    }
}
