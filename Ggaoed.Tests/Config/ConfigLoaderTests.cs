using System;
using System.Collections.Generic;
using Ggaoed.Daemon.Config;
using Xunit;

namespace Ggaoed.Tests.Config;

public class ConfigLoaderTests
{
    private static ConfigLoadResult Load(string text, FakeConfigHost? host = null) =>
        ConfigLoader.LoadText(text, "g.conf", host ?? new FakeConfigHost().WithFile("/srv/a").WithFile("/srv/b"));

    private static string[] Errors(ConfigLoadResult r) => ConfigText.Lines(r.Errors);

    private static string[] Warnings(ConfigLoadResult r) => ConfigText.Lines(r.Warnings);


    private static void AssertErrors(string text, params string[] expected) => AssertErrors(text, null, expected);

    private static void AssertErrors(string text, FakeConfigHost? host, params string[] expected)
    {
        ConfigLoadResult r = Load(text, host);
        Assert.Null(r.Config);
        Assert.False(r.Ok);
        Assert.Equal(expected, Errors(r));
    }

    /// <summary>The file loads (no errors) and warns exactly so.</summary>
    private static ConfigLoadResult AssertWarnings(string text, FakeConfigHost? host, params string[] expected)
    {
        ConfigLoadResult r = Load(text, host);
        Assert.Empty(Errors(r));
        Assert.True(r.Ok);
        Assert.Equal(expected, Warnings(r));
        return r;
    }

    private const string Dev = "[defaults]\ninterfaces = eth*\n[d]\npath = /srv/a\nshelf = 1\nslot = 2\n";

    [Fact]
    public void EmptyFile_GivesBuiltInDefaults_AndNoDevices()
    {
        ConfigLoadResult r = Load("");
        Assert.True(r.Ok);
        DefaultsConfig d = r.Config!.Defaults;
        Assert.Equal(64, d.QueueLength);
        Assert.Empty(d.Interfaces);
        Assert.True(d.DirectIo);
        Assert.False(d.TraceIo);
        Assert.Equal("/var/run/ggaoed.pid", d.PidFile);
        Assert.Equal("/var/run/ggaoed.sock", d.ControlSocket);
        Assert.Equal("/var/lib/ggaoed", d.StateDirectory);
        Assert.Equal(4096, d.RingBufferSizeKiB);
        Assert.Equal(0, d.SendBufferSizeKiB);
        Assert.Equal(0, d.ReceiveBufferSizeKiB);
        Assert.Equal(0.01, d.MaxDelay);
        Assert.Equal(0.0, d.MergeDelay);
        Assert.Equal(0, d.BusyPollMicroseconds);
        Assert.Null(d.Mtu);
        Assert.Null(d.AdminAccept);
        Assert.Null(d.WriteCache);
        Assert.Empty(r.Config.Devices);
        Assert.Empty(r.Config.InterfaceGroups);
    }

    [Fact]
    public void EveryDefaultsKey_IsParsed()
    {
        string text = "[defaults]\nqueue-length = 128\ninterfaces = eth*, vif*\ndirect-io = false\ntrace-io = true\n"
            + "pid-file = /run/g.pid\ncontrol-socket = /run/g.sock\nstate-directory = /var/lib/g\nring-buffer-size = 8192\n"
            + "send-buffer-size = 512\nreceive-buffer-size = 1024\nmax-delay = 0.05\nmerge-delay = 0.002\nbusy-poll = 50\n"
            + "mtu = 9000\nadmin-accept = 00:00:00:00:00:02, 00:00:00:00:00:01\nwrite-cache = true\n";
        ConfigLoadResult r = Load(text);
        Assert.Empty(Errors(r));
        Assert.Empty(Warnings(r));
        DefaultsConfig d = r.Config!.Defaults;
        Assert.Equal(9000, d.Mtu);
        Assert.Equal(new ulong[] { 1, 2 }, d.AdminAccept);
        Assert.True(d.WriteCache);
        Assert.Equal(50, d.BusyPollMicroseconds);
        Assert.Equal(128, d.QueueLength);
        Assert.Equal(new[] { "eth*", "vif*" }, d.Interfaces);
        Assert.False(d.DirectIo);
        Assert.True(d.TraceIo);
        Assert.Equal("/run/g.pid", d.PidFile);
        Assert.Equal("/run/g.sock", d.ControlSocket);
        Assert.Equal("/var/lib/g", d.StateDirectory);
        Assert.Equal(8192, d.RingBufferSizeKiB);
        Assert.Equal(512, d.SendBufferSizeKiB);
        Assert.Equal(1024, d.ReceiveBufferSizeKiB);
        Assert.Equal(0.05, d.MaxDelay);
        Assert.Equal(0.002, d.MergeDelay);
        Assert.Equal(new SourceLocation("g.conf", 1), d.Location);
    }

