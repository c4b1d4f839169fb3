using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Threading;
using Ggaoed.Protocol;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Network;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Advertisements on the wire (drop-in issue rows 4 and 7; hardening row 7), seen by a raw listener on
/// the initiator's end of a veth pair with the published daemon on the other: an unsolicited Query
/// Config response (tag 0, R flag) at start, for a device a reload adds, after an MTU change (in place
/// and by reopening the port), after a reload that reopens the rings or lowers the MTU, and after a
/// MAC change; by broadcast, or to each accepted MAC, or by
/// broadcast despite the accept list with broadcast = true; and at most one per device and interface
/// per second, the last change never lost.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class AdvertisementWireTests
{
    private static readonly MacAddress OtherInitiator = MacAddress.Parse("02:00:00:00:00:77");

    private readonly ITestOutputHelper _output;

    public AdvertisementWireTests(ITestOutputHelper output) => _output = output;

    [RootFact]
    public void Start_AdvertisesEachDevice_ByBroadcast_OrToEachAcceptedMac()
    {
        using var box = new Sandbox(network: true);
        using var listener = new AdvertListener(box.Net!);
        string acl = "accept = " + listener.Mac + ", " + OtherInitiator + "\n";
        box.WriteConfig(
            Sandbox.Device("open", box.CreateImage("open", 1), 5, 0) +
            Sandbox.Device("acl", box.CreateImage("acl", 1), 5, 1, acl) +
            Sandbox.Device("loud", box.CreateImage("loud", 1), 5, 2, acl + "broadcast = true\n"));
        using DaemonProcess daemon = box.StartForeground();

        List<Advert> seen = listener.Collect(all => all.Count >= 4, settle: TimeSpan.FromSeconds(2));
        MacAddress target = TargetMac(box);
        Assert.All(seen, a =>
        {
            Assert.Equal(target, a.From);
            Assert.Equal(2, a.SectorsPerRequest);  // (1500 - 36) / 512
            Assert.Equal(64, a.BufferCount);       // queue-length
        });
        string[] expected =
        [
            $"5.0 to {MacAddress.Broadcast}",
            $"5.1 to {listener.Mac}",
            $"5.1 to {OtherInitiator}",
            $"5.2 to {MacAddress.Broadcast}",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), seen.Select(a => a.ToString()).Order(StringComparer.Ordinal));
        Assert.Equal(4, InterfaceCounter(box, "advertisements"));
    }

    [RootFact]
    public void Reload_AdvertisesTheDeviceItAdds_AndNotTheOnesItLeftAlone()
    {
        using var box = new Sandbox(network: true);
        using var listener = new AdvertListener(box.Net!);
        string first = Sandbox.Device("d0", box.CreateImage("d0", 1), 5, 0);
        box.WriteConfig(first);
        using DaemonProcess daemon = box.StartForeground();
        Assert.Equal(["5.0 to " + MacAddress.Broadcast], listener.Collect(all => all.Count >= 1, settle: TimeSpan.FromSeconds(1)).Select(a => a.ToString()));

        box.WriteConfig(first + Sandbox.Device("d3", box.CreateImage("d3", 1), 5, 3));
        Reload(box);
        List<Advert> after = listener.Collect(all => all.Count >= 1, settle: TimeSpan.FromSeconds(2));
        Assert.Equal(["5.3 to " + MacAddress.Broadcast], after.Select(a => a.ToString()));
    }

    [RootFact]
    public void MtuChange_AdvertisesTheNewSectorsPerRequest_WhetherThePortIsReopenedOrNot()
    {
        using var box = new Sandbox(network: true);
        using var listener = new AdvertListener(box.Net!);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), 5, 0));
        using DaemonProcess daemon = box.StartForeground();
        Assert.Equal(2, listener.Collect(all => all.Count >= 1, settle: TimeSpan.FromSeconds(1)).Single().SectorsPerRequest);

        // Larger than the frames the port was opened with: reopened, a new port.
        SetLink(box, "mtu 9000");
        Assert.Equal(17, listener.Collect(all => all.Any(a => a.SectorsPerRequest == 17), settle: TimeSpan.Zero).Last().SectorsPerRequest);
        // Smaller: applied in place.
        SetLink(box, "mtu 4000");
        Assert.Equal(7, listener.Collect(all => all.Any(a => a.SectorsPerRequest == 7), settle: TimeSpan.Zero).Last().SectorsPerRequest);
    }

    [RootFact]
    public void ReloadThatReopensTheRingsOrLowersTheMtu_IsAdvertised()
    {
        using var box = new Sandbox(network: true, mtu: 9000);
        using var listener = new AdvertListener(box.Net!);
        string device = Sandbox.Device("d0", box.CreateImage("d0", 1), 5, 0);
        box.WriteConfig(device);
        using DaemonProcess daemon = box.StartForeground();
        Assert.Equal(17, listener.Collect(all => all.Count >= 1, settle: TimeSpan.FromSeconds(1)).Single().SectorsPerRequest);

        // Other ring sizes: the port is closed and opened again.
        string group = $"[{box.Net!.TargetIf}]\nring-buffer-size = 2048\n";
        box.WriteConfig(device + group);
        Assert.Contains(box.Net.TargetIf + ": reopened", Reload(box));
        Assert.Equal(17, listener.Collect(all => all.Count >= 1, settle: TimeSpan.FromSeconds(1)).Single().SectorsPerRequest);

        // A lower AoE MTU for the interface, applied in place.
        box.WriteConfig(device + group + "mtu = 4000\n");
        Assert.Contains("MTU 4000", Reload(box));
        Assert.Equal(7, listener.Collect(all => all.Count >= 1, settle: TimeSpan.FromSeconds(1)).Single().SectorsPerRequest);
    }

    [RootFact]
    public void MacChange_IsAdvertisedFromTheNewMac()
    {
        const string newMac = "02:00:00:aa:bb:cc";
        using var box = new Sandbox(network: true);
        using var listener = new AdvertListener(box.Net!);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), 5, 0));
        using DaemonProcess daemon = box.StartForeground();
        Assert.NotEqual(newMac, listener.Collect(all => all.Count >= 1, settle: TimeSpan.FromSeconds(1)).Single().From.ToString());

        SetLink(box, "address " + newMac);
        Advert a = listener.Collect(all => all.Count >= 1, settle: TimeSpan.FromSeconds(1)).Single();
        Assert.Equal(newMac, a.From.ToString());
        Assert.Equal("5.0 to " + MacAddress.Broadcast, a.ToString());
    }

    [RootFact]
    public void ManyMtuChangesInABurst_AreAdvertisedAtMostOncePerSecond_AndTheLastOneGoesOut()
    {
        using var box = new Sandbox(network: true, mtu: 9000);
        using var listener = new AdvertListener(box.Net!);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), 5, 0));
        using DaemonProcess daemon = box.StartForeground();
        listener.Collect(all => all.Count >= 1, settle: TimeSpan.FromSeconds(1.5));

        // 41 changes from one shell, all in place (9000 is what the port was opened with), ending at 4000.
        string link = $"ip -n {box.Net!.TargetNs} link set {box.Net.TargetIf}";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Sh.Run($"for i in $(seq 20); do {link} mtu 4000; {link} mtu 9000; done; {link} mtu 4000");
        TimeSpan burst = clock.Elapsed;
        List<Advert> seen = listener.Collect(all => all.Count > 0 && all[^1].SectorsPerRequest == 7, settle: TimeSpan.FromSeconds(2.5));

        _output.WriteLine($"41 MTU changes in {burst.TotalMilliseconds:F0} ms: {seen.Count} advertisement(s), sectors per request " +
                          string.Join(", ", seen.Select(a => a.SectorsPerRequest)));
        // One at the first change, then at most one per second of the burst, then the last state.
        int allowed = 2 + (int)Math.Ceiling(burst.TotalSeconds);
        Assert.InRange(seen.Count, 1, allowed);
        Assert.Equal(7, seen[^1].SectorsPerRequest);
        Assert.Equal(seen.Count, InterfaceCounter(box, "advertisements") - 1);
    }

    private static string Reload(Sandbox box)
    {
        ToolResult r = box.Ctl("reload");
        Assert.True(r.ExitCode == 0, r.Output);
        return r.StdOut;
    }

    private static void SetLink(Sandbox box, string what) => Sh.Run($"ip -n {box.Net!.TargetNs} link set {box.Net.TargetIf} {what}");

    private static MacAddress TargetMac(Sandbox box)
    {
        using JsonDocument doc = JsonDocument.Parse(Sh.Run($"ip -n {box.Net!.TargetNs} -j link show {box.Net.TargetIf}"));
        return MacAddress.Parse(doc.RootElement[0].GetProperty("address").GetString()!);
    }

    private static long InterfaceCounter(Sandbox box, string name)
    {
        ToolResult r = box.Ctl("--json", "stats");
        Assert.True(r.ExitCode == 0, r.Output);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        return doc.RootElement.GetProperty("interfaces")[0].GetProperty(name).GetInt64();
    }
}

