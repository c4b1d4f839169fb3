using System.IO;
using Ggaoed.Daemon.Config;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Config;

/// <summary>
/// Every file ggaoed 1.1 accepted loads, with 1.1's meaning: what 1.1 ignored or could not honour warns
/// (and says what happens instead), it does not stop the daemon.
/// </summary>
public class DropInTests
{
    private const string Device = ConfigText.Device;

    private static ConfigLoadResult Load(string text) => ConfigText.Load(text);

    /// <summary>Loads without errors and returns the warnings as printed.</summary>
    private static string[] Warnings(string text, out GgaoedConfig config)
    {
        ConfigLoadResult r = Load(text);
        Assert.Equal([], ConfigText.Lines(r.Errors));
        config = r.Config!;
        return ConfigText.Lines(r.Warnings);
    }

    [Fact]
    public void NoInterfacesAnywhere_ExportsOnEveryInterface_LoopbackIncluded()
    {
        Assert.Empty(Warnings(Device, out GgaoedConfig c));
        DeviceConfig d = Assert.Single(c.Devices);
        Assert.True(d.OnEveryInterface);
        Assert.Empty(d.Interfaces);
        foreach (string name in new[] { "lo", "eth0", "enp3s0f1", "vif12.0" })
        {
            Assert.True(d.IsExportedOn(name), name);
            Assert.True(c.IsInterfaceWanted(name), name);
        }
    }

    [Fact]
    public void EmptyInterfacesInDefaults_AlsoMeansEveryInterface()
    {
        Assert.Empty(Warnings("[defaults]\ninterfaces =\n" + Device, out GgaoedConfig c));
        Assert.True(c.Devices[0].OnEveryInterface);
        Assert.True(c.IsInterfaceWanted("lo"));
    }

    [Fact]
    public void EmptyInterfacesInADevice_MeansNoRestriction_SoTheDefaultsListApplies()
    {
        Assert.Empty(Warnings("[defaults]\ninterfaces = eth1\n" + Device + "interfaces =\n", out GgaoedConfig c));
        DeviceConfig d = c.Devices[0];
        Assert.Equal(["eth1"], d.Interfaces);
        Assert.False(d.OnEveryInterface);
        Assert.False(d.IsExportedOn("lo"));
        Assert.True(d.IsExportedOn("eth1"));
    }

    [Fact]
    public void DefaultsMtu_IsTheLimitOfEveryInterface_AGroupsOwnWins_AndZeroMeansTheInterfacesOwn()
    {
        Assert.Empty(Warnings("[defaults]\nmtu = 1500\n[eth0]\nmtu = 9000\n[eth1]\nmtu = 0\n[vif*]\nring-buffer-size = 1024\n", out GgaoedConfig c));
        Assert.Equal(1500, c.Defaults.Mtu);
        Assert.Equal(9000, c.ForInterface("eth0").Mtu);
        Assert.Null(c.ForInterface("eth1").Mtu);
        Assert.Equal(1500, c.ForInterface("vif3.0").Mtu);
        Assert.Equal(1024, c.ForInterface("vif3.0").RingBufferSizeKiB);
        Assert.Equal(1500, c.ForInterface("eth5").Mtu);
    }

    [Fact]
    public void MtuZero_InDefaults_IsTheInterfacesOwn()
    {
        Assert.Empty(Warnings("[defaults]\nmtu = 0\n", out GgaoedConfig c));
        Assert.Null(c.Defaults.Mtu);
        Assert.Null(c.ForInterface("eth0").Mtu);
    }

    [Fact]
    public void ObsoleteKeys_AreIgnoredWithAWarning_WhereverTheyAre()
    {
        Assert.Equal(
        [
            "g.conf:2: buffers: obsolete ggaoed 1.1 key, ignored: remove it",
            "g.conf:3: tx-ring-bug: obsolete ggaoed 1.1 key, ignored: remove it",
            "g.conf:5: tx-ring-bug: obsolete ggaoed 1.1 key, ignored: remove it",
            "g.conf:6: buffers: obsolete ggaoed 1.1 key, ignored: remove it",
        ], Warnings("[defaults]\nbuffers = 64\ntx-ring-bug = true\n[eth0]\ntx-ring-bug = false\nbuffers = 16\n", out _));
    }