    [Theory]
    [InlineData("1001", "g.conf:2: busy-poll: 1001 is out of range: use a whole number from 0 to 1000 (microseconds; 0 turns polling off)")]
    [InlineData("fast", "g.conf:2: busy-poll: 'fast' is not a whole number: use a whole number from 0 to 1000 (microseconds; 0 turns polling off)")]
    public void BadBusyPoll_IsReportedWithFileAndLine(string value, string expected)
    {
        ConfigLoadResult r = Load("[defaults]\nbusy-poll = " + value + "\n");
        Assert.Contains(expected, Errors(r));
    }

    [Fact]
    public void BusyPoll_IsADefaultsKeyOnly_ElsewhereItIsIgnoredWithAWarning()
    {
        ConfigLoadResult r = Load("[d0]\npath = /srv/a\nshelf = 1\nslot = 1\nbusy-poll = 10\n");
        Assert.Equal("g.conf:5: busy-poll: unknown key in a device group (it belongs in [defaults]), ignored: use one of " + DeviceKeys,
            Assert.Single(Warnings(r)));
    }

    private static readonly string DeviceKeys = string.Join(", ", ConfigKeys.Device);
    private static readonly string DefaultsKeys = string.Join(", ", ConfigKeys.Defaults);
    private static readonly string InterfaceKeys = string.Join(", ", ConfigKeys.Interface);

    [Fact]
    public void EveryDeviceKey_IsParsed()
    {
        string text = "[defaults]\ninterfaces = eth0\n[acls]\nfriends = 00:00:00:00:00:02, 00:00:00:00:00:01\n"
            + "[disk0]\npath = /srv/a\nshelf = 7\nslot = 3\ndirect-io = false\nqueue-length = 16\ninterfaces = vif*\n"
            + "trace-io = true\nmax-delay = 0.2\nmerge-delay = 0.1\nbroadcast = true\nread-only = true\n"
            + "accept = friends, 00:00:00:00:00:09\ndeny = 00:00:00:00:00:01\nadmin-accept = 00:00:00:00:00:09\n"
            + "write-cache = true\nshared = false\noffset = 8\nlength = 1M\n";
        ConfigLoadResult r = Load(text);
        Assert.Empty(Errors(r));
        Assert.Empty(Warnings(r));
        DeviceConfig d = Assert.Single(r.Config!.Devices);
        Assert.Equal("disk0", d.Name);
        Assert.Equal("/srv/a", d.Path);
        Assert.Null(d.Uuid);
        Assert.Equal(7, d.Shelf);
        Assert.Equal(3, d.Slot);
        Assert.False(d.DirectIo);
        Assert.Equal(16, d.QueueLength);
        Assert.Equal(new[] { "vif*" }, d.Interfaces);
        Assert.True(d.TraceIo);
        Assert.Equal(0.2, d.MaxDelay);
        Assert.Equal(0.1, d.MergeDelay);
        Assert.True(d.Broadcast);
        Assert.True(d.ReadOnly);
        Assert.Equal(new ulong[] { 1, 2, 9 }, d.Accept);
        Assert.Equal(new ulong[] { 1 }, d.Deny);
        Assert.Equal(new ulong[] { 9 }, d.AdminAccept);
        Assert.True(d.WriteCache);
        Assert.True(d.WriteCachePinned);
        Assert.False(d.Shared);
        Assert.Equal(8, d.OffsetSectors);
        Assert.Equal(2048, d.LengthSectors);
        Assert.Null(d.Unavailable);
        Assert.Equal(new SourceLocation("g.conf", 5), d.Location);
        Assert.False(d.Admits(1));     // deny wins over accept
        Assert.True(d.Admits(2));
        Assert.False(d.Admits(3));     // a non-empty accept list is exclusive
    }

    [Fact]
    public void DeviceInheritsDefaults_AndHasSafeOwnDefaults()
    {
        string text = "[defaults]\ninterfaces = eth*\nqueue-length = 200\ndirect-io = false\ntrace-io = true\nmax-delay = 0.3\nmerge-delay = 0.01\n"
            + "[d]\npath = /srv/a\nshelf = 0\nslot = 0\n";
        DeviceConfig d = Assert.Single(Load(text).Config!.Devices);
        Assert.Equal(200, d.QueueLength);
        Assert.False(d.DirectIo);
        Assert.True(d.TraceIo);
        Assert.Equal(0.3, d.MaxDelay);
        Assert.Equal(0.01, d.MergeDelay);
        Assert.Equal(new[] { "eth*" }, d.Interfaces);
        Assert.False(d.Broadcast);
        Assert.False(d.ReadOnly);
        Assert.Null(d.Accept);
        Assert.Empty(d.Deny);
        Assert.Null(d.AdminAccept);
        Assert.False(d.WriteCache);
        Assert.False(d.WriteCachePinned);
        Assert.False(d.Shared);
        Assert.Equal(0, d.OffsetSectors);
        Assert.Null(d.LengthSectors);
        Assert.Null(d.Unavailable);
        Assert.True(d.Admits(0x001122334455));
        Assert.True(d.MayChangeState(0x001122334455));
        Assert.True(d.IsExportedOn("eth3"));
        Assert.False(d.IsExportedOn("vif1"));
    }

