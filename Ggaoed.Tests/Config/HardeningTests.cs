using Ggaoed.Daemon.Config;
using Xunit;

namespace Ggaoed.Tests.Config;

/// <summary>
/// Access lists never open a device by accident, admin-accept limits who may change state, and one daemon
/// exports each backing store once.
/// </summary>
public class HardeningTests
{
    private const string Device = ConfigText.Device;

    private static ConfigLoadResult Load(string text, FakeConfigHost? host = null, string? ethers = null)
    {
        host ??= new FakeConfigHost().WithFile("/srv/a").WithFile("/srv/b");
        host.EthersText = ethers;
        return ConfigLoader.LoadText(text, "g.conf", host);
    }

    private const string EmptyList = "is empty: list MAC addresses, names from [acls] or host names from /etc/ethers, or remove the key";

    [Fact]
    public void UnreadableEthers_IsAnErrorAtTheLineThatNeedsIt_NotACrash()
    {
        var host = new FakeConfigHost().WithFile("/srv/a").WithFile("/srv/b");
        host.EthersFailure = new System.IO.IOException("/etc/ethers is a directory, not a file of MAC addresses and host names");
        ConfigLoadResult r = ConfigLoader.LoadText(Device + "accept = fileserver\n", "g.conf", host);
        Assert.False(r.Ok);
        string line = Assert.Single(ConfigText.Lines(r.Errors));
        Assert.StartsWith("g.conf:5: accept: cannot read /etc/ethers to look up host names: /etc/ethers is a directory", line);
    }

    [Fact]
    public void EmptyAccessLists_AreErrors_NotEveryone()
    {
        ConfigLoadResult r = Load("[defaults]\nadmin-accept =\n[acls]\nnobody =\nnone = ;\n" + Device + "accept =\ndeny = ,\nadmin-accept = ,;\n"
            + "[e]\npath = /srv/b\nshelf = 1\nslot = 2\naccept = nobody\n");
        Assert.False(r.Ok);
        Assert.Equal(
        [
            "g.conf:2: admin-accept: " + EmptyList,
            "g.conf:4: nobody: " + EmptyList,
            "g.conf:5: none: " + EmptyList,
            "g.conf:10: accept: " + EmptyList,
            "g.conf:11: deny: " + EmptyList,
            "g.conf:12: admin-accept: " + EmptyList,
        ], ConfigText.Lines(r.Errors));
    }

    [Fact]
    public void NoAcceptKey_AdmitsEveryoneNotDenied()
    {
        DeviceConfig d = Assert.Single(Load(Device + "deny = 00:00:00:00:00:05\n").Config!.Devices);
        Assert.Null(d.Accept);
        Assert.True(d.Admits(0x001122334455));
        Assert.False(d.Admits(5));
    }

    [Fact]
    public void AcceptList_WhoseNamesAllFailToResolve_AdmitsNoOne()
    {
        ConfigLoadResult r = Load("[acls]\nghosts = casper, 00:11\n" + Device + "accept = ghosts, nobody\n", ethers: "00:00:00:00:00:01 somebody\n");
        Assert.True(r.Ok);
        DeviceConfig d = Assert.Single(r.Config!.Devices);
        Assert.NotNull(d.Accept);
        Assert.Empty(d.Accept!);
        Assert.False(d.Admits(1));
        Assert.False(d.Admits(0x001122334455));
        Assert.Empty(r.Config.Acls["ghosts"]);
        Assert.Equal("g.conf:7: accept: no name in accept resolved to a MAC address: the device admits no one until one does",
            ConfigText.Lines(r.Warnings)[^1]);
    }

    [Fact]
    public void DenyList_WithANameThatDoesNotResolve_FailsClosed()
    {
        ConfigLoadResult r = Load("[acls]\nbad = 00:00:00:00:00:09, mallory\n" + Device + "accept = 00:00:00:00:00:01\ndeny = bad\n");
        Assert.True(r.Ok);
        Assert.Equal(
        [
            "g.conf:2: bad: 'mallory' is not a MAC address, an ACL defined in [acls], or a host name in /etc/ethers, which does not exist, so it is left out: define it in [acls] or add it to /etc/ethers",
            "g.conf:8: deny: a name in deny did not resolve, so the device cannot refuse that host: it admits no one until the name resolves",
        ], ConfigText.Lines(r.Warnings));
        DeviceConfig d = r.Config!.Devices[0];
        Assert.Equal([9UL], d.Deny);
        Assert.Equal([], d.Accept!);
        Assert.False(d.Admits(1));
        Assert.False(d.Admits(0x001122334455));
    }