    [Theory]
    [InlineData("queue-length = 1", 2, "1 is outside 2 to 1024 (Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr): using 2")]
    [InlineData("queue-length = 5000", 1024, "5000 is outside 2 to 1024 (Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr): using 1024")]
    public void QueueLength_OutsideWhatWeCanHonour_IsClamped_WithAWarningSayingToWhat(string line, int used, string message)
    {
        string[] w = Warnings("[defaults]\n" + line + "\n" + Device + line + "\n", out GgaoedConfig c);
        Assert.Equal(["g.conf:2: queue-length: " + message, "g.conf:7: queue-length: " + message], w);
        Assert.Equal(used, c.Defaults.QueueLength);
        Assert.Equal(used, c.Devices[0].QueueLength);
    }

    [Fact]
    public void SizesOutsideWhatWeCanHonour_AreClamped_WithAWarningSayingToWhat()
    {
        string[] w = Warnings("[defaults]\nring-buffer-size = 64\nsend-buffer-size = 2000000\nmax-delay = 2\n[eth0]\nmtu = 70000\nring-buffer-size = 4000000\n"
            + "receive-buffer-size = 1048577\n", out GgaoedConfig c);
        Assert.Equal(
        [
            "g.conf:2: ring-buffer-size: 64 is outside 128 to 1048576 (KiB; 0 turns the rings off, a ring needs at least 128): using 128",
            "g.conf:3: send-buffer-size: 2000000 is outside 0 to 1048576 (KiB; 0 keeps the kernel default): using 1048576",
            "g.conf:4: max-delay: 2 s is longer than we hold a request (at most 1 s): using 1 s; use 0 to 1 seconds",
            "g.conf:6: mtu: 70000 is outside 548 to 65535 (or 0 for the interface's own MTU): using 65535",
            "g.conf:7: ring-buffer-size: 4000000 is outside 128 to 1048576 (KiB; 0 turns the rings off, a ring needs at least 128): using 1048576",
            "g.conf:8: receive-buffer-size: 1048577 is outside 0 to 1048576 (KiB; 0 keeps the kernel default): using 1048576",
        ], w);
        Assert.Equal(new EffectiveInterfaceSettings("eth0", 65535, 1048576, 1048576, 1048576), c.ForInterface("eth0"));
        Assert.Equal(128, c.Defaults.RingBufferSizeKiB);
        Assert.Equal(1.0, c.Defaults.MaxDelay);
    }

    [Fact]
    public void RingBufferSizeZero_StillTurnsTheRingsOff_WithoutAWarning()
    {
        Assert.Empty(Warnings("[defaults]\nring-buffer-size = 0\n", out GgaoedConfig c));
        Assert.Equal(0, c.Defaults.RingBufferSizeKiB);
    }

    [Fact]
    public void RepeatedKey_TheLastWins_WithAWarning()
    {
        string[] w = Warnings(Device + "slot = 2\nread-only = true\nread-only = false\n", out GgaoedConfig c);
        Assert.Equal(
        [
            "g.conf:5: slot: key is already set at line 4 in [d]; this later value wins (as in ggaoed 1.1): keep only one",
            "g.conf:7: read-only: key is already set at line 6 in [d]; this later value wins (as in ggaoed 1.1): keep only one",
        ], w);
        Assert.Equal(2, c.Devices[0].Slot);
        Assert.False(c.Devices[0].ReadOnly);
    }

    [Fact]
    public void RepeatedGroup_IsMerged_WithAWarning()
    {
        string[] w = Warnings(Device + "[defaults]\nqueue-length = 8\n[d]\nread-only = true\n", out GgaoedConfig c);
        Assert.Equal(["g.conf:7: [d]: group is already defined at line 1; its keys are merged into that group (as ggaoed 1.1 did): merge the two groups into one"], w);
        Assert.True(c.Devices[0].ReadOnly);
        Assert.Equal(8, c.Devices[0].QueueLength);
    }