    [Fact]
    public void InterfaceGroups_ParseAndFallBackToDefaults()
    {
        string text = "[defaults]\nring-buffer-size = 2048\nsend-buffer-size = 64\n[eth0]\nmtu = 9000\nring-buffer-size = 16384\n"
            + "[vif*]\nreceive-buffer-size = 256\nsend-buffer-size = 128\n";
        GgaoedConfig c = Load(text).Config!;
        Assert.Equal(2, c.InterfaceGroups.Count);
        Assert.Equal(new EffectiveInterfaceSettings("eth0", 9000, 16384, 64, 0), c.ForInterface("eth0"));
        Assert.Equal(new EffectiveInterfaceSettings("vif3.0", null, 2048, 128, 256), c.ForInterface("vif3.0"));
        Assert.Equal(new EffectiveInterfaceSettings("eth1", null, 2048, 64, 0), c.ForInterface("eth1"));
    }

    [Fact]
    public void DeviceByUuid_ResolvesThroughTheHost()
    {
        var host = new FakeConfigHost();
        host.Uuids["0b4e6a3c-93a3-4c4f-8d84-7a3c2f1e9f10"] = "/dev/sdb1";
        ConfigLoadResult r = Load("[d]\nuuid = 0b4e6a3c-93a3-4c4f-8d84-7a3c2f1e9f10\nshelf = 1\nslot = 1\ninterfaces = eth0\n", host);
        DeviceConfig d = Assert.Single(r.Config!.Devices);
        Assert.Equal("/dev/sdb1", d.Path);
        Assert.Equal("0b4e6a3c-93a3-4c4f-8d84-7a3c2f1e9f10", d.Uuid);
    }

    [Fact]
    public void BlockDevicePath_IsAccepted()
    {
        var host = new FakeConfigHost().WithBlockDevice("/dev/vg0/lv1");
        Assert.True(Load("[d]\npath = /dev/vg0/lv1\nshelf = 1\nslot = 1\ninterfaces = eth0\n", host).Ok);
    }

    [Fact]
    public void Shelf4095_LoadsWithAWarning()
    {
        ConfigLoadResult r = Load("[d]\npath = /srv/a\nshelf = 4095\nslot = 1\ninterfaces = eth0\n");
        Assert.True(r.Ok);
        Assert.Equal("g.conf:3: shelf: the Linux aoe driver never discovers shelf 4095 (0x0fff), taking it for unset dip switches: pick another shelf if Linux initiators must see this device",
            Assert.Single(r.Warnings).ToString());
    }

    [Fact]
    public void EscapedPathValue_IsUnescaped()
    {
        var host = new FakeConfigHost().WithFile("/srv/my disk.img");
        DeviceConfig d = Assert.Single(Load("[d]\npath = /srv/my\\sdisk.img\nshelf = 1\nslot = 1\ninterfaces = eth0\n", host).Config!.Devices);
        Assert.Equal("/srv/my disk.img", d.Path);
    }

    // ---- byte-exact error messages, one test per kind ----

    [Fact]
    public void UnknownAndMisplacedKeys_AreIgnoredWithAWarning_InEachKindOfGroup()
    {
        AssertWarnings("[defaults]\nqueue-lenght = 3\nshelf = 1\n[eth0]\nshelff = 1\nqueue-length = 3\n[d]\npath = /srv/a\nshelf = 1\nslot = 1\nmtu = 9000\npid-file = /x\n", null,
            "g.conf:2: queue-lenght: unknown key in [defaults], ignored: use one of " + DefaultsKeys,
            "g.conf:3: shelf: unknown key in [defaults] (it belongs in a device group), ignored: use one of " + DefaultsKeys,
            "g.conf:5: shelff: unknown key in an interface group, ignored: use one of " + InterfaceKeys,
            "g.conf:6: queue-length: unknown key in an interface group (it belongs in [defaults] or a device group), ignored: use one of " + InterfaceKeys,
            "g.conf:11: mtu: unknown key in a device group (it belongs in [defaults] or an interface group), ignored: use one of " + DeviceKeys,
            "g.conf:12: pid-file: unknown key in a device group (it belongs in [defaults]), ignored: use one of " + DeviceKeys);
    }

