using System;
using System.Diagnostics;
using System.Linq;
using System.Text.Json;
using System.Threading;
using Ggaoed.Initiator;
using Ggaoed.Native;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Interfaces matching the configured patterns come and go (issue 5): a reload that changes the patterns
/// attaches and detaches them, and the netlink monitor follows a veth that appears, changes its MTU or is
/// deleted.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class InterfaceTests
{
    private static JsonElement? Port(Sandbox box, string name)
    {
        ToolResult r = box.Ctl("stats", "--json");
        Assert.True(r.ExitCode == 0, r.Output);
        using JsonDocument j = JsonDocument.Parse(r.StdOut);
        foreach (JsonElement p in j.RootElement.GetProperty("interfaces").EnumerateArray())
            if (p.GetProperty("name").GetString() == name)
                return p.Clone();
        return null;
    }

    private static JsonElement WaitForPort(Sandbox box, string name, Func<JsonElement, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            JsonElement? p = Port(box, name);
            if (p is JsonElement e && condition(e))
                return e;
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"{name}: {what} not seen within 30 s; last: {p}");
            Thread.Sleep(100);
        }
    }

    private static void WaitForNoPort(Sandbox box, string name)
    {
        var clock = Stopwatch.StartNew();
        while (Port(box, name) != null)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"{name} still served 30 s after it was deleted");
            Thread.Sleep(100);
        }
    }

    private static ConfigInfo DiscoverOver(Sandbox box, string initiatorIf) => InNetNs.Run(box.Net!.InitiatorNs, () =>
    {
        using var client = new AoeClient(initiatorIf);
        return client.DiscoverUntilFound(t => t.Shelf == 7 && t.Slot == 0, identify: false).Single(t => t.Shelf == 7 && t.Slot == 0).Config;
    });

    [RootFact]
    public void Reload_ChangingTheInterfacePatterns_AttachesAndDetachesInterfaces()
    {
        using var box = new Sandbox(network: true);
        string device = Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0);
        box.WriteConfig(device);
        using DaemonProcess daemon = box.StartForeground();
        (string t2, string i2) = box.Net!.AddLink("b");
        Assert.Null(Port(box, t2));

        box.WriteConfig(device, interfaces: box.Net.TargetIf + "*");
        ToolResult widen = box.Ctl("reload");

        Assert.True(widen.ExitCode == 0, widen.Output);
        Assert.Contains(t2 + ": attached", widen.StdOut);
        Assert.NotNull(Port(box, t2));
        Assert.Equal(2, DiscoverOver(box, i2).SectorCount);

        box.WriteConfig(device);
        ToolResult narrow = box.Ctl("reload");

        Assert.True(narrow.ExitCode == 0, narrow.Output);
        Assert.Contains(t2 + ": detached", narrow.StdOut);
        Assert.Null(Port(box, t2));
        Assert.NotNull(Port(box, box.Net.TargetIf));
        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }

    [RootFact]
    public void Hotplug_AVethThatAppears_IsServed_FollowsItsMtu_AndIsDroppedWhenDeleted()
    {
        using var box = new Sandbox(network: true);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0), interfaces: box.Net!.TargetIf + "*");
        using DaemonProcess daemon = box.StartForeground();

        (string t2, string i2) = box.Net.AddLink("b");
        WaitForPort(box, t2, _ => true, "attach");
        Assert.Equal(2, DiscoverOver(box, i2).SectorCount);

        // Jumbo frames: 17 sectors per request at MTU 9000.
        Sh.Run($"ip -n {box.Net.TargetNs} link set {t2} mtu 9000");
        Sh.Run($"ip -n {box.Net.InitiatorNs} link set {i2} mtu 9000");
        WaitForPort(box, t2, p => p.GetProperty("mtu").GetInt32() == 9000, "MTU 9000");
        Assert.Equal(17, DiscoverOver(box, i2).SectorCount);

        Sh.Run($"ip -n {box.Net.TargetNs} link del {t2}");
        WaitForNoPort(box, t2);
        Assert.False(daemon.HasExited, daemon.Output);
        Assert.Equal(2, DiscoverOver(box, box.Net.InitiatorIf).SectorCount);

        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }
}