    [Fact]
    public void Strict_TurnsEveryWarningIntoAnError_InFileOrder()
    {
        ConfigLoadResult r = Load("[defaults]\nbuffers = 4\ndirect-io = maybe\nqueue-length = 1\n").WithWarningsAsErrors();
        Assert.False(r.Ok);
        Assert.Empty(r.Warnings);
        Assert.Equal(
        [
            "g.conf:2: buffers: obsolete ggaoed 1.1 key, ignored: remove it",
            "g.conf:3: direct-io: 'maybe' is not a boolean: use true or false",
            "g.conf:4: queue-length: 1 is outside 2 to 1024 (Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr): using 2",
        ], ConfigText.Lines(r.Errors));

        ConfigLoadResult clean = Load(Device);
        Assert.Same(clean, clean.WithWarningsAsErrors());
    }

    /// <summary>
    /// A ggaoed 1.1 configuration written from 1.1's documented keys, with what real ones carry: obsolete
    /// keys, no interfaces list, a repeated key, a device name with a blank, a host missing from /etc/ethers,
    /// a disk that is not attached yet, values 1.1 took that we clamp.
    /// </summary>
    [Fact]
    public void RealisticGgaoedOnePointOneFile_LoadsWithWarningsOnly_AndKeepsItsMeaning()
    {
        string path = Path.Combine(TestEnvironment.RepoRoot, "Ggaoed.Tests", "Config", "Fixtures", "ggaoed-1.1.conf");
        var host = new FakeConfigHost().WithBlockDevice("/dev/vg0/xen-web1").WithBlockDevice("/dev/vg0/xen-db1").WithFile("/srv/aoe/debian-12.iso");
        host.Uuids["6f1c2b0e-3a43-4c8e-9d0b-2f5e8a7c1d94"] = "/dev/sdc1";
        host.WithBlockDevice("/dev/sdc1");
        host.EthersText = "00:16:3e:5a:10:01 dom0-a\n00:16:3e:5a:10:02 dom0-b\n";
        ConfigLoadResult r = ConfigLoader.Load(path, host);

        Assert.Equal([], ConfigText.Lines(r.Errors));
        string[] warnings = ConfigText.Lines(r.Warnings);
        Assert.Equal(8, warnings.Length);
        Assert.All(warnings, w => Assert.StartsWith(path + ":", w));
        GgaoedConfig c = r.Config!;

        Assert.Empty(c.Defaults.Interfaces);
        Assert.Equal(2, c.Defaults.QueueLength);                      // queue-length = 1, raised to what Linux needs
        Assert.Equal(128, c.ForInterface("eth1").RingBufferSizeKiB); // 64 KiB: 1.1 ran without a ring
        Assert.Equal(9000, c.ForInterface("eth1").Mtu);
        Assert.Null(c.ForInterface("eth2").Mtu);                      // mtu = 0: the interface's own
        Assert.Equal(1500, c.ForInterface("eth3").Mtu);               // [defaults] mtu

        DeviceConfig web = c.FindDevice("xen web1")!;
        Assert.True(web.OnEveryInterface);
        Assert.True(web.IsExportedOn("lo"));
        Assert.Equal([0x00163E5A1001UL, 0x00163E5A1002UL], web.Accept!);
        Assert.Equal(32, web.QueueLength);                            // the later of two queue-length lines

        DeviceConfig db = c.FindDevice("xen-db1")!;
        Assert.Equal([0x00163E5A1001UL], db.Accept!);                  // dom0-c is not in /etc/ethers: left out
        Assert.False(db.Admits(0x00163E5A1002));

        DeviceConfig iso = c.FindDevice("install")!;
        Assert.True(iso.ReadOnly);
        Assert.True(iso.Broadcast);
        Assert.Null(iso.Accept);
        Assert.Equal(["eth1"], iso.Interfaces);

        DeviceConfig backup = c.FindDevice("backup")!;
        Assert.Equal("/dev/sdc1", backup.Path);
        Assert.Null(backup.Unavailable);

        DeviceConfig spare = c.FindDevice("spare")!;
        Assert.Equal("/dev/vg0/spare does not exist (create it or correct the path)", spare.Unavailable);
        Assert.Equal(5, c.Devices.Count);
    }
}
