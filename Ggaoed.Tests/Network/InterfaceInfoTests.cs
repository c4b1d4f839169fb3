using Ggaoed.Native;
using Ggaoed.Network;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Network;

public class InterfaceInfoTests
{
    [Fact]
    public void Loopback_IsFoundUp_ButIsNotEthernet()
    {
        InterfaceInfo lo = InterfaceInfo.Query("lo");
        Assert.True(lo.Index > 0);
        Assert.True(lo.IsUp);
        Assert.False(lo.IsEthernet);
        Assert.True(lo.Mtu > 0);
    }

    [Fact]
    public void Loopback_CarriesEthernetFrames_WithAnAllZeroMac()
    {
        InterfaceInfo lo = InterfaceInfo.Query("lo");
        Assert.Equal(IfArp.ARPHRD_LOOPBACK, lo.HardwareType);
        Assert.True(lo.IsLoopback);
        Assert.True(lo.CarriesEthernetFrames);
        Assert.Equal(0UL, lo.Mac.Value);
    }

    [Fact]
    public void UnknownInterface_ThrowsNamingIt()
    {
        var e = Assert.Throws<NetworkException>(() => InterfaceInfo.Query("gg-nosuch9"));
        Assert.Equal("gg-nosuch9", e.InterfaceName);
        Assert.Equal((int)Errno.ENODEV, e.Errno);
        Assert.Contains("gg-nosuch9", e.Message);
        Assert.Contains("ENODEV", e.Message);
    }

    [Fact]
    public void OverlongName_IsRejectedBeforeAnyIoctl()
    {
        var e = Assert.Throws<NetworkException>(() => InterfaceInfo.Query("a-name-longer-than-15"));
        Assert.Contains("1 to 15 bytes", e.Message);
    }

    [RootFact]
    public void Veth_ReportsIndexMacMtuAndState()
    {
        using var pair = new VethPair("nwi", mtu: 9000);
        InterfaceInfo info = InNetNs.Run(pair.TargetNs, () => InterfaceInfo.Query(pair.TargetIf));
        string link = Sh.Run($"ip -n {pair.TargetNs} -o link show {pair.TargetIf}");
        Assert.StartsWith(info.Index + ":", link);
        Assert.Equal(9000, info.Mtu);
        Assert.True(info.IsEthernet);
        Assert.True(info.IsUp);
        Assert.True(info.IsRunning);
        string mac = info.Mac.ToString();
        string colons = string.Join(":", mac[0..2], mac[2..4], mac[4..6], mac[6..8], mac[8..10], mac[10..12]);
        Assert.Contains("link/ether " + colons, link);

        Sh.Run($"ip -n {pair.TargetNs} link set {pair.TargetIf} down");
        InterfaceInfo down = InNetNs.Run(pair.TargetNs, () => InterfaceInfo.Query(pair.TargetIf));
        Assert.False(down.IsUp);
        Assert.False(down.IsRunning);
    }
}