    [Fact]
    public void DeviceKeyInAnInterfaceGroup_SaysWhereItBelongs()
    {
        AssertWarnings("[eth0]\nmtu = 9000\nread-only = true\n", null,
            "g.conf:3: read-only: unknown key in an interface group (it belongs in a device group), ignored: use one of " + InterfaceKeys);
    }

    [Fact]
    public void DeviceGroupWithoutPathOrUuid_IsCalledOut()
    {
        AssertErrors("[disk1]\nshelf = 1\nslot = 2\n",
            "g.conf:1: [disk1]: has device keys (shelf at line 2) but neither path nor uuid: add path or uuid to export a device");
    }

    [Fact]
    public void GroupNamesThatCannotBeInterfaces_AreIgnoredWithAWarning()
    {
        ConfigLoadResult r = AssertWarnings("[a-very-long-interface-name]\nmtu = 1500\n[bad/name]\n[my nic]\nmtu = 9000\n", null,
            "g.conf:1: [a-very-long-interface-name]: is longer than an interface name can be (15 bytes), and without path or uuid it is not a device either; the group is ignored",
            "g.conf:3: [bad/name]: is not a valid interface name (no '/', ':' or blanks), and without path or uuid it is not a device either; the group is ignored",
            "g.conf:4: [my nic]: is not a valid interface name (no '/', ':' or blanks), and without path or uuid it is not a device either; the group is ignored");
        Assert.Empty(r.Config!.InterfaceGroups);
    }

