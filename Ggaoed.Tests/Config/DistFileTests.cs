using System;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using Ggaoed.Daemon.Config;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Config;

/// <summary>
/// ggaoed.conf.dist must stay true to the code. Its convention: prose comments are "# text", and keys and
/// group headers are commented without a blank ("#key = value", "#[group]"), so they can be uncommented
/// mechanically.
/// </summary>
public class DistFileTests
{
    private static string DistText => File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "ggaoed.conf.dist"));

    private static FakeConfigHost Host()
    {
        var host = new FakeConfigHost().WithFile("/srv/aoe/vm-disk1.img", 16L << 30);
        host.EthersText = "00:1b:21:00:00:a1 dom0-a\n00:1b:21:00:00:a2 dom0-b\n";
        return host;
    }

    private static string Uncommented()
    {
        var sb = new StringBuilder();
        foreach (string line in DistText.Split('\n'))
            sb.Append(Regex.IsMatch(line, @"^#[a-z\[]") ? line[1..] : line).Append('\n');
        return sb.ToString();
    }

    [Fact]
    public void DistFile_LoadsAsIs()
    {
        ConfigLoadResult r = ConfigLoader.LoadText(DistText, "ggaoed.conf.dist", Host());
        Assert.Empty(r.Errors);
        Assert.Empty(r.Warnings);
        Assert.Empty(r.Config!.Devices);
    }

    [Fact]
    public void DistFile_WithEverythingUncommented_LoadsAndItsDefaultsAreTheCodeDefaults()
    {
        ConfigLoadResult r = ConfigLoader.LoadText(Uncommented(), "ggaoed.conf.dist", Host());
        Assert.Empty(r.Errors);
        Assert.Empty(r.Warnings);
        GgaoedConfig c = r.Config!;
        Assert.Empty(c.Defaults.Interfaces);
        Assert.Equal(new DefaultsConfig(), c.Defaults with { Location = default, Interfaces = Array.Empty<string>() });

        DeviceConfig d = Assert.Single(c.Devices);
        Assert.Equal("vm-disk1", d.Name);
        Assert.False(d.ReadOnly);
        Assert.False(d.Broadcast);
        Assert.Equal(c.Defaults.QueueLength, d.QueueLength);
        Assert.Equal(c.Defaults.MaxDelay, d.MaxDelay);
        Assert.Equal(c.Defaults.MergeDelay, d.MergeDelay);
        Assert.Equal(c.Defaults.DirectIo, d.DirectIo);
        Assert.Equal(c.Defaults.TraceIo, d.TraceIo);
        Assert.Equal(new ulong[] { 0x001B210000A1, 0x001B210000A2, 0x001B210ABCDE, 0x001B210ABCDF }, d.Accept);
        Assert.False(d.Admits(0x001B210ABCDF));
        Assert.Equal([0x001B210ABCDEUL, 0x001B210ABCDFUL], d.AdminAccept!);
        Assert.False(d.WriteCache);
        Assert.True(d.WriteCachePinned);
        Assert.False(d.Shared);
        Assert.Equal(0, d.OffsetSectors);
        Assert.Equal((8L << 30) / 512, d.LengthSectors);
        Assert.True(d.IsExportedOn("vif3.0"));
        Assert.Equal(9000, c.ForInterface("eth1").Mtu);
    }

    [Theory]
    [InlineData("defaults")]
    [InlineData("interface")]
    [InlineData("device")]
    public void DistFile_DocumentsEveryKeyTheParserKnows(string kind)
    {
        string[] keys = kind switch
        {
            "defaults" => ConfigKeys.Defaults,
            "interface" => ConfigKeys.Interface,
            _ => ConfigKeys.Device,
        };
        // Keys a device and [defaults] share are shown once, with the device (the dist file says so).
        string text = DistText;
        foreach (string key in keys)
            Assert.True(Regex.IsMatch(text, @"(?m)^# ?" + Regex.Escape(key) + @"\s*="), key + " is not documented in ggaoed.conf.dist");
    }

    [Fact]
    public void DistFile_NamesTheObsoleteKeys()
    {
        foreach (string key in ConfigKeys.Obsolete)
            Assert.Contains(key, DistText, StringComparison.Ordinal);
    }
}
