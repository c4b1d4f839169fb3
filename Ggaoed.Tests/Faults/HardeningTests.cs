using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Ggaoed.Initiator;
using Ggaoed.Protocol;
using Ggaoed.Tests.Lifecycle;
using Ggaoed.Tests.Protocol;
using Ggaoed.Tests.Support;
using Xunit;


namespace Ggaoed.Tests.Faults;

/// <summary>
/// Who may change a device's state and what reaches its disk, proven against the published daemon over
/// a veth pair with raw AoE frames (Ggaoed/Protocol/README.md, "Who may do what"; ggaoed.conf(5),
/// BROADCAST REQUESTS and admin-accept): state changes sent to a broadcast address change nothing and
/// get no answer, admin-accept refuses everyone else with the documented errors, ATA to a broadcast
/// address is never served, and a write that asks for more sectors than its frame or the interface
/// carries is aborted without touching the file. Every refusal is checked in the counters, in stats
/// text, JSON and metrics alike.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class HardeningTests
{
    private const ushort Shelf = 7;
    private const ushort BroadcastShelf = 0xFFFF;
    private const byte BroadcastSlot = 0xFF;

    // AoEr11 numbers, written out here rather than taken from the engine under test.
    private const byte ConfigRead = 0, ConfigSetIfEmpty = 3, ConfigForceSet = 4;
    private const byte MaskRead = 0, MaskEdit = 1, DirectiveAdd = 1;
    private const byte ReserveRead = 0, ReserveSet = 1, ReserveForceSet = 2;
    private const byte AtaReadExt = 0x24, AtaWriteExt = 0x34, AtaWrite28 = 0x30, AtaIdentify = 0xEC, AtaSetFeatures = 0xEF;
    private const byte EnableWriteCache = 0x02;
    private const byte StatusAborted = 0x41, ErrorAbrt = 0x04, StatusReady = 0x40;

    /// <summary>The MAC the hostile frames try to plant in mask and reservation lists.</summary>
    private static readonly MacAddress Planted = MacAddress.Parse("02:00:00:00:00:99");

    private static readonly byte[] MaskAddPlanted = AoeFrames.Mask(MaskEdit, (DirectiveAdd, Planted));
    private static readonly byte[] ReservePlanted = AoeFrames.Reserve(ReserveForceSet, AoeFrames.Host, Planted);
    private static readonly byte[] ConfigPwned = AoeFrames.ConfigQuery(ConfigForceSet, "pwned"u8);


    /// <summary>No config string, mask or reservation, in ggaoectl and in the state file.</summary>
    private static void AssertUntouched(Sandbox box, string device)
    {
        Assert.Contains($"{device}: (empty)", box.CtlOk("show-config", device).StdOut);
        Assert.Contains($"{device}: (empty: every MAC allowed)", box.CtlOk("show-macmask", device).StdOut);
        Assert.Contains($"{device}: (not reserved)", box.CtlOk("show-reserve", device).StdOut);
        string file = Path.Combine(box.StateDir, device + ".state");
        if (File.Exists(file))
        {
            string state = File.ReadAllText(file);
            Assert.DoesNotContain(Convert.ToHexStringLower("pwned"u8), state);
            Assert.DoesNotContain(Planted.ToString(), state);
        }
    }

    private static string Mac(ReadOnlySpan<byte> reply, int offset) => DiscoveredTarget.FormatMac(reply.Slice(offset, 6));

    [RootFact]
    public void BroadcastStateChanges_FromAnyone_ChangeNothing_GetNoAnswer_AndAreCounted_WhileBroadcastReadsAreAnswered()
    {
        using var box = new Sandbox(network: true);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), Shelf, 0) + Sandbox.Device("d1", box.CreateImage("d1", 1), Shelf, 1));
        DaemonProcess daemon = box.StartForeground();
        using AoeClient client = box.Client();
        DiscoveredTarget d1 = FaultRig.Discover(client, Shelf, 1);
        byte[] me = client.Mac;

        // Each state change to the whole broadcast address, to our shelf's broadcast slot and to slot 0
        // of the broadcast shelf (a broadcast in either field is a broadcast). No accept list anywhere:
        // the sender may see both devices, it just may not change them this way.
        (ushort Shelf, byte Slot)[] broadcasts = [(BroadcastShelf, BroadcastSlot), (Shelf, BroadcastSlot), (BroadcastShelf, 0)];
        var hostile = new List<byte[]>();
        foreach ((ushort shelf, byte slot) in broadcasts)
            foreach (byte[] change in new[] { MaskAddPlanted, ReservePlanted, ConfigPwned })
                hostile.Add(RawAoe.Address(change, RawAoe.BroadcastMac, me, shelf, slot));
        List<byte[]> answers = RawAoe.Exchange(client.Socket, hostile, expected: 0, TimeSpan.FromSeconds(1));
        Assert.True(answers.Count == 0, $"{answers.Count} answers to broadcast state changes, e.g. {Convert.ToHexString(answers.FirstOrDefault() ?? [])}");
        AssertUntouched(box, "d0");
        AssertUntouched(box, "d1");

        // Broadcast reads are answered by each device, from its own address, with the (empty) state.
        foreach (byte[] read in new[] { AoeFrames.ConfigQuery(ConfigRead, []), AoeFrames.Mask(MaskRead), AoeFrames.Reserve(ReserveRead, AoeFrames.Host) })
        {
            List<byte[]> replies = RawAoe.Exchange(client.Socket, [RawAoe.Address(read, RawAoe.BroadcastMac, me, BroadcastShelf, BroadcastSlot)],
                expected: 2, TimeSpan.FromMilliseconds(500));
            Assert.Equal([0, 1], replies.Select(r => (int)r[18]).Order().ToArray());
            foreach (byte[] r in replies)
            {
                Assert.Equal(0x18, r[14]);                         // version 1, Response, no Error
                Assert.Equal(Shelf, (ushort)(r[16] << 8 | r[17]));
                switch (read[19])
                {
                    case 1: Assert.Equal(0, r[30] << 8 | r[31]); break;  // config string length
                    case 2: Assert.Equal((0, 0), (r[26], r[27])); break; // MError, Dir Count
                    default: Assert.Equal(0, r[25]); break;              // NMacs
                }
            }
        }

        // Counted per device and frame: d0 (7.0) was addressed by all nine, d1 (7.1) by the six to slot 255.
        Assert.Equal(9, box.Counter("d0", "admin_broadcast_refused"));
        Assert.Equal(6, box.Counter("d1", "admin_broadcast_refused"));

        // The same three commands addressed to d1 itself are carried out and answered.
        byte[] config = RawAoe.Ask(client.Socket, RawAoe.Address(ConfigPwned, d1.Mac, me, Shelf, 1));
        Assert.False(RawAoe.IsAoeError(config), "config force set refused: error " + config[15]);
        Assert.Equal("pwned", Encoding.ASCII.GetString(config, 32, config[30] << 8 | config[31]));
        byte[] reserve = RawAoe.Ask(client.Socket, RawAoe.Address(ReservePlanted, d1.Mac, me, Shelf, 1));
        Assert.False(RawAoe.IsAoeError(reserve), "reserve force set refused: error " + reserve[15]);
        Assert.Equal((1, Planted.ToString()), (reserve[25], Mac(reserve, 26)));
        byte[] mask = RawAoe.Ask(client.Socket, RawAoe.Address(MaskAddPlanted, d1.Mac, me, Shelf, 1));
        Assert.Equal((0, 1, Planted.ToString()), (mask[26], mask[27], Mac(mask, 30)));
        Assert.Contains("d1: \"pwned\"", box.CtlOk("show-config", "d1").StdOut);
        Assert.Contains("d1: " + Planted, box.CtlOk("show-macmask", "d1").StdOut);
        Assert.Contains("d1: " + Planted, box.CtlOk("show-reserve", "d1").StdOut);

        // After a restart: d1 kept what it was told directly, d0 still holds nothing of the broadcasts.
        Sandbox.Stop(daemon);
        daemon = box.StartForeground();
        AssertUntouched(box, "d0");
        Assert.Contains("d1: \"pwned\"", box.CtlOk("show-config", "d1").StdOut);
        Assert.Contains("d1: " + Planted, box.CtlOk("show-macmask", "d1").StdOut);
        Assert.Contains("d1: " + Planted, box.CtlOk("show-reserve", "d1").StdOut);
        Sandbox.Stop(daemon);
    }

    [RootFact]
    public void AdminAccept_RefusesStateChangesFromOtherMacs_WithTheDocumentedErrors_WhileMembers_AndAnyoneWithoutTheKey_Succeed()
    {
        using var box = new Sandbox(network: true);
        using AoeClient client = box.Client();
        byte[] me = client.Mac;
        box.WriteConfig(
            Sandbox.Device("outside", box.CreateImage("outside", 1), Shelf, 0, "admin-accept = 02:00:00:00:00:aa\n") +
            Sandbox.Device("inside", box.CreateImage("inside", 1), Shelf, 1, $"admin-accept = 02:00:00:00:00:aa, {DiscoveredTarget.FormatMac(me)}\n") +
            Sandbox.Device("open", box.CreateImage("open", 1), Shelf, 2));
        DaemonProcess daemon = box.StartForeground();
        DiscoveredTarget[] targets = [FaultRig.Discover(client, Shelf, 0), FaultRig.Discover(client, Shelf, 1), FaultRig.Discover(client, Shelf, 2)];
        byte[] Ask(byte[] frame, int slot) => RawAoe.Ask(client.Socket, RawAoe.Address(frame, targets[slot].Mac, me, Shelf, (byte)slot));
        byte[] setIfEmpty = AoeFrames.ConfigQuery(ConfigSetIfEmpty, "set by admin"u8);
        byte[] maskAddMe = AoeFrames.Mask(MaskEdit, (DirectiveAdd, MacAddress.Read(me)));
        byte[] reserveMe = AoeFrames.Reserve(ReserveSet, AoeFrames.Host, MacAddress.Read(me));
        byte[] reserveForceMe = AoeFrames.Reserve(ReserveForceSet, AoeFrames.Host, MacAddress.Read(me));
        byte[] cacheOn = AoeFrames.AtaFrame(0, EnableWriteCache, 0, AtaSetFeatures, 0);

        // Outside admin-accept, each change gets its command's refusal (AoEr11 3.2-3.4, ATA ABRT):
        byte[] r = Ask(setIfEmpty, 0);
        Assert.Equal((0x1C, 4), (r[14], r[15]));                // AoE error 4, config string present,
        Assert.Equal(0, r[30] << 8 | r[31]);                     // with the string the device keeps (none)
        r = Ask(ConfigPwned, 0);
        Assert.Equal((0x1C, 4), (r[14], r[15]));
        r = Ask(maskAddMe, 0);
        Assert.Equal((0x18, 1, 0), (r[14], r[26], r[27]));       // no AoE error; MError 1, Dir Count 0
        r = Ask(reserveMe, 0);
        Assert.Equal((0x1C, 6), (r[14], r[15]));                 // AoE error 6, target reserved
        r = Ask(reserveForceMe, 0);
        Assert.Equal((0x1C, 6), (r[14], r[15]));
        r = Ask(cacheOn, 0);
        Assert.Equal((0x18, ErrorAbrt, StatusAborted), (r[14], r[25], r[27])); // ATA ABRT, status DRDY|ERR
        Assert.Equal(6, box.Counter("outside", "admin_refused"));
        AssertUntouched(box, "outside");
        Assert.Equal(0, box.Counter("outside", "write_cache"));
        // Reading stays open to everyone the device admits: its state, and its data.
        Assert.Equal(0x18, Ask(AoeFrames.ConfigQuery(ConfigRead, []), 0)[14]);
        Assert.Equal(0x18, Ask(AoeFrames.Mask(MaskRead), 0)[14]);
        Assert.Equal(0x18, Ask(AoeFrames.Reserve(ReserveRead, AoeFrames.Host), 0)[14]);
        client.Read(targets[0], 0, new byte[1024]);

        // A member of admin-accept, and anyone at all where the key is not set, change all of it.
        foreach ((string name, int slot) in new[] { ("inside", 1), ("open", 2) })
        {
            r = Ask(setIfEmpty, slot);
            Assert.True(r[14] == 0x18, $"{name}: config set-if-empty refused, error {r[15]}");
            r = Ask(maskAddMe, slot);
            Assert.True((r[26], r[27]) == (0, 1), $"{name}: mask edit: MError {r[26]}, Dir Count {r[27]}");
            r = Ask(reserveMe, slot);
            Assert.True(r[14] == 0x18 && r[25] == 1, $"{name}: reserve set refused, error {r[15]}");
            r = Ask(cacheOn, slot);
            Assert.True(r[14] == 0x18 && r[27] == StatusReady, $"{name}: SET FEATURES: status 0x{r[27]:x2}");
            Assert.Contains($"{name}: \"set by admin\"", box.CtlOk("show-config", name).StdOut);
            Assert.Contains($"{name}: {DiscoveredTarget.FormatMac(me)}", box.CtlOk("show-macmask", name).StdOut);
            Assert.Contains($"{name}: {DiscoveredTarget.FormatMac(me)}", box.CtlOk("show-reserve", name).StdOut);
            Assert.Equal(1, box.Counter(name, "write_cache"));
            Assert.Equal(0, box.Counter(name, "admin_refused"));
        }
        Sandbox.Stop(daemon);
    }

    [RootFact]
    public void AtaToABroadcastAddress_IsNeverServed_NotEvenWithBroadcastTrue()
    {
        using var box = new Sandbox(network: true);
        string[] paths = [RandomImage(box, "d0", 1), RandomImage(box, "d1", 2)];
        string[] before = paths.Select(FaultRig.Sha256).ToArray();
        box.WriteConfig(Sandbox.Device("d0", paths[0], Shelf, 0, "broadcast = true\n") + Sandbox.Device("d1", paths[1], Shelf, 1));
        DaemonProcess daemon = box.StartForeground();
        using AoeClient client = box.Client();
        DiscoveredTarget d0 = FaultRig.Discover(client, Shelf, 0);
        FaultRig.Discover(client, Shelf, 1);
        byte[] me = client.Mac;

        // IDENTIFY, a read and a write, to each broadcast address, by broadcast and by unicast Ethernet.
        byte[][] commands =
        [
            AoeFrames.AtaFrame(0, 0, 1, AtaIdentify, 0),
            AoeFrames.AtaFrame(0x40, 0, 1, AtaReadExt, 0),
            AoeFrames.AtaFrame(0x41, 0, 1, AtaWriteExt, 0, payloadBytes: 512),
        ];
        var frames = new List<byte[]>();
        foreach (byte[] destination in new[] { RawAoe.BroadcastMac, d0.Mac })
            foreach ((ushort shelf, byte slot) in new[] { (BroadcastShelf, BroadcastSlot), (Shelf, BroadcastSlot), (BroadcastShelf, (byte)0) })
                foreach (byte[] command in commands)
                    frames.Add(RawAoe.Address(command, destination, me, shelf, slot));
        List<byte[]> answers = RawAoe.Exchange(client.Socket, frames, expected: 0, TimeSpan.FromSeconds(1));
        Assert.True(answers.Count == 0, $"{answers.Count} answers to ATA sent to a broadcast address");

        Assert.Equal(before, paths.Select(FaultRig.Sha256).ToArray());
        // d0 (7.0) was addressed by all 18 frames, d1 (7.1) by the 12 to slot 255; none reached the disk.
        Assert.Equal(18, box.Counter("d0", "aoe_broadcast_ignored"));
        Assert.Equal(12, box.Counter("d1", "aoe_broadcast_ignored"));
        foreach (string d in new[] { "d0", "d1" })
            Assert.Equal(0, box.Counter(d, "aoe_io_requests"));

        // The same read addressed to the device itself is served.
        var sector = new byte[512];
        client.Read(d0, 0, sector);
        Assert.Equal(File.ReadAllBytes(paths[0]).AsSpan(0, 512).ToArray(), sector);
        Sandbox.Stop(daemon);
    }

    [RootFact]
    public void Writes_ShortOfData_OrOverTheInterfaceMaximum_AreAbortedWithAbrt_WriteNothing_AndCountAsOversized()
    {
        // Jumbo frames on the link, but the daemon told to work out its sectors per request from MTU
        // 1500 (2 sectors): a 3-sector write then fits a frame but not what the interface advertises.
        using var box = new Sandbox(network: true, mtu: 9000);
        string path = RandomImage(box, "d0", 3);
        string sha = FaultRig.Sha256(path);
        box.WriteConfig($"[{box.Net!.TargetIf}]\nmtu = 1500\n\n" + Sandbox.Device("d0", path, Shelf, 0));
        DaemonProcess daemon = box.StartForeground();
        using AoeClient client = box.Client();
        DiscoveredTarget d0 = FaultRig.Discover(client, Shelf, 0);
        Assert.Equal(2, d0.Config.SectorCount);

        (string What, byte[] Frame)[] oversized =
        [
            ("2 sectors with 1 sector of data", AoeFrames.AtaFrame(0x41, 0, 2, AtaWriteExt, 8, payloadBytes: 512)),
            ("2 sectors with no data", AoeFrames.AtaFrame(0x41, 0, 2, AtaWriteExt, 8)),
            ("3 sectors (LBA48) with 3 sectors of data", AoeFrames.AtaFrame(0x41, 0, 3, AtaWriteExt, 16, payloadBytes: 1536)),
            ("3 sectors (LBA28) with 3 sectors of data", AoeFrames.AtaFrame(0x01, 0, 3, AtaWrite28, 24, payloadBytes: 1536)),
        ];
        foreach ((string what, byte[] frame) in oversized)
        {
            byte[] r = RawAoe.Ask(client.Socket, RawAoe.Address(frame, d0.Mac, client.Mac, Shelf, 0));
            Assert.True((r[14], r[25], r[27]) == (0x18, ErrorAbrt, StatusAborted),
                $"{what}: flags 0x{r[14]:x2} error 0x{r[25]:x2} status 0x{r[27]:x2}, expected ATA ABRT (0x04) with status 0x41");
        }
        Assert.Equal(sha, FaultRig.Sha256(path));
        Assert.Equal(oversized.Length, box.Counter("d0", "oversized"));
        Assert.Equal(oversized.Length, box.Counter("d0", "ata_abrt_replies"));
        Assert.Equal(0, box.Counter("d0", "write_requests"));

        // The largest write the interface takes, whole, lands where it was sent and nowhere else.
        byte[] expected = File.ReadAllBytes(path);
        byte[] data = new byte[1024];
        new Random(7).NextBytes(data);
        client.Write(d0, 8, data);
        data.CopyTo(expected, 8 * 512);
        Assert.Equal(expected, File.ReadAllBytes(path));
        Sandbox.Stop(daemon);
    }

    /// <summary>A backing file of 1 MiB of random bytes.</summary>
    private static string RandomImage(Sandbox box, string name, int seed)
    {
        string path = box.CreateImage(name, 1);
        var content = new byte[1 << 20];
        new Random(seed).NextBytes(content);
        File.WriteAllBytes(path, content);
        return path;
    }
}