    [Fact]
    public void DeviceNames_WithBlanksAndOtherCharacters_AreAccepted_AsGgaoedOnePointOneDid()
    {
        var host = new FakeConfigHost().WithFile("/srv/a").WithFile("/srv/b").WithFile("/srv/c");
        ConfigLoadResult r = AssertWarnings("[my disk]\npath = /srv/a\nshelf = 1\nslot = 1\n[.hidden]\npath = /srv/b\nshelf = 1\nslot = 2\n"
            + "[vm: root (old)]\npath = /srv/c\nshelf = 1\nslot = 3\n", host);
        Assert.Equal(new[] { "my disk", ".hidden", "vm: root (old)" }, System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Select(r.Config!.Devices, d => d.Name)));
    }

    [Fact]
    public void DeviceNames_ThatCannotNameAStateFile_AreErrors()
    {
        AssertErrors("[vg0/disk]\npath = /srv/a\nshelf = 1\nslot = 1\n[bell\u0007]\npath = /srv/b\nshelf = 1\nslot = 2\n[" + new string('x', 201) + "]\npath = /srv/b\nshelf = 1\nslot = 3\n",
            "g.conf:1: [vg0/disk]: device name must not contain '/' (it names the file state-directory/NAME.state): rename the group",
            "g.conf:5: [bell\u0007]: device name must not contain control characters (it is printed in logs and ggaoectl output): rename the group",
            "g.conf:9: [" + new string('x', 201) + "]: device name is longer than 200 bytes (it names the state file): shorten it",
            "g.conf:10: path: /srv/b is the same file as [bell\u0007] exports (line 6): a backing store can be exported only once; remove one of the devices");
    }

    [Fact]
    public void BadNumbers()
    {
        AssertErrors("[defaults]\nqueue-length = lots\nring-buffer-size = -64\nsend-buffer-size = -1\nmax-delay = soon\nmerge-delay = -2\n"
            + "[eth0]\nmtu = 100\n",
            "g.conf:2: queue-length: 'lots' is not a whole number: use a whole number from 2 to 1024 (Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr)",
            "g.conf:3: ring-buffer-size: -64 is out of range: use a whole number from 128 to 1048576 (KiB; 0 turns the rings off, a ring needs at least 128)",
            "g.conf:4: send-buffer-size: -1 is out of range: use a whole number from 0 to 1048576 (KiB; 0 keeps the kernel default)",
            "g.conf:5: max-delay: 'soon' is not a number of seconds: write e.g. 0.005",
            "g.conf:6: merge-delay: '-2' is not a number of seconds: write e.g. 0.005",
            "g.conf:8: mtu: 100 is out of range: use a whole number from 548 to 65535 (or 0 for the interface's own MTU)");
    }

    [Fact]
    public void QueueLengthZero_IsAnError_AsInGgaoedOnePointOne()
    {
        AssertErrors("[defaults]\nqueue-length = 0\n",
            "g.conf:2: queue-length: 0 is out of range: use a whole number from 2 to 1024 (Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr)");
    }

    [Fact]
    public void BadBooleanAndRelativePaths()
    {
        AssertErrors("[defaults]\ndirect-io = yes\npid-file = ggaoed.pid\ncontrol-socket =\n",
            "g.conf:2: direct-io: 'yes' is not a boolean: use true or false",
            "g.conf:3: pid-file: 'ggaoed.pid' is not an absolute path: start it with /",
            "g.conf:4: control-socket: '' is not an absolute path: start it with /");
    }

    [Fact]
    public void IoEngine_DefaultsToAuto_IsInherited_AndCanBeSetPerDevice()
    {
        ConfigLoadResult r = Load("[defaults]\ninterfaces = eth*\nio-engine = aio\n"
            + "[a]\npath = /srv/a\nshelf = 1\nslot = 1\n"
            + "[b]\npath = /srv/b\nshelf = 1\nslot = 2\nio-engine = io_uring\n");
        Assert.True(r.Ok, string.Join("; ", Errors(r)));
        Assert.Equal(IoEngineSetting.Aio, r.Config!.Defaults.IoEngine);
        Assert.Equal(IoEngineSetting.Aio, r.Config.FindDevice("a")!.IoEngine);
        Assert.Equal(IoEngineSetting.IoUring, r.Config.FindDevice("b")!.IoEngine);
        Assert.Equal(IoEngineSetting.Auto, Load(Dev).Config!.FindDevice("d")!.IoEngine);
        Assert.Equal(IoEngineSetting.Auto, Load("").Config!.Defaults.IoEngine);
        Assert.Equal(IoEngineSetting.Auto, Load(Dev + "io-engine = auto\n").Config!.FindDevice("d")!.IoEngine);
    }

    [Fact]
    public void IoEngine_BadValue_NamesTheLineAndTheChoices()
    {
        AssertErrors("[defaults]\nio-engine = uring\n",
            "g.conf:2: io-engine: 'uring' is not an I/O engine: use auto, io_uring or aio");
        AssertErrors(Dev + "io-engine = AIO\n",
            "g.conf:7: io-engine: 'AIO' is not an I/O engine: use auto, io_uring or aio");
    }

    [Fact]
    public void IoEngine_ChangesTheDevicesSettings()
    {
        DeviceConfig a = Load(Dev).Config!.FindDevice("d")!;
        DeviceConfig b = Load(Dev + "io-engine = aio\n").Config!.FindDevice("d")!;
        Assert.False(a.HasSameSettings(b));
    }

    [Fact]
    public void MergeDelayLongerThanMaxDelay_IsClampedToMaxDelay_WithAWarning()
    {
        ConfigLoadResult r = AssertWarnings("[defaults]\nmax-delay = 0.01\nmerge-delay = 0.5\n[d]\npath = /srv/a\nshelf = 1\nslot = 1\nmax-delay = 0.001\n", null,
            "g.conf:3: merge-delay: merge-delay (0.5 s) is longer than max-delay (0.01 s), which bounds every wait: using 0.01 s; raise max-delay or lower merge-delay",
            "g.conf:8: max-delay: merge-delay (0.01 s) is longer than max-delay (0.001 s), which bounds every wait: using 0.001 s; raise max-delay or lower merge-delay");
        Assert.Equal(0.01, r.Config!.Defaults.MergeDelay);
        Assert.Equal(0.001, r.Config.Devices[0].MergeDelay);
    }

    [Fact]
    public void BroadcastShelfAndSlot_AreRefused()
    {
        AssertErrors("[d]\npath = /srv/a\nshelf = 65535\nslot = 255\ninterfaces = e\n",
            "g.conf:3: shelf: 65535 (0xffff) is the broadcast shelf: use 0 to 65534",
            "g.conf:4: slot: 255 (0xff) is the broadcast slot: use 0 to 254");
    }

    [Fact]
    public void OutOfRangeShelfAndSlot()
    {
        AssertErrors("[d]\npath = /srv/a\nshelf = 70000\nslot = 300\ninterfaces = e\n",
            "g.conf:3: shelf: 70000 is out of range: use a whole number from 0 to 65535",
            "g.conf:4: slot: 300 is out of range: use a whole number from 0 to 255");
    }

    [Fact]
    public void MissingShelfAndSlot()
    {
        AssertErrors("[d]\npath = /srv/a\n",
            "g.conf:1: [d]: has no shelf: give every device a shelf (0 to 65534) and a slot (0 to 254)",
            "g.conf:1: [d]: has no slot: give every device a shelf (0 to 65534) and a slot (0 to 254)");
    }

    [Fact]
    public void DuplicateShelfSlot()
    {
        AssertErrors(Dev + "[e]\npath = /srv/b\nshelf = 1\nslot = 2\n",
            "g.conf:9: shelf: e1.2 is already used by [d] at line 3: give each device its own shelf and slot");
    }

    [Fact]
    public void PathThatCannotBeExportedNow_LeavesTheDeviceUnavailable_WithAWarningNamingDevicePathAndReason()
    {
        var host = new FakeConfigHost().With("/srv/dir", PathKind.Directory).With("/dev/null", PathKind.Other).With("/root/x", PathKind.Inaccessible);
        ConfigLoadResult r = AssertWarnings("[a]\npath = /srv/none\nshelf = 0\nslot = 0\n[b]\npath = /srv/dir\nshelf = 0\nslot = 1\n"
            + "[c]\npath = /dev/null\nshelf = 0\nslot = 2\n[e]\npath = /root/x\nshelf = 0\nslot = 4\n", host,
            "g.conf:2: path: [a] is not exported for now: /srv/none does not exist (create it or correct the path); ggaoed tries again on every reload",
            "g.conf:6: path: [b] is not exported for now: /srv/dir is a directory (export a regular file or a block device); ggaoed tries again on every reload",
            "g.conf:10: path: [c] is not exported for now: /dev/null is neither a regular file nor a block device; ggaoed tries again on every reload",
            "g.conf:14: path: [e] is not exported for now: /root/x cannot be examined (permission denied? check the path and its parent directories); ggaoed tries again on every reload");
        Assert.Equal(4, r.Config!.Devices.Count);
        Assert.Equal("/srv/none does not exist (create it or correct the path)", r.Config.FindDevice("a")!.Unavailable);
        Assert.Equal("/srv/none", r.Config.FindDevice("a")!.Path);
        Assert.All(r.Config.Devices, d => Assert.NotNull(d.Unavailable));
    }

    [Fact]
    public void RelativePath_IsStillAnError()
    {
        AssertErrors("[d]\npath = relative.img\nshelf = 0\nslot = 3\n",
            "g.conf:2: path: 'relative.img' is not an absolute path: start it with /");
    }

    [Fact]
    public void BothPathAndUuid()
    {
        AssertErrors("[d]\npath = /srv/a\nuuid = 1234\nshelf = 1\nslot = 1\ninterfaces = e\n",
            "g.conf:1: [d]: has both path (line 2) and uuid (line 3): keep only one");
    }

    [Fact]
    public void UnknownUuid_LeavesTheDeviceUnavailable()
    {
        ConfigLoadResult r = AssertWarnings("[d]\nuuid = 1234\nshelf = 1\nslot = 1\n", null,
            "g.conf:2: uuid: [d] is not exported for now: no block device has UUID 1234: check the UUID with blkid, or use path; ggaoed tries again on every reload");
        DeviceConfig d = Assert.Single(r.Config!.Devices);
        Assert.Equal("", d.Path);
        Assert.Equal("1234", d.Uuid);
        Assert.Equal("no block device has UUID 1234: check the UUID with blkid, or use path", d.Unavailable);
    }

    [Fact]
    public void EmptyUuid_IsAnError()
    {
        AssertErrors("[e]\nuuid =\nshelf = 1\nslot = 2\n",
            "g.conf:2: uuid: is empty: give the filesystem, swap, LUKS or partition UUID as blkid shows it");
    }

    [Fact]
    public void BadInterfacePattern_IsTakenLiterally_WithAWarning()
    {
        ConfigLoadResult r = AssertWarnings("[defaults]\ninterfaces = eth0, eth[0\n", null,
            "g.conf:2: interfaces: 'eth[0' is not a valid interface pattern ('[' without a matching ']'), so it only matches an interface of exactly that name");
        Assert.Equal(new[] { "eth0", "eth[0" }, r.Config!.Defaults.Interfaces);
    }

    [Fact]
    public void BadEscape()
    {
        AssertErrors("[defaults]\npid-file = /run/\\x\n",
            @"g.conf:2: pid-file: unknown escape \x: only \s \n \t \r \\ (and \, \; in lists) are allowed");
    }

    [Fact]
    public void AllProblemsAreReportedAtOnce_InFileOrder_ErrorsAndWarningsApart()
    {
        ConfigLoadResult r = Load("oops\n[defaults]\nqueue-length = 0\nbogus = 1\n[d]\npath = /srv/none\nshelf = x\nslot = 1\ninterfaces = e\naccept = 12:34\ndeny =\n");
        Assert.Equal(new[]
        {
            "g.conf:1: syntax error: expected [group], key = value, or a # comment",
            "g.conf:3: queue-length: 0 is out of range: use a whole number from 2 to 1024 (Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr)",
            "g.conf:7: shelf: 'x' is not a whole number: use a whole number from 0 to 65535",
            "g.conf:11: deny: is empty: list MAC addresses, names from [acls] or host names from /etc/ethers, or remove the key",
        }, Errors(r));
        Assert.Equal(new[]
        {
            "g.conf:4: bogus: unknown key in [defaults], ignored: use one of " + DefaultsKeys,
            "g.conf:6: path: [d] is not exported for now: /srv/none does not exist (create it or correct the path); ggaoed tries again on every reload",
            "g.conf:10: accept: '12:34' is not a valid MAC address, so it is left out: write six hex bytes separated by colons, like 00:1b:21:0a:bc:de",
            "g.conf:10: accept: no name in accept resolved to a MAC address: the device admits no one until one does",
        }, Warnings(r));
    }

    [Fact]
    public void UnreadableFile_IsOneError()
    {
        ConfigLoadResult r = ConfigLoader.Load("/nonexistent/ggaoed.conf", new FakeConfigHost());
        Assert.False(r.Ok);
        Assert.StartsWith("/nonexistent/ggaoed.conf: cannot read the configuration file: ", Assert.Single(r.Errors).ToString());
    }

    [Fact]
    public void GgaoedOnePointOneStyleFile_Loads()
    {
        string text = """
            # ggaoed configuration, as a 1.1 installation would have it
            [defaults]
            queue-length = 32
            interfaces = eth1, vif*
            direct-io = true
            pid-file = /var/run/ggaoed.pid
            control-socket = /var/run/ggaoed.sock
            state-directory = /var/lib/ggaoed
            ring-buffer-size = 2048
            max-delay = 0.02
            merge-delay = 0.001

            [acls]
            backup-hosts = 00:16:3e:00:00:01, 00:16:3e:00:00:02
            xen = dom1, dom2
            all = backup-hosts, xen

            [eth1]
            mtu = 9000

            [vm-root]
            path = /dev/vg0/vm-root
            shelf = 0
            slot = 1
            accept = xen
            queue-length = 16

            [vm-data]
            path = /srv/aoe/data.img
            shelf = 0
            slot = 2
            direct-io = false
            interfaces = eth1
            accept = all
            deny = 00:16:3e:00:00:02

            [iso]
            path = /srv/aoe/install.iso
            shelf = 1
            slot = 0
            read-only = true
            broadcast = true
            """;
        var host = new FakeConfigHost().WithBlockDevice("/dev/vg0/vm-root").WithFile("/srv/aoe/data.img").WithFile("/srv/aoe/install.iso");
        host.EthersText = "00:16:3e:00:00:11 dom1\n00:16:3e:00:00:12 dom2\n";
        ConfigLoadResult r = ConfigLoader.LoadText(text, "ggaoed.conf", host);
        Assert.Empty(Errors(r));
        GgaoedConfig c = r.Config!;
        Assert.Equal(3, c.Devices.Count);
        Assert.Equal(new ulong[] { 0x00163E000011, 0x00163E000012 }, c.FindDevice("vm-root")!.Accept);
        Assert.Equal(16, c.FindDevice("vm-root")!.QueueLength);
        Assert.Equal(new ulong[] { 0x00163E000001, 0x00163E000002, 0x00163E000011, 0x00163E000012 }, c.FindDevice("vm-data")!.Accept);
        Assert.False(c.FindDevice("vm-data")!.Admits(0x00163E000002));
        Assert.True(c.FindDevice("iso")!.ReadOnly);
        Assert.Equal(new[] { "eth1", "vif*" }, c.FindDevice("iso")!.Interfaces);
        Assert.Equal(9000, c.ForInterface("eth1").Mtu);
        Assert.Empty(r.Warnings);
        Assert.True(c.IsInterfaceWanted("vif4.0"));
        Assert.False(c.IsInterfaceWanted("eth0"));
        Assert.Equal(4, c.Acls["all"].Length);
    }
}

