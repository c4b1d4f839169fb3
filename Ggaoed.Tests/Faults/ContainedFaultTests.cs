using System;
using System.Collections.Generic;
using System.IO;
using System.Text.Json;
using Ggaoed.Ctl;
using Ggaoed.Daemon;
using Ggaoed.Initiator;
using Ggaoed.Tests.DataPath;
using Ggaoed.Tests.Support;
using Peer = Ggaoed.Tests.DataPath.Initiator;
using Xunit;

namespace Ggaoed.Tests.Faults;

/// <summary>
/// An exception inside the daemon (a bug, or a failure nobody planned for) is contained where it is
/// dispatched: the device it concerns goes into error, visible in ggaoectl stats, and everything else
/// keeps serving; a reload that fails while it is put in force changes nothing. The faults are injected
/// through <see cref="DaemonOptions.FaultInjector"/> into the in-process daemon. Before, each of these
/// exceptions left the reactor loop and ended the daemon (InProcessTarget.Stop reports that).
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class ContainedFaultTests
{
    private const int DiskSectors = 2048;
    private const ushort Shelf = 31;

    private sealed class Injector
    {
        public volatile string? FailCompletionsOf;
        public volatile string? FailReloadOf;

        public void Inject(FaultPoint point, string name)
        {
            if (point == FaultPoint.DeviceCompletions && name == FailCompletionsOf)
                throw new InvalidOperationException("injected completion failure");
            if (point == FaultPoint.ReloadPrepareDevice && name == FailReloadOf)
                throw new InvalidOperationException("injected reload failure");
        }
    }

    private static InProcessTarget Start(VethPair veth, Scratch scratch, Injector injector, params TestDevice[] devices)
    {
        string file = scratch.PathOf("ggaoed.conf");
        string text = TestConfig.Text(scratch, veth.TargetIf, devices);
        File.WriteAllText(file, text);
        return new InProcessTarget(veth.TargetNs, TestConfig.Load(text, file), options: o => o.FaultInjector = injector.Inject);
    }

    private static JsonElement Stats(Scratch scratch, out string text)
    {
        string socket = scratch.PathOf("ggaoed.sock");
        Assert.True(ControlClient.TryCall(socket, ["stats"], out bool ok, out text), text);
        Assert.True(ok, text);
        Assert.True(ControlClient.TryCall(socket, ["stats", "--json"], out ok, out string json), json);
        Assert.True(ok, json);
        return JsonDocument.Parse(json).RootElement;
    }

    private static JsonElement Device(JsonElement stats, string name)
    {
        foreach (JsonElement d in stats.GetProperty("devices").EnumerateArray())
            if (d.GetProperty("name").GetString() == name)
                return d;
        throw new Xunit.Sdk.XunitException("no device " + name + " in stats");
    }

    private static string Reload(Scratch scratch, out bool ok)
    {
        Assert.True(ControlClient.TryCall(scratch.PathOf("ggaoed.sock"), ["reload"], out ok, out string reply), reply);
        return reply;
    }

    private static void AssertRoundTrip(AoeClient client, DiscoveredTarget t, ulong lba, int seed)
    {
        byte[] data = Scratch.Pattern(1024, seed);
        client.Write(t, lba, data);
        byte[] back = new byte[1024];
        client.Read(t, lba, back);
        Assert.Equal(data, back);
    }

    [RootFact]
    public void ADevicesCompletionHandlingThrows_ItGoesIntoError_TheOtherServesOn_StatsSayWhy_AndAReloadReopensIt()
    {
        using var veth = new VethPair("fcd");
        using var scratch = new Scratch("contained");
        var injector = new Injector();
        using var target = Start(veth, scratch, injector,
            new TestDevice("a", scratch.CreateDisk("a.img", DiskSectors, seed: 1), Shelf, 1),
            new TestDevice("b", scratch.CreateDisk("b.img", DiskSectors, seed: 2), Shelf, 2));
        using AoeClient client = Peer.Client(veth.InitiatorNs, veth.InitiatorIf);
        List<DiscoveredTarget> found = Peer.Discover(client, 2);
        DiscoveredTarget a = Peer.Find(found, Shelf, 1), b = Peer.Find(found, Shelf, 2);
        AssertRoundTrip(client, a, 8, seed: 3);

        injector.FailCompletionsOf = "a";
        // The write's completion fails to be handled: no answer; the retransmit finds the device in
        // error and gets ATA ABRT at once.
        var error = Assert.Throws<AtaErrorException>(() => client.Write(a, 16, Scratch.Pattern(1024, seed: 4)));
        Assert.NotEqual(0, error.Status & AoeWire.AtaStatusError);
        Assert.Throws<AtaErrorException>(() => client.Read(a, 8, new byte[1024]));
        // The other device on the same interface is not affected.
        AssertRoundTrip(client, b, 8, seed: 5);
        AssertRoundTrip(client, b, 100, seed: 6);

        JsonElement stats = Stats(scratch, out string text);
        JsonElement da = Device(stats, "a"), db = Device(stats, "b");
        Assert.Equal(1, da.GetProperty("faulted").GetInt64());
        Assert.Contains("handling its completions", da.GetProperty("fault").GetString());
        Assert.Contains("injected completion failure", da.GetProperty("fault").GetString());
        Assert.Equal(0, db.GetProperty("faulted").GetInt64());
        Assert.Equal(JsonValueKind.Null, db.GetProperty("fault").ValueKind);
        Assert.True(stats.GetProperty("daemon").GetProperty("handler_failures").GetInt64() >= 1);
        Assert.Contains("in error after an internal failure", text);
        Assert.Contains("device a: handling its completions", text);

        // A reload reopens a device in error.
        injector.FailCompletionsOf = null;
        string report = Reload(scratch, out bool ok);
        Assert.True(ok, report);
        Assert.Contains("a: reopened", report);
        AssertRoundTrip(client, a, 24, seed: 7);
        Assert.Equal(0, Device(Stats(scratch, out _), "a").GetProperty("faulted").GetInt64());
        target.Stop();
    }

    [RootFact]
    public void AReloadThatFailsWhilePreparing_ChangesNothing_ClosesWhatItOpened_AndSaysWhere()
    {
        using var veth = new VethPair("fcr");
        using var scratch = new Scratch("reloadfault");
        var injector = new Injector();
        var a = new TestDevice("a", scratch.CreateDisk("a.img", DiskSectors, seed: 1), Shelf, 1);
        var b = new TestDevice("b", scratch.CreateDisk("b.img", DiskSectors, seed: 2), Shelf, 2);
        var c = new TestDevice("c", scratch.CreateDisk("c.img", DiskSectors, seed: 3), Shelf, 3);
        var d = new TestDevice("d", scratch.CreateDisk("d.img", DiskSectors, seed: 4), Shelf, 4);
        using var target = Start(veth, scratch, injector, a, b);
        using AoeClient client = Peer.Client(veth.InitiatorNs, veth.InitiatorIf);

        // a changes in place, b goes, c and d come; preparing d fails (after c was opened).
        string file = scratch.PathOf("ggaoed.conf");
        File.WriteAllText(file, TestConfig.Text(scratch, veth.TargetIf, [a with { ReadOnly = true }, c, d]));
        injector.FailReloadOf = "d";
        string report = Reload(scratch, out bool ok);
        Assert.False(ok, report);
        Assert.Contains($"reload refused: {file}:", report);
        Assert.Contains(": d: injected reload failure", report);
        Assert.Contains("nothing was changed", report);

        // The old configuration is in force, whole: a still writable, b still there, c not added.
        List<DiscoveredTarget> found = Peer.Discover(client, 2);
        Assert.Equal(2, found.Count);
        AssertRoundTrip(client, Peer.Find(found, Shelf, 1), 8, seed: 5);
        AssertRoundTrip(client, Peer.Find(found, Shelf, 2), 8, seed: 6);
        JsonElement stats = Stats(scratch, out _);
        Assert.Equal(2, stats.GetProperty("devices").GetArrayLength());
        Assert.Equal(1, stats.GetProperty("daemon").GetProperty("handler_failures").GetInt64());
        // c's store, opened while preparing, was closed again.
        Assert.DoesNotContain(c.Path, OpenFiles());

        // Without the fault the same file applies.
        injector.FailReloadOf = null;
        report = Reload(scratch, out ok);
        Assert.True(ok, report);
        Assert.Contains("b: removed", report);
        Assert.Contains("c: added", report);
        Assert.Contains("d: added", report);
        Assert.Contains("a: updated", report);
        target.Stop();
    }

    private static List<string> OpenFiles()
    {
        var files = new List<string>();
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget is string link)
                    files.Add(link);
            }
            catch (IOException)
            {
                // closed while we looked
            }
        }
        return files;
    }
}
