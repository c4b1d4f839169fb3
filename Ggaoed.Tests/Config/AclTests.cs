using System.Collections.Generic;
using Ggaoed.Daemon.Config;
using Xunit;

namespace Ggaoed.Tests.Config;

public class AclTests
{
    private const string Device = "[d]\npath = /srv/a\nshelf = 1\nslot = 1\ninterfaces = eth0\n";

    private static ConfigLoadResult Load(string text, string? ethers = null)
    {
        var host = new FakeConfigHost().WithFile("/srv/a");
        host.EthersText = ethers;
        return ConfigLoader.LoadText(text, "g.conf", host);
    }

    private static string[] Errors(ConfigLoadResult r) => ConfigText.Lines(r.Errors);

    private static string[] Warnings(ConfigLoadResult r) => ConfigText.Lines(r.Warnings);

    [Fact]
    public void NestedAcls_ResolveRecursively_SortedAndDistinct()
    {
        ConfigLoadResult r = Load("[acls]\ntop = mid, 00:00:00:00:00:05\nmid = leaf, 00:00:00:00:00:03\nleaf = 00:00:00:00:00:04, 00:00:00:00:00:03\n"
            + Device + "accept = top\n");
        Assert.Empty(Errors(r));
        Assert.Equal(new ulong[] { 3, 4, 5 }, r.Config!.Acls["top"]);
        Assert.Equal(new ulong[] { 3, 4 }, r.Config.Acls["mid"]);
        Assert.Equal(new ulong[] { 3, 4, 5 }, r.Config.Devices[0].Accept);
    }

    [Fact]
    public void AclMayReferToAnAclDefinedLater()
    {
        ConfigLoadResult r = Load("[acls]\nfirst = second\nsecond = 00:00:00:00:00:07\n");
        Assert.Equal(new ulong[] { 7 }, r.Config!.Acls["first"]);
    }

    [Fact]
    public void Cycle_IsAWarningReportedOnce_WithThePath_AndTheLoopingReferenceAddsNothing()
    {
        ConfigLoadResult r = Load("[acls]\na = b\nb = c, 00:00:00:00:00:01\nc = a, 00:00:00:00:00:03\nd = a\n" + Device + "accept = a\n");
        Assert.Empty(Errors(r));
        Assert.Equal(new[] { "g.conf:4: c: ACLs refer to each other in a loop (a -> b -> c -> a): that reference adds no address; remove one of the references" },
            Warnings(r));
        Assert.Equal(new ulong[] { 1, 3 }, r.Config!.Acls["a"]);
        Assert.Equal(new ulong[] { 1, 3 }, r.Config.Devices[0].Accept);
    }

    [Fact]
    public void SelfReference_IsACycle()
    {
        ConfigLoadResult r = Load("[acls]\nme = me\n");
        Assert.Equal(new[] { "g.conf:2: me: ACLs refer to each other in a loop (me -> me): that reference adds no address; remove one of the references" },
            Warnings(r));
        Assert.Empty(r.Config!.Acls["me"]);
    }

    [Fact]
    public void HostNames_ComeFromEthers_AndEthersIsReadAtMostOnce()
    {
        var host = new FakeConfigHost().WithFile("/srv/a");
        host.EthersText = "# hosts\n00:16:3e:aa:bb:01 web1\n00:16:3e:aa:bb:02 web2\n";
        ConfigLoadResult r = ConfigLoader.LoadText("[acls]\nweb = web1, web2\n" + Device + "deny = web1\n", "g.conf", host);
        Assert.Empty(Errors(r));
        Assert.Equal(new ulong[] { 0x00163EAABB01, 0x00163EAABB02 }, r.Config!.Acls["web"]);
        Assert.Equal(new ulong[] { 0x00163EAABB01 }, r.Config.Devices[0].Deny);
        Assert.Equal(1, host.EthersReads);
    }

    [Fact]
    public void AclNameWinsOverEthersHostOfTheSameName()
    {
        ConfigLoadResult r = Load("[acls]\nweb1 = 00:00:00:00:00:01\n" + Device + "accept = web1\n", "00:16:3e:aa:bb:01 web1\n");
        Assert.Equal(new ulong[] { 1 }, r.Config!.Devices[0].Accept);
    }

    [Fact]
    public void EthersNotConsulted_WhenOnlyMacsAreUsed()
    {
        var host = new FakeConfigHost().WithFile("/srv/a");
        ConfigLoader.LoadText("[acls]\nx = 00:00:00:00:00:01\n" + Device + "accept = x\n", "g.conf", host);
        Assert.Equal(0, host.EthersReads);
    }

    [Fact]
    public void UnknownName_IsLeftOutWithAWarning_SayingWhereItLooked()
    {
        ConfigLoadResult r = Load("[acls]\nx = nobody, 00:00:00:00:00:07\n" + Device + "accept = ghost, x\n", "00:00:00:00:00:01 somebody\n");
        Assert.Empty(Errors(r));
        Assert.Equal(new[]
        {
            "g.conf:2: x: 'nobody' is not a MAC address, an ACL defined in [acls], or a host name in /etc/ethers, so it is left out: define it in [acls] or add it to /etc/ethers",
            "g.conf:8: accept: 'ghost' is not a MAC address, an ACL defined in [acls], or a host name in /etc/ethers, so it is left out: define it in [acls] or add it to /etc/ethers",
        }, Warnings(r));
        Assert.Equal(new ulong[] { 7 }, r.Config!.Devices[0].Accept);
    }

    [Fact]
    public void UnknownName_WhenEthersIsMissing_SaysSo()
    {
        Assert.Equal("g.conf:6: accept: 'ghost' is not a MAC address, an ACL defined in [acls], or a host name in /etc/ethers, which does not exist, so it is left out: define it in [acls] or add it to /etc/ethers",
            Warnings(Load(Device + "accept = ghost, 00:00:00:00:00:01\n"))[0]);
    }

    [Fact]
    public void BadMac_InAclAndDevice_IsLeftOutWithAWarning()
    {
        ConfigLoadResult r = Load("[acls]\nx = 00:11:22:33:44:gg, 00:00:00:00:00:02\n" + Device + "accept = 00:11:22:33:44:55:66, x\n");
        Assert.Empty(Errors(r));
        Assert.Equal(new[]
        {
            "g.conf:2: x: '00:11:22:33:44:gg' is not a valid MAC address, so it is left out: write six hex bytes separated by colons, like 00:1b:21:0a:bc:de",
            "g.conf:8: accept: '00:11:22:33:44:55:66' is not a valid MAC address, so it is left out: write six hex bytes separated by colons, like 00:1b:21:0a:bc:de",
        }, Warnings(r));
        Assert.Equal(new ulong[] { 2 }, r.Config!.Devices[0].Accept);
    }

    [Fact]
    public void DeviceUsingABrokenAcl_GetsNoSecondMessage()
    {
        Assert.Single(Errors(Load("[acls]\nx =\n" + Device + "accept = x\n")));
    }
}