public class ConfigLoaderExtraTests
{
    private static ConfigLoadResult Load(string text) => ConfigLoader.LoadText(text, "g.conf", new FakeConfigHost().WithFile("/srv/a"));

    [Fact]
    public void MisspelledReservedGroup_IsCalledATypo_AndIgnored()
    {
        ConfigLoadResult r = Load("[default]\nqueue-length = 4\n[ACLs]\n");
        Assert.Empty(r.Errors);
        Assert.Equal(new[]
        {
            "g.conf:1: [default]: unknown group, ignored: did you mean [defaults]? Group names are case-sensitive",
            "g.conf:3: [ACLs]: unknown group, ignored: did you mean [acls]? Group names are case-sensitive",
        }, ConfigText.Lines(r.Warnings));
        Assert.Equal(DefaultsConfig.DefaultQueueLength, r.Config!.Defaults.QueueLength);
    }

    [Fact]
    public void BlankSeparatedInterfaceList_Warns_AndMatchesNothing_RatherThanEverything()
    {
        ConfigLoadResult r = Load("[defaults]\ninterfaces = eth0 eth1\n[d]\npath = /srv/a\nshelf = 1\nslot = 1\n");
        Assert.Equal("g.conf:2: interfaces: 'eth0 eth1' cannot be an interface name (it contains a blank or '/'), so it matches no interface: separate interfaces with commas",
            Assert.Single(r.Warnings).ToString());
        DeviceConfig d = Assert.Single(r.Config!.Devices);
        Assert.False(d.OnEveryInterface);
        Assert.False(d.IsExportedOn("eth0"));
        Assert.False(r.Config.IsInterfaceWanted("eth1"));
    }