/// <summary>One advertisement as the listener saw it.</summary>
internal readonly record struct Advert(MacAddress To, MacAddress From, ushort Shelf, byte Slot, int SectorsPerRequest, int BufferCount)
{
    public override string ToString() => Shelf + "." + Slot + " to " + To;

    /// <summary>An unsolicited Query Config response: AoE, R flag, no error, command 1, tag 0.</summary>
    public static bool TryParse(ReadOnlySpan<byte> f, out Advert advert)
    {
        advert = default;
        if (f.Length < AoeWire.CfgStringOffset || BinaryPrimitives.ReadUInt16BigEndian(f.Slice(12)) != AoeWire.EtherType
            || f[14] != AoeWire.ReplyVerFlags || f[19] != AoeWire.CmdQueryConfig
            || BinaryPrimitives.ReadUInt32BigEndian(f.Slice(20)) != 0)
            return false;
        advert = new Advert(MacAddress.Read(f), MacAddress.Read(f.Slice(6)), BinaryPrimitives.ReadUInt16BigEndian(f.Slice(16)), f[18],
            f[AoeWire.CfgSectorCountOffset], BinaryPrimitives.ReadUInt16BigEndian(f.Slice(AoeWire.CfgBufferCountOffset)));
        return true;
    }
}

/// <summary>A raw AoE socket on the initiator's end of the veth: what arrives unasked.</summary>
internal sealed class AdvertListener : IDisposable
{
    private readonly RawPeer _peer;
    private readonly byte[] _buffer = new byte[9216];

    public AdvertListener(VethPair net) => _peer = RawPeer.Open(net.InitiatorNs, net.InitiatorIf);

    public MacAddress Mac => new(_peer.Info.Mac.Value);

    /// <summary>
    /// The advertisements that arrive from now until <paramref name="done"/> holds for them (within
    /// 20 s), and then for <paramref name="settle"/> more, to catch one too many.
    /// </summary>
    public List<Advert> Collect(Func<List<Advert>, bool> done, TimeSpan settle)
    {
        var seen = new List<Advert>();
        long until = Environment.TickCount64 + 20_000;
        bool settling = false;
        while (Environment.TickCount64 < until)
        {
            int n = _peer.Receive(_buffer, timeoutMs: 0);
            if (n < 0)
            {
                Thread.Sleep(5);
            }
            else if (Advert.TryParse(_buffer.AsSpan(0, n), out Advert a))
            {
                seen.Add(a);
            }
            if (!settling && done(seen))
            {
                settling = true;
                until = Environment.TickCount64 + (long)settle.TotalMilliseconds;
            }
        }
        Assert.True(settling, "the advertisements expected did not come within 20 s; seen: " + string.Join(", ", seen));
        return seen;
    }

    public void Dispose() => _peer.Dispose();
}
