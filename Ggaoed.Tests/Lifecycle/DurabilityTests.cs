using System;
using System.IO;
using Ggaoed.Initiator;
using Ggaoed.Tests.Faults;
using Ggaoed.Tests.Protocol;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// The write cache as the real daemon reports it to an initiator, and what an initiator may do about
/// it (ggaoed.conf(5), write-cache and shared; Ggaoed/Protocol/README.md, write cache): IDENTIFY tells
/// the truth, SET FEATURES changes it only where the configuration leaves it open, the choice outlives
/// a restart, and a shared device takes no reservation.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class DurabilityTests
{
    private const ushort Shelf = 7;
    private const byte AtaIdentify = 0xEC, AtaSetFeatures = 0xEF, EnableWriteCache = 0x02, DisableWriteCache = 0x82;
    private const byte StatusReady = 0x40, StatusAborted = 0x41, ErrorAbrt = 0x04;
    private const int WriteCacheBit = 1 << 5;   // ATA8-ACS IDENTIFY word 82 (supported) and 85 (enabled), bit 5

    private static readonly string[] Names = ["free", "on", "off"];

    /// <summary>The three devices, once each answers (also the way to know a restarted daemon listens again).</summary>
    private static DiscoveredTarget[] Discover(AoeClient client) =>
        [FaultRig.Discover(client, Shelf, 0), FaultRig.Discover(client, Shelf, 1), FaultRig.Discover(client, Shelf, 2)];

    /// <summary>IDENTIFY words 82 and 85 of shelf 7 slot <paramref name="slot"/>.</summary>
    private static (int Supported, int Enabled) WriteCacheWords(AoeClient client, DiscoveredTarget target)
    {
        byte[] r = RawAoe.Ask(client.Socket, RawAoe.Address(AoeFrames.AtaFrame(0, 0, 1, AtaIdentify, 0), target.Mac, client.Mac, Shelf, target.Slot));
        Assert.True(r.Length >= 36 + 512 && r[27] == StatusReady, $"IDENTIFY: {r.Length} bytes, status 0x{r[27]:x2}");
        int Word(int n) => r[36 + 2 * n] | r[37 + 2 * n] << 8;
        return (Word(82) & WriteCacheBit, Word(85) & WriteCacheBit);
    }

    /// <summary>SET FEATURES (enable or disable write cache); returns the ATA (status, error) of the reply.</summary>
    private static (byte Status, byte Error) SetFeatures(AoeClient client, DiscoveredTarget target, byte feature)
    {
        byte[] r = RawAoe.Ask(client.Socket, RawAoe.Address(AoeFrames.AtaFrame(0, feature, 0, AtaSetFeatures, 0), target.Mac, client.Mac, Shelf, target.Slot));
        Assert.False(RawAoe.IsAoeError(r), "SET FEATURES answered with AoE error " + r[15]);
        return (r[27], r[25]);
    }

    /// <summary>Asserts, for each device, what IDENTIFY word 85 and the write_cache gauge say.</summary>
    private static void AssertWriteCache(Sandbox box, AoeClient client, DiscoveredTarget[] targets, params bool[] on)
    {
        for (int i = 0; i < targets.Length; i++)
        {
            (int supported, int enabled) = WriteCacheWords(client, targets[i]);
            Assert.True(supported == WriteCacheBit, $"{Names[i]}: IDENTIFY word 82 bit 5 (write cache supported) is clear");
            Assert.True(enabled == (on[i] ? WriteCacheBit : 0), $"{Names[i]}: IDENTIFY word 85 bit 5 is {enabled >> 5}, expected {(on[i] ? 1 : 0)}");
            Assert.Equal(on[i] ? 1 : 0, box.Counter(Names[i], "write_cache"));
        }
    }

    [RootFact]
    public void WriteCache_IdentifyReportsIt_SetFeaturesChangesItOnlyWhereTheConfigDoesNotPinIt_AndTheChoiceSurvivesARestart()
    {
        using var box = new Sandbox(network: true);
        box.WriteConfig(
            Sandbox.Device(Names[0], box.CreateImage(Names[0], 1), Shelf, 0) +
            Sandbox.Device(Names[1], box.CreateImage(Names[1], 1), Shelf, 1, "write-cache = true\n") +
            Sandbox.Device(Names[2], box.CreateImage(Names[2], 1), Shelf, 2, "write-cache = false\n"));
        DaemonProcess daemon = box.StartForeground();
        using AoeClient client = box.Client();
        DiscoveredTarget[] targets = Discover(client);

        // Off by default, as configured otherwise; only the unset one is the initiator's to change.
        AssertWriteCache(box, client, targets, false, true, false);
        Assert.Equal([0, 1, 1], Array.ConvertAll(Names, n => (int)box.Counter(n, "write_cache_pinned")));

        Assert.Equal((StatusReady, (byte)0), SetFeatures(client, targets[0], EnableWriteCache));
        Assert.Equal((StatusAborted, ErrorAbrt), SetFeatures(client, targets[1], DisableWriteCache));
        Assert.Equal((StatusAborted, ErrorAbrt), SetFeatures(client, targets[2], EnableWriteCache));
        // Asking a pinned device for the state it has is no change, and succeeds.
        Assert.Equal((StatusReady, (byte)0), SetFeatures(client, targets[1], EnableWriteCache));
        Assert.Equal((StatusReady, (byte)0), SetFeatures(client, targets[2], DisableWriteCache));
        AssertWriteCache(box, client, targets, true, true, false);

        // The initiator's choice is state: saved, and in force after a restart.
        Sandbox.Stop(daemon);
        Assert.Contains("write-cache on", File.ReadAllText(Path.Combine(box.StateDir, Names[0] + ".state")));
        daemon = box.StartForeground();
        targets = Discover(client);
        AssertWriteCache(box, client, targets, true, true, false);

        // And back off, which a restart keeps as well.
        Assert.Equal((StatusReady, (byte)0), SetFeatures(client, targets[0], DisableWriteCache));
        Sandbox.Stop(daemon);
        daemon = box.StartForeground();
        targets = Discover(client);
        AssertWriteCache(box, client, targets, false, true, false);
        Sandbox.Stop(daemon);
    }

    [RootFact]
    public void SharedDevice_RefusesReserveSetWithAoeError2_AnswersReserveRead_AndKeepsItsWriteCacheOff()
    {
        using var box = new Sandbox(network: true);
        box.WriteConfig(Sandbox.Device("shared", box.CreateImage("shared", 1), Shelf, 0, "shared = true\ndirect-io = true\n"));
        DaemonProcess daemon = box.StartForeground();
        using AoeClient client = box.Client();
        DiscoveredTarget target = FaultRig.Discover(client, Shelf, 0);
        var me = Ggaoed.Protocol.MacAddress.Read(client.Mac);
        byte[] Ask(byte[] frame) => RawAoe.Ask(client.Socket, RawAoe.Address(frame, target.Mac, client.Mac, Shelf, 0));

        foreach (byte rcmd in new byte[] { 1, 2 })  // Reserve set, force set
        {
            byte[] r = Ask(AoeFrames.Reserve(rcmd, AoeFrames.Host, me));
            Assert.True((r[14], r[15]) == (0x1C, 2), $"reserve rcmd {rcmd}: flags 0x{r[14]:x2} error {r[15]}, expected AoE error 2");
        }
        byte[] read = Ask(AoeFrames.Reserve(0, AoeFrames.Host));
        Assert.Equal((0x18, 0, 0), (read[14], read[24], read[25]));   // answered: read, no MACs
        Assert.Contains("shared: (not reserved)", box.CtlOk("show-reserve").StdOut);
        Assert.Equal(2, box.Counter("shared", "aoe_error_bad_argument"));

        // A shared device's write cache is off and pinned there.
        Assert.Equal((StatusAborted, ErrorAbrt), SetFeatures(client, target, EnableWriteCache));
        Assert.Equal((0, 1), (box.Counter("shared", "write_cache"), box.Counter("shared", "write_cache_pinned")));
        // It still does I/O for everyone.
        byte[] data = new byte[1024];
        new Random(3).NextBytes(data);
        client.Write(target, 4, data);
        var back = new byte[1024];
        client.Read(target, 4, back);
        Assert.Equal(data, back);
        Sandbox.Stop(daemon);
    }
}