    [Fact]
    public void Report_PrintsErrorsThenWarnings_AndReturnsTheExitStatus()
    {
        var host = new FakeConfigHost().WithFile("/srv/a");
        var sw = new System.IO.StringWriter { NewLine = "\n" };
        int rc = ConfigLoader.LoadText("[d]\npath = /srv/a\nshelf = 4095\nslot = 1\ninterfaces = e\n", "g.conf", host).Report(sw);
        Assert.Equal(0, rc);
        Assert.StartsWith("warning: g.conf:3: shelf: the Linux aoe driver never discovers shelf 4095", sw.ToString());

        sw = new System.IO.StringWriter { NewLine = "\n" };
        rc = ConfigLoader.LoadText("[defaults]\ndirect-io = maybe\n", "g.conf", host).Report(sw);
        Assert.Equal(2, rc);
        Assert.StartsWith("g.conf:2: direct-io: 'maybe' is not a boolean", sw.ToString());
    }

    [Fact]
    public void HasSameSettings_ComparesValuesNotArrayIdentity_AndIgnoresLocation()
    {
        const string text = "[acls]\nx = 00:00:00:00:00:01\n[d]\npath = /srv/a\nshelf = 1\nslot = 1\ninterfaces = eth0\naccept = x\n";
        var host = new FakeConfigHost().WithFile("/srv/a");
        DeviceConfig a = ConfigLoader.LoadText(text, "g.conf", host).Config!.Devices[0];
        DeviceConfig b = ConfigLoader.LoadText("\n\n" + text, "g.conf", host).Config!.Devices[0];
        Assert.NotEqual(a.Location, b.Location);
        Assert.True(a.HasSameSettings(b));
        Assert.False(a.HasSameSettings(b with { Accept = new ulong[] { 2 } }));
        Assert.False(a.HasSameSettings(b with { ReadOnly = true }));
        Assert.False(a.HasSameSettings(b with { Accept = null }));
        Assert.False(a.HasSameSettings(b with { Accept = [] }));
        Assert.False(a.HasSameSettings(b with { AdminAccept = [1] }));
        Assert.False(a.HasSameSettings(b with { Unavailable = "gone" }));
        Assert.False(a.HasSameSettings(b with { WriteCache = true }));
        Assert.False(a.HasSameSettings(b with { WriteCachePinned = true }));
        Assert.False(a.HasSameSettings(b with { Shared = true }));
        Assert.False(a.HasSameSettings(b with { OffsetSectors = 8 }));
        Assert.False(a.HasSameSettings(b with { LengthSectors = 8 }));
    }
}