    [Fact]
    public void AdminAccept_IsUnsetByDefault_InheritedFromDefaults_AndADevicesOwnWins()
    {
        ConfigLoadResult r = Load("[defaults]\nadmin-accept = admins\n[acls]\nadmins = 00:00:00:00:00:0a, 00:00:00:00:00:0b\n" + Device
            + "[e]\npath = /srv/b\nshelf = 1\nslot = 2\nadmin-accept = 00:00:00:00:00:0c\naccept = 00:00:00:00:00:0a, 00:00:00:00:00:0c\n");
        Assert.Empty(r.Warnings);
        GgaoedConfig c = r.Config!;
        Assert.Equal([0xAUL, 0xBUL], c.Defaults.AdminAccept!);
        DeviceConfig d = c.FindDevice("d")!, e = c.FindDevice("e")!;
        Assert.Equal([0xAUL, 0xBUL], d.AdminAccept!);
        Assert.True(d.MayChangeState(0xA));
        Assert.True(d.Admits(0xC));
        Assert.False(d.MayChangeState(0xC));
        Assert.Equal([0xCUL], e.AdminAccept!);
        Assert.True(e.MayChangeState(0xC));
        Assert.False(e.MayChangeState(0xA));
        // An administrator must also be admitted at all.
        Assert.False(e.MayChangeState(0xB));

        DeviceConfig open = Assert.Single(Load(Device).Config!.Devices);
        Assert.Null(open.AdminAccept);
        Assert.True(open.MayChangeState(0x123));
    }

    [Fact]
    public void AdminAccept_WhoseNamesAllFail_LetsNobodyChangeState()
    {
        ConfigLoadResult r = Load(Device + "admin-accept = root-host\n");
        DeviceConfig d = r.Config!.Devices[0];
        Assert.Equal([], d.AdminAccept!);
        Assert.True(d.Admits(1));
        Assert.False(d.MayChangeState(1));
        Assert.Equal("g.conf:5: admin-accept: no name in admin-accept resolved to a MAC address: nobody may change the state (MAC mask, reservation, config string) of a device it applies to",
            ConfigText.Lines(r.Warnings)[^1]);
    }

    private const string SameStore = "a backing store can be exported only once; remove one of the devices";

    [Fact]
    public void TheSamePath_InTwoGroups_IsAnError()
    {
        ConfigLoadResult r = Load(Device + "[e]\npath = /srv/a\nshelf = 1\nslot = 2\n");
        Assert.Equal(["g.conf:6: path: /srv/a is the same file as [d] exports (line 2): " + SameStore], ConfigText.Lines(r.Errors));
    }

    [Fact]
    public void APathAndASymlinkToIt_AreTheSameStore()
    {
        var host = new FakeConfigHost().WithFile("/srv/a").WithAlias("/srv/link-to-a", "/srv/a");
        ConfigLoadResult r = Load(Device + "[e]\npath = /srv/link-to-a\nshelf = 1\nslot = 2\n", host);
        Assert.Equal(["g.conf:6: path: /srv/link-to-a is the same file as [d] exports (line 2): " + SameStore], ConfigText.Lines(r.Errors));
    }

    [Fact]
    public void APathAndTheUuidOfTheSameBlockDevice_AreTheSameStore_EvenWhenBothAreShared()
    {
        var host = new FakeConfigHost().WithBlockDevice("/dev/sdb1").WithAlias("/dev/disk/by-id/wwn-1-part1", "/dev/sdb1");
        host.Uuids["0b4e6a3c"] = "/dev/sdb1";
        ConfigLoadResult r = Load("[a]\npath = /dev/disk/by-id/wwn-1-part1\nshelf = 1\nslot = 1\nshared = true\n"
            + "[b]\nuuid = 0b4e6a3c\nshelf = 1\nslot = 2\nshared = true\n", host);
        Assert.Equal(["g.conf:7: uuid: /dev/sdb1 is the same block device as [a] exports (line 2): " + SameStore], ConfigText.Lines(r.Errors));
    }

    [Fact]
    public void TwoDifferentFiles_AndUnavailableDevices_AreNotCompared()
    {
        ConfigLoadResult r = Load(Device + "[e]\npath = /srv/b\nshelf = 1\nslot = 2\n[f]\npath = /srv/gone\nshelf = 1\nslot = 3\n[g]\npath = /srv/gone\nshelf = 1\nslot = 4\n");
        Assert.True(r.Ok);
        Assert.Equal(4, r.Config!.Devices.Count);
    }
}
