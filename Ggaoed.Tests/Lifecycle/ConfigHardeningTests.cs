using System;
using System.IO;
using Ggaoed.Initiator;
using Ggaoed.Native;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Faults;
using Ggaoed.Tests.Protocol;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Access lists that would fall open are refused by the real daemon, at start (ggaoed -t) and at
/// reload, and a reload that cannot read /etc/ethers leaves the running configuration serving
/// (ggaoed.conf(5): THE ACLS GROUP, accept, deny, admin-accept; WARNINGS AND ERRORS).
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class ConfigHardeningTests
{
    private const ushort Shelf = 7;

    /// <summary>A host in no list: the accept list must keep it out before and after a refused reload.</summary>
    private static readonly byte[] Stranger = [0x02, 0x00, 0x00, 0x00, 0x0e, 0x0e];

    /// <summary>
    /// The configuration under test: d0 admits only the list `trusted` (our initiator) and denies
    /// another host; with <paramref name="adminAccept"/>, only `trusted` may change its state too.
    /// <paramref name="empty"/> names the one key (trusted, accept, deny, admin-accept) whose value is
    /// replaced by <paramref name="emptyValue"/>.
    /// </summary>
    private static string Groups(string image, string initiator, bool adminAccept, string? empty = null, string emptyValue = "")
    {
        string Line(string key, string value) => key + " = " + (key == empty ? emptyValue : value) + "\n";
        return "[acls]\n" + Line("trusted", initiator) + "\n"
            + Sandbox.Device("d0", image, Shelf, 0,
                Line("accept", "trusted") + Line("deny", "02:00:00:00:0d:0d") + (adminAccept ? Line("admin-accept", "trusted") : ""));
    }

    /// <summary>The 1-based line of the first line of <paramref name="file"/> that starts with "KEY =".</summary>
    private static int LineOf(string file, string key)
    {
        string[] lines = File.ReadAllLines(file);
        int i = Array.FindIndex(lines, l => l.StartsWith(key + " =", StringComparison.Ordinal));
        Assert.True(i >= 0, $"no '{key} =' line in {file}");
        return i + 1;
    }

    /// <summary>Asserts that the device answers the stranger nothing (spoofed source; the initiator end is promiscuous).</summary>
    private static void AssertStrangerGetsNothing(AoeClient client, DiscoveredTarget target)
    {
        byte[] query = RawAoe.Address(AoeFrames.ConfigQuery(0, []), target.Mac, Stranger, Shelf, 0);
        Assert.Empty(RawAoe.Exchange(client.Socket, [query], expected: 0, TimeSpan.FromMilliseconds(500)));
    }

    [RootTheory]
    [InlineData("accept", "")]
    [InlineData("accept", ",")]
    [InlineData("deny", "")]
    [InlineData("deny", ",")]
    [InlineData("admin-accept", "")]
    [InlineData("admin-accept", ",")]
    [InlineData("trusted", "")]   // a named list in [acls]
    [InlineData("trusted", ",")]
    public void EmptyAccessList_IsAnErrorAtItsLine_ForCheckAndReload_AndTheRunningConfigurationKeepsServing(string key, string value)
    {
        using var box = new Sandbox(network: true);
        Sh.Run($"ip -n {box.Net!.InitiatorNs} link set {box.Net.InitiatorIf} promisc on");
        using AoeClient client = box.Client();
        string me = DiscoveredTarget.FormatMac(client.Mac);
        string image = box.CreateImage("d0", 1);
        // admin-accept only where it is under test: the other rows then also load in a ggaoed without it.
        bool adminAccept = key == "admin-accept";
        box.WriteConfig(Groups(image, me, adminAccept));
        DaemonProcess daemon = box.StartForeground();
        DiscoveredTarget d0 = FaultRig.Discover(client, Shelf, 0);
        AssertStrangerGetsNothing(client, d0);

        box.WriteConfig(Groups(image, me, adminAccept, key, value));
        string expected = $"{box.ConfigPath}:{LineOf(box.ConfigPath, key)}: {key}: is empty";
        ToolResult check = box.RunBinary("-t", "-c", box.ConfigPath);
        Assert.True(check.ExitCode == 2, $"ggaoed -t exited {check.ExitCode}:\n{check.Output}");
        Assert.Contains(expected, check.StdErr);

        ToolResult reload = box.Ctl("reload");
        Assert.True(reload.ExitCode == 1, $"ggaoectl reload exited {reload.ExitCode}:\n{reload.Output}");
        Assert.Contains(expected, reload.Output);
        Assert.Contains("still running the previous configuration", reload.Output);

        // Still serving, with the lists it had: the initiator reads and may set state, the stranger sees nothing.
        Assert.False(daemon.HasExited, daemon.Output);
        client.Read(d0, 0, new byte[1024]);
        byte[] set = RawAoe.Ask(client.Socket, RawAoe.Address(AoeFrames.ConfigQuery(4, "still here"u8), d0.Mac, client.Mac, Shelf, 0));
        Assert.False(RawAoe.IsAoeError(set), "config set refused after the refused reload: error " + set[15]);
        AssertStrangerGetsNothing(client, d0);
        Sandbox.Stop(daemon);
    }

    [RootFact]
    public void Reload_WhileEtcEthersIsADirectory_IsRefusedNamingIt_AndTheDaemonKeepsServing()
    {
        bool hostEthersFile = File.Exists("/etc/ethers"), hostEthersDir = Directory.Exists("/etc/ethers");
        using var box = new Sandbox(network: true);
        using AoeClient client = box.Client();
        // The daemon's /etc is this directory (a private mount namespace): its ethers names our initiator.
        string etc = Path.Combine(box.Dir, "etc");
        string ethers = Path.Combine(etc, "ethers");
        Directory.CreateDirectory(etc);
        File.WriteAllText(ethers, DiscoveredTarget.FormatMac(client.Mac) + " aoe-initiator\n");
        box.PrivateEtc = etc;
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), Shelf, 0, "accept = aoe-initiator\n"));
        DaemonProcess daemon = box.StartForeground();
        DiscoveredTarget d0 = FaultRig.Discover(client, Shelf, 0);   // admitted by its name in ethers
        client.Read(d0, 0, new byte[1024]);

        File.Delete(ethers);
        Directory.CreateDirectory(ethers);
        // SIGHUP: the refusal is logged, naming the file, and the daemon lives on.
        int logged = daemon.StdErr.Length;
        daemon.Signal(Libc.SIGHUP);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!daemon.StdErr[logged..].Contains("reload refused", StringComparison.Ordinal))
        {
            Assert.False(daemon.HasExited, "the daemon exited on SIGHUP:\n" + daemon.Output);
            Assert.True(clock.Elapsed < Sandbox.StartTimeout, "no reload refusal logged after SIGHUP:\n" + daemon.StdErr);
            System.Threading.Thread.Sleep(50);
        }
        Assert.Contains("/etc/ethers", daemon.StdErr[logged..]);
        // ggaoectl reload: the same refusal, as its answer and exit status 1.
        ToolResult reload = box.Ctl("reload");
        Assert.True(reload.ExitCode == 1, $"ggaoectl reload exited {reload.ExitCode}:\n{reload.Output}\n{daemon.Output}");
        Assert.Contains("/etc/ethers", reload.Output);
        Assert.Contains("still running the previous configuration", reload.Output);
        Assert.False(daemon.HasExited, daemon.Output);

        // It keeps serving the initiator its accept list named, and answers ggaoectl.
        client.Read(d0, 0, new byte[1024]);
        box.CtlOk("stats");
        // Once ethers is a file again, the same configuration reloads.
        Directory.Delete(ethers);
        File.WriteAllText(ethers, DiscoveredTarget.FormatMac(client.Mac) + " aoe-initiator\n");
        box.CtlOk("reload");
        client.Read(d0, 0, new byte[1024]);
        Sandbox.Stop(daemon);
        Assert.Equal((hostEthersFile, hostEthersDir), (File.Exists("/etc/ethers"), Directory.Exists("/etc/ethers")));
    }
}