public class ConfigLoaderDefaultsOnlyTests
{
    [Fact]
    public void LoadDefaults_IgnoresDevicesItCannotCheck_ButNotSyntaxOrDefaultsErrors()
    {
        DefaultsConfig? d = ConfigLoader.LoadDefaultsText("[defaults]\ncontrol-socket = /run/x.sock\n[d]\npath = /nonexistent\naccept = nobody\n",
            "g.conf", out var errors);
        Assert.Empty(errors);
        Assert.Equal("/run/x.sock", d!.ControlSocket);

        Assert.Null(ConfigLoader.LoadDefaultsText("[defaults]\ncontrol-socket = x\n[d\n", "g.conf", out errors));
        Assert.Equal(2, errors.Count);
        Assert.Equal("g.conf:2: control-socket: 'x' is not an absolute path: start it with /", errors[0].ToString());
        Assert.Equal("g.conf:3: syntax error: a group header must look like [name] and stand alone on its line", errors[1].ToString());
    }

    [Fact]
    public void EthersHostNames_MatchWithoutCase()
    {
        Assert.True(EthersFile.Parse("00:00:00:00:00:01 Web1.Example.org\n").TryLookup("web1.example.ORG", out ulong mac));
        Assert.Equal(1UL, mac);
    }
}

public class ConfigLoaderDuplicateTests
{
    [Fact]
    public void DuplicateShelfSlot_IsFound_EvenWhenTheFirstDeviceHasOtherProblems()
    {
        ConfigLoadResult r = ConfigLoader.LoadText("[defaults]\ninterfaces = e\n[a]\npath = /srv/a\nshelf = 1\nslot = 2\nread-only = maybe\n[b]\npath = /srv/b\nshelf = 1\nslot = 2\n",
            "g.conf", new FakeConfigHost().WithFile("/srv/a").WithFile("/srv/b"));
        Assert.Equal(new[]
        {
            "g.conf:7: read-only: 'maybe' is not a boolean: use true or false",
            "g.conf:10: shelf: e1.2 is already used by [a] at line 3: give each device its own shelf and slot",
        }, ConfigText.Lines(r.Errors));
    }
}
