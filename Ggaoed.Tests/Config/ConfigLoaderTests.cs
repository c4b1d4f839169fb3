using System;
using System.Collections.Generic;
using Ggaoed.Daemon.Config;
using Xunit;

namespace Ggaoed.Tests.Config;

public class ConfigLoaderTests
{
    private static ConfigLoadResult Load(string text, FakeConfigHost? host = null) =>
        ConfigLoader.LoadText(text, "g.conf", host ?? new FakeConfigHost().WithFile("/srv/a").WithFile("/srv/b"));

    private static string[] Errors(ConfigLoadResult r)
    {
        var list = new List<string>();
        foreach (ConfigDiagnostic d in r.Errors)
            list.Add(d.ToString());
        return list.ToArray();
    }

    private static void AssertErrors(string text, params string[] expected) => AssertErrors(text, null, expected);

    private static void AssertErrors(string text, FakeConfigHost? host, params string[] expected)
    {
        ConfigLoadResult r = Load(text, host);
        Assert.Null(r.Config);
        Assert.False(r.Ok);
        Assert.Equal(expected, Errors(r));
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
        Assert.Empty(r.Config.Devices);
        Assert.Empty(r.Config.InterfaceGroups);
    }

    [Fact]
    public void EveryDefaultsKey_IsParsed()
    {
        string text = "[defaults]\nqueue-length = 128\ninterfaces = eth*, vif*\ndirect-io = false\ntrace-io = true\n"
            + "pid-file = /run/g.pid\ncontrol-socket = /run/g.sock\nstate-directory = /var/lib/g\nring-buffer-size = 8192\n"
            + "send-buffer-size = 512\nreceive-buffer-size = 1024\nmax-delay = 0.05\nmerge-delay = 0.002\nbusy-poll = 50\n";
        ConfigLoadResult r = Load(text);
        Assert.Empty(Errors(r));
        DefaultsConfig d = r.Config!.Defaults;
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
    public void BusyPoll_IsADefaultsKeyOnly()
    {
        ConfigLoadResult r = Load("[d0]\npath = /dev/null\nshelf = 1\nslot = 1\nbusy-poll = 10\n");
        Assert.Contains(Errors(r), e => e.StartsWith("g.conf:5: ", StringComparison.Ordinal) && e.Contains("busy-poll"));
    }

    [Fact]
    public void EveryDeviceKey_IsParsed()
    {
        string text = "[defaults]\ninterfaces = eth0\n[acls]\nfriends = 00:00:00:00:00:02, 00:00:00:00:00:01\n"
            + "[disk0]\npath = /srv/a\nshelf = 7\nslot = 3\ndirect-io = false\nqueue-length = 16\ninterfaces = vif*\n"
            + "trace-io = true\nmax-delay = 0.2\nmerge-delay = 0.1\nbroadcast = true\nread-only = true\n"
            + "accept = friends, 00:00:00:00:00:09\ndeny = 00:00:00:00:00:01\n";
        ConfigLoadResult r = Load(text);
        Assert.Empty(Errors(r));
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
        Assert.Empty(d.Accept);
        Assert.Empty(d.Deny);
        Assert.True(d.Admits(0x001122334455));
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
    public void UnknownKey_InEachKindOfGroup()
    {
        AssertErrors("[defaults]\nqueue-lenght = 3\nmtu = 1500\n[eth0]\nshelff = 1\nqueue-length = 3\n[d]\npath = /srv/a\nshelf = 1\nslot = 1\ninterfaces = e\nmtu = 9000\npid-file = /x\n",
            "g.conf:2: queue-lenght: unknown key in [defaults]: use one of queue-length, interfaces, direct-io, trace-io, pid-file, control-socket, state-directory, ring-buffer-size, send-buffer-size, receive-buffer-size, max-delay, merge-delay, busy-poll, io-engine",
            "g.conf:3: mtu: unknown key in [defaults]: use one of queue-length, interfaces, direct-io, trace-io, pid-file, control-socket, state-directory, ring-buffer-size, send-buffer-size, receive-buffer-size, max-delay, merge-delay, busy-poll, io-engine",
            "g.conf:4: [eth0]: has device keys (queue-length at line 6) but neither path nor uuid: add path or uuid to export a device",
            "g.conf:12: mtu: unknown key in a device group (it belongs in an interface group): use one of path, uuid, shelf, slot, direct-io, queue-length, interfaces, trace-io, max-delay, merge-delay, broadcast, read-only, accept, deny, io-engine",
            "g.conf:13: pid-file: unknown key in a device group (it belongs in [defaults]): use one of path, uuid, shelf, slot, direct-io, queue-length, interfaces, trace-io, max-delay, merge-delay, broadcast, read-only, accept, deny, io-engine");
    }

    [Fact]
    public void UnknownKey_InInterfaceGroup()
    {
        AssertErrors("[eth0]\nmtu = 9000\nspeed = 10\n",
            "g.conf:3: speed: unknown key in an interface group: use one of mtu, ring-buffer-size, send-buffer-size, receive-buffer-size");
    }

    [Fact]
    public void DeviceGroupWithoutPathOrUuid_IsCalledOut()
    {
        AssertErrors("[disk1]\nshelf = 1\nslot = 2\n",
            "g.conf:1: [disk1]: has device keys (shelf at line 2) but neither path nor uuid: add path or uuid to export a device");
    }

    [Fact]
    public void GroupNamesThatCannotBeInterfaces()
    {
        AssertErrors("[a-very-long-interface-name]\nmtu = 1500\n[bad/name]\n",
            "g.conf:1: [a-very-long-interface-name]: is longer than an interface name can be (15 bytes), and without path or uuid it is not a device either: add path or uuid",
            "g.conf:3: [bad/name]: is not a valid interface name (no '/', ':' or blanks), and without path or uuid it is not a device either");
    }

    [Fact]
    public void BadDeviceName()
    {
        AssertErrors("[my disk]\npath = /srv/a\nshelf = 1\nslot = 1\ninterfaces = e\n[.hidden]\npath = /srv/b\nshelf = 1\nslot = 2\ninterfaces = e\n",
            "g.conf:1: [my disk]: device name may only use letters, digits and . _ - + : @ (it names the state file and ggaoectl arguments): rename the group",
            "g.conf:6: [.hidden]: device name must not start with '.' or '-': rename the group");
    }

    [Fact]
    public void BadNumbers()
    {
        AssertErrors("[defaults]\nqueue-length = lots\nring-buffer-size = 64\nsend-buffer-size = -1\nmax-delay = soon\nmerge-delay = 2\n"
            + "[eth0]\nmtu = 100\n",
            "g.conf:2: queue-length: 'lots' is not a whole number: use a whole number from 2 to 1024 (Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr)",
            "g.conf:3: ring-buffer-size: 64 KiB is too small for a packet ring: use 0 (no ring) or at least 128",
            "g.conf:4: send-buffer-size: -1 is out of range: use a whole number from 0 to 1048576 (KiB; 0 keeps the kernel default)",
            "g.conf:5: max-delay: 'soon' is not a number of seconds: write e.g. 0.005",
            "g.conf:6: merge-delay: 2 is out of range: use 0 to 1 seconds",
            "g.conf:8: mtu: 100 is out of range: use a whole number from 548 to 65535");
    }

    [Fact]
    public void QueueLengthCap()
    {
        AssertErrors("[defaults]\nqueue-length = 4096\n",
            "g.conf:2: queue-length: 4096 is out of range: use a whole number from 2 to 1024 (Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr)");
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
    public void MergeDelayLongerThanMaxDelay()
    {
        AssertErrors("[defaults]\nmax-delay = 0.01\nmerge-delay = 0.5\n",
            "g.conf:3: merge-delay: merge-delay (0.5 s) is longer than max-delay (0.01 s): raise max-delay or lower merge-delay");
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
    public void MissingShelfSlotAndInterfaces()
    {
        AssertErrors("[d]\npath = /srv/a\n",
            "g.conf:1: [d]: has no shelf: give every device a shelf (0 to 65534) and a slot (0 to 254)",
            "g.conf:1: [d]: has no slot: give every device a shelf (0 to 65534) and a slot (0 to 254)",
            "g.conf:1: [d]: is not exported on any interface: set interfaces here or in [defaults]");
    }

    [Fact]
    public void DuplicateShelfSlot()
    {
        AssertErrors(Dev + "[e]\npath = /srv/b\nshelf = 1\nslot = 2\n",
            "g.conf:9: shelf: e1.2 is already used by [d] at line 3: give each device its own shelf and slot");
    }

    [Fact]
    public void PathProblems()
    {
        var host = new FakeConfigHost();
        host.Paths["/srv/dir"] = PathKind.Directory;
        host.Paths["/dev/null"] = PathKind.Other;
        host.Paths["/root/x"] = PathKind.Inaccessible;
        AssertErrors("[defaults]\ninterfaces = e\n[a]\npath = /srv/none\nshelf = 0\nslot = 0\n[b]\npath = /srv/dir\nshelf = 0\nslot = 1\n"
            + "[c]\npath = /dev/null\nshelf = 0\nslot = 2\n[d]\npath = relative.img\nshelf = 0\nslot = 3\n[e]\npath = /root/x\nshelf = 0\nslot = 4\n", host,
            "g.conf:4: path: /srv/none does not exist: create it or correct the path",
            "g.conf:8: path: /srv/dir is a directory: export a regular file or a block device",
            "g.conf:12: path: /dev/null is neither a regular file nor a block device: export a regular file or a block device",
            "g.conf:16: path: 'relative.img' is not an absolute path: start it with /",
            "g.conf:20: path: /root/x cannot be examined (permission denied?): check the path and its parent directories");
    }

    [Fact]
    public void BothPathAndUuid()
    {
        AssertErrors("[d]\npath = /srv/a\nuuid = 1234\nshelf = 1\nslot = 1\ninterfaces = e\n",
            "g.conf:1: [d]: has both path (line 2) and uuid (line 3): keep only one");
    }

    [Fact]
    public void UnknownAndEmptyUuid()
    {
        AssertErrors("[defaults]\ninterfaces = e\n[d]\nuuid = 1234\nshelf = 1\nslot = 1\n[e]\nuuid =\nshelf = 1\nslot = 2\n",
            "g.conf:4: uuid: no block device has UUID 1234: check the UUID with blkid, or use path",
            "g.conf:8: uuid: is empty: give the filesystem, swap, LUKS or partition UUID as blkid shows it");
    }

    [Fact]
    public void BadInterfacePattern()
    {
        AssertErrors("[defaults]\ninterfaces = eth0, eth[0\n",
            "g.conf:2: interfaces: 'eth[0' is not a valid interface pattern: '[' without a matching ']'");
    }

    [Fact]
    public void BadEscape()
    {
        AssertErrors("[defaults]\npid-file = /run/\\x\n",
            @"g.conf:2: pid-file: unknown escape \x: only \s \n \t \r \\ (and \, \; in lists) are allowed");
    }

    [Fact]
    public void AllProblemsAreReportedAtOnce_InFileOrder()
    {
        ConfigLoadResult r = Load("oops\n[defaults]\nqueue-length = 0\nbogus = 1\n[d]\npath = /srv/none\nshelf = x\nslot = 1\ninterfaces = e\naccept = 12:34\n");
        Assert.Equal(new[]
        {
            "g.conf:1: syntax error: expected [group], key = value, or a # comment",
            "g.conf:3: queue-length: 0 is out of range: use a whole number from 2 to 1024 (Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr)",
            "g.conf:4: bogus: unknown key in [defaults]: use one of queue-length, interfaces, direct-io, trace-io, pid-file, control-socket, state-directory, ring-buffer-size, send-buffer-size, receive-buffer-size, max-delay, merge-delay, busy-poll, io-engine",
            "g.conf:6: path: /srv/none does not exist: create it or correct the path",
            "g.conf:7: shelf: 'x' is not a whole number: use a whole number from 0 to 65535",
            "g.conf:10: accept: '12:34' is not a valid MAC address: write six hex bytes separated by colons, like 00:1b:21:0a:bc:de",
        }, Errors(r));
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
        Assert.True(c.IsInterfaceWanted("vif4.0"));
        Assert.False(c.IsInterfaceWanted("eth0"));
        Assert.Equal(4, c.Acls["all"].Length);
    }
}

public class ConfigLoaderExtraTests
{
    private static string[] Errors(string text)
    {
        ConfigLoadResult r = ConfigLoader.LoadText(text, "g.conf", new FakeConfigHost().WithFile("/srv/a"));
        var list = new List<string>();
        foreach (ConfigDiagnostic d in r.Errors)
            list.Add(d.ToString());
        return list.ToArray();
    }

    [Fact]
    public void MisspelledReservedGroup_IsCalledATypo()
    {
        Assert.Equal(new[]
        {
            "g.conf:1: [default]: unknown group: did you mean [defaults]? Group names are case-sensitive",
            "g.conf:3: [ACLs]: unknown group: did you mean [acls]? Group names are case-sensitive",
        }, Errors("[default]\nqueue-length = 4\n[ACLs]\n"));
    }

    [Fact]
    public void BlankSeparatedInterfaceList_IsRefused()
    {
        Assert.Equal(new[]
        {
            "g.conf:2: interfaces: 'eth0 eth1' cannot be an interface name (it contains a blank or '/'): separate interfaces with commas",
        }, Errors("[defaults]\ninterfaces = eth0 eth1\n"));
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
        rc = ConfigLoader.LoadText("[defaults]\nbogus = 1\n", "g.conf", host).Report(sw);
        Assert.Equal(2, rc);
        Assert.StartsWith("g.conf:2: bogus: unknown key in [defaults]", sw.ToString());
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
    }
}

public class ConfigLoaderCascadeTests
{
    [Fact]
    public void BrokenDefaultInterfaces_IsReportedOnce_NotAgainForEveryDevice()
    {
        ConfigLoadResult r = ConfigLoader.LoadText("[defaults]\ninterfaces = eth[0\n[a]\npath = /srv/a\nshelf = 1\nslot = 1\n[b]\npath = /srv/a\nshelf = 1\nslot = 2\n",
            "g.conf", new FakeConfigHost().WithFile("/srv/a"));
        Assert.Equal("g.conf:2: interfaces: 'eth[0' is not a valid interface pattern: '[' without a matching ']'", Assert.Single(r.Errors).ToString());
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
        ConfigLoadResult r = ConfigLoader.LoadText("[defaults]\ninterfaces = e\n[a]\npath = /srv/none\nshelf = 1\nslot = 2\n[b]\npath = /srv/a\nshelf = 1\nslot = 2\n",
            "g.conf", new FakeConfigHost().WithFile("/srv/a"));
        Assert.Equal(new[]
        {
            "g.conf:4: path: /srv/none does not exist: create it or correct the path",
            "g.conf:9: shelf: e1.2 is already used by [a] at line 3: give each device its own shelf and slot",
        }, System.Array.ConvertAll(System.Linq.Enumerable.ToArray(r.Errors), e => e.ToString()));
    }
}
