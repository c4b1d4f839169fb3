using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json;
using Ggaoed.Protocol;
using Ggaoed.Tests.Network;
using Ggaoed.Tests.Protocol;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// Hostile broadcast frames against a target that the real Linux initiator (tests/vm) is using. AoE has
/// no authentication: any host on the segment can address every device at once with shelf 0xFFFF and
/// slot 0xFF. Such a frame may discover and read, never change a device's state (ggaoed.conf(5),
/// BROADCAST REQUESTS; the engine's check in <see cref="AoeEngine.Handle"/>). Without that check a
/// Mac Mask edit would lock the initiator out, a Reserve would fail its writes, and a config set would
/// rewrite the string every initiator sees; all three would land in the state directory.
/// The encoding check is a plain unit test; the VM test carries the trait Stage=vm.
/// </summary>
[Collection(VmCollection.Name)]
public sealed class HostileFrameTests
{
    private const long MiB = 1024 * 1024;
    private const string GatewayMac = "02:00:00:00:0a:01";

    /// <summary>The hostile host's own address, and the address it tries to plant.</summary>
    private static readonly MacAddress s_attacker = MacAddress.Parse("02:00:00:00:00:66");
    private static readonly MacAddress s_planted = MacAddress.Parse("02:00:00:00:00:99");
    private const string PlantedConfig = "pwned";

    /// <summary>
    /// How the planted values could look in a state file, whatever its format: ggaoed's own text
    /// ("mask 02:00:00:00:00:99", "config 70776e6564") or raw bytes as in ggaoed 1.1's files.
    /// </summary>
    private static readonly byte[][] s_plantedMac =
        [[0x02, 0x00, 0x00, 0x00, 0x00, 0x99], Encoding.ASCII.GetBytes("02:00:00:00:00:99"), Encoding.ASCII.GetBytes("020000000099")];
    private static readonly byte[][] s_plantedConfig =
        [Encoding.ASCII.GetBytes(PlantedConfig), Encoding.ASCII.GetBytes(Convert.ToHexStringLower(Encoding.ASCII.GetBytes(PlantedConfig)))];

    private const byte CmdConfig = 1, CmdMask = 2, CmdReserve = 3;

    private readonly ITestOutputHelper _output;

    public HostileFrameTests(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// The three frames, byte for byte as AoEr11 lays them out (sections 3.2-3.4), from the hostile MAC
    /// to every device (Ethernet broadcast, shelf 0xFFFF, slot 0xFF). Built with the tests' own encoder
    /// (<see cref="AoeFrames"/>); the hex pins what that encoder produced.
    /// </summary>
    [Fact]
    public void HostileFrames_AreTheAoEr11Encodings_OfMaskAddReserveForceSetAndConfigForceSet()
    {
        const string header = "ffffffffffff" + "020000000066" + "88a2" + "10" + "00" + "ffff" + "ff";
        // Mac Mask List (cmd 2): reserved, MCmd 1 (edit), MError 0, Dir Count 1; directive: reserved, DCmd 1 (add), MAC.
        Assert.Equal(header + "02" + "01020304" + "00010001" + "0001" + "020000000099", AoeFrames.ToHex(MaskAdd(AoeWire.BroadcastShelf, AoeWire.BroadcastSlot)));
        // Reserve/Release (cmd 3): RCmd 2 (force set), NMacs 1, MAC.
        Assert.Equal(header + "03" + "01020304" + "02" + "01" + "020000000099", AoeFrames.ToHex(ReserveForce(AoeWire.BroadcastShelf, AoeWire.BroadcastSlot)));
        // Query Config (cmd 1): buffer count, firmware, sector count, version|CCmd 4 (force set), length 5, "pwned".
        Assert.Equal(header + "01" + "01020304" + "0000" + "0000" + "00" + "04" + "0005" + "70776e6564", AoeFrames.ToHex(ConfigForce(AoeWire.BroadcastShelf, AoeWire.BroadcastSlot)));
    }

    /// <summary>
    /// The guest uses e1.1 (a pattern written and read back with O_DIRECT); another host on the bridge
    /// broadcasts a Mac Mask add of 02:00:00:00:00:99, a Reserve force set to it and a Query Config
    /// force set of "pwned". The daemon still answers that host's broadcast reads with an empty config
    /// string, mask list and reservation; ggaoectl shows them empty; the guest flushes the disk,
    /// discovers it again and finds its pattern and a new one intact; the state directory holds none of
    /// the hostile values. Control: the same frames addressed to e1.1 itself are obeyed, so the frames
    /// were valid and the state files are where their values would have landed.
    /// </summary>
    [VmFact]
    [Trait("Stage", "vm")]
    public void HostileBroadcasts_MaskReserveAndConfigSet_ChangeNothing_AndTheInitiatorKeepsTheDisk()
    {
        const int patternMb = 4, signalMb = 60;
        var network = new VmNetwork();
        using var bed = new GatewayBed(_output, network);
        network.AddBridge();
        VmPort gatewayPort = network.AddPort("gw", GatewayMac);
        VmPort attackerPort = network.AddPort("evil", s_attacker.ToString());
        string disk = bed.SparseFile("disk.img", 64 * MiB);
        var export = new AoeExport("disk1", disk, 1, 1) { GgaoedExtra = "direct-io = true" };
        VmGateway gateway = bed.StartGateway("gw", gatewayPort.Namespace, [gatewayPort.Interface], [export]);
        using RawPeer attacker = RawPeer.Open(attackerPort.Namespace, attackerPort.Interface);
        MacAddress gatewayMac = MacAddress.Parse(GatewayMac);

        var marks = new VmMarks();
        marks.On("hostile", () =>
        {
            foreach (byte[] frame in HostileFrames(AoeWire.BroadcastShelf, AoeWire.BroadcastSlot))
                attacker.Send(frame);
            marks.Record("hostile broadcasts sent");
            // The same host's broadcast reads, sent after them on the same path and answered in order:
            // the daemon has handled the hostile frames, and they changed nothing.
            AssertUntouchedOnTheWire(attacker, gatewayMac);
            AssertUntouchedByCtl(gateway);
            WriteSignal(disk, signalMb * MiB, "gg-go");
            marks.Record("go written");
        });

        VmRunResult run = bed.Boot("hostile.sh", new Dictionary<string, string>
        {
            ["PATTERN_MB"] = patternMb.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["SIGNAL_MB"] = signalMb.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["AOE_ARGS"] = "aoe_deadsecs=60",
        }, marks, timeoutSeconds: 600);

        run.AssertPassed();
        Assert.Equal("1", run.Result("flushed"));
        Assert.Equal("up", run.Result("state"));
        Assert.Equal(AoeTarget(GatewayMac), run.Result("mac_after"));
        Assert.Equal(run.Result("before_md5"), GatewayBed.Md5(disk, 0, patternMb * MiB));
        Assert.Equal(run.Result("after_md5"), GatewayBed.Md5(disk, patternMb * MiB, patternMb * MiB));
        AssertUntouchedByCtl(gateway);
        Assert.False(StateHolds(gateway, s_plantedMac), "the state directory holds the planted MAC");
        Assert.False(StateHolds(gateway, s_plantedConfig), "the state directory holds the planted config string");

        // Control: addressed to e1.1 itself, the same three frames are obeyed (no admin-accept list here).
        foreach (byte[] frame in HostileFrames(1, 1))
            attacker.Send(frame);
        Dictionary<byte, byte[]> obeyed = Replies(attacker, gatewayMac, [CmdReserve, CmdConfig, CmdMask]);
        Assert.Equal(0, obeyed[CmdMask][26]);                                       // MError 0: added
        Assert.Equal(s_planted.ToString(), Single(gateway, "show-macmask", "macmask"));
        Assert.Equal(s_planted.ToString(), Single(gateway, "show-reserve", "reserve"));
        Assert.Equal(PlantedConfig, ConfigString(gateway));
        // Saved at once, or within a second when changes come in a burst (the daemon's save interval).
        Assert.True(Eventually(() => StateHolds(gateway, s_plantedMac) && StateHolds(gateway, s_plantedConfig)),
            "control: the state directory lacks what the addressed frames set:\n" + StateText(gateway));
    }

    private static byte[] Hostile(byte[] frame, ushort shelf, byte slot)
    {
        byte[] f = AoeFrames.Readdress(frame, shelf, slot);
        MacAddress.Broadcast.Write(f);
        return f;
    }

    private static byte[] MaskAdd(ushort shelf, byte slot) =>
        Hostile(AoeFrames.MaskFrom(s_attacker, 1, (1, s_planted)), shelf, slot);

    private static byte[] ReserveForce(ushort shelf, byte slot) =>
        Hostile(AoeFrames.Reserve(2, s_attacker, s_planted), shelf, slot);

    private static byte[] ConfigForce(ushort shelf, byte slot) =>
        Hostile(AoeFrames.ConfigQuery(4, Encoding.ASCII.GetBytes(PlantedConfig), source: s_attacker), shelf, slot);

    /// <summary>
    /// The mask edit goes last: once obeyed (the control), the list holds only the planted MAC, and the
    /// device ignores the sender itself from then on.
    /// </summary>
    private static IEnumerable<byte[]> HostileFrames(ushort shelf, byte slot) =>
        [ReserveForce(shelf, slot), ConfigForce(shelf, slot), MaskAdd(shelf, slot)];

    /// <summary>Broadcast reads of config, mask list and reservation: each answered, each empty.</summary>
    private static void AssertUntouchedOnTheWire(RawPeer attacker, MacAddress gatewayMac)
    {
        ushort shelf = AoeWire.BroadcastShelf;
        byte slot = AoeWire.BroadcastSlot;
        attacker.Send(Hostile(AoeFrames.ConfigQuery(0, [], source: s_attacker), shelf, slot));
        attacker.Send(Hostile(AoeFrames.MaskFrom(s_attacker, 0), shelf, slot));
        attacker.Send(Hostile(AoeFrames.Reserve(0, s_attacker), shelf, slot));
        Dictionary<byte, byte[]> replies = Replies(attacker, gatewayMac, [CmdConfig, CmdMask, CmdReserve]);
        byte[] config = replies[CmdConfig];
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(config.AsSpan(30)));   // config string length
        byte[] mask = replies[CmdMask];
        Assert.Equal(0, mask[26]);                                                  // MError
        Assert.Equal(0, mask[27]);                                                  // Dir Count: empty list
        Assert.Equal(0, replies[CmdReserve][25]);                                   // NMacs: not reserved
    }

    /// <summary>
    /// Reads until the gateway has answered each command once (replies to the attacker, R flag, no
    /// error flag); the guest's broadcasts and other frames on the segment are skipped.
    /// </summary>
    private static Dictionary<byte, byte[]> Replies(RawPeer attacker, MacAddress gatewayMac, byte[] commands)
    {
        var replies = new Dictionary<byte, byte[]>();
        byte[] buffer = new byte[9216];
        long deadline = Environment.TickCount64 + 30_000;
        while (replies.Count < commands.Length)
        {
            int n = attacker.Receive(buffer, 1000);
            Assert.True(Environment.TickCount64 < deadline, "the gateway answered " + replies.Count + " of the attacker's " + commands.Length + " broadcast reads within 30 s");
            if (n < 24 || MacAddress.Read(buffer.AsSpan(6)) != gatewayMac || MacAddress.Read(buffer) != s_attacker)
                continue;
            byte flags = buffer[14];
            Assert.True((flags & AoeWire.FlagResponse) != 0 && (flags & AoeWire.FlagError) == 0, "unexpected reply " + AoeFrames.ToHex(buffer.AsSpan(0, n)));
            replies[buffer[19]] = buffer.AsSpan(0, n).ToArray();
        }
        return replies;
    }

    private static void AssertUntouchedByCtl(VmGateway gateway)
    {
        Assert.Null(Single(gateway, "show-macmask", "macmask"));
        Assert.Null(Single(gateway, "show-reserve", "reserve"));
        Assert.Equal("", ConfigString(gateway));
    }

    /// <summary>The one MAC in disk1's list from <c>ggaoectl --json COMMAND</c>, null when the list is empty.</summary>
    private static string? Single(VmGateway gateway, string command, string list)
    {
        using JsonDocument doc = JsonDocument.Parse(gateway.Ctl("--json", command, "disk1"));
        JsonElement macs = doc.RootElement[0].GetProperty(list);
        Assert.True(macs.GetArrayLength() <= 1, command + ": " + macs);
        return macs.GetArrayLength() == 0 ? null : macs[0].GetString();
    }

    private static string ConfigString(VmGateway gateway)
    {
        using JsonDocument doc = JsonDocument.Parse(gateway.Ctl("--json", "show-config", "disk1"));
        return doc.RootElement[0].GetProperty("config").GetString()!;
    }

    /// <summary>Whether any file of the gateway's state directory contains any of <paramref name="needles"/>.</summary>
    private static bool StateHolds(VmGateway gateway, byte[][] needles)
    {
        foreach (string file in Directory.GetFiles(gateway.StateDirectory))
        {
            byte[] content = File.ReadAllBytes(file);
            foreach (byte[] needle in needles)
                if (content.AsSpan().IndexOf(needle) >= 0)
                    return true;
        }
        return false;
    }

    private static string StateText(VmGateway gateway)
    {
        var sb = new StringBuilder();
        foreach (string file in Directory.GetFiles(gateway.StateDirectory))
            sb.Append(file).Append(":\n").Append(File.ReadAllText(file)).Append('\n');
        return sb.ToString();
    }

    private static bool Eventually(Func<bool> condition)
    {
        long deadline = Environment.TickCount64 + 30_000;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
                return false;
            System.Threading.Thread.Sleep(100);
        }
        return true;
    }

    /// <summary>Writes <paramref name="text"/> into the backing file, durable, for the guest to read through the target.</summary>
    private static void WriteSignal(string disk, long offset, string text)
    {
        using var f = new FileStream(disk, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        f.Position = offset;
        byte[] sector = new byte[512];
        Encoding.ASCII.GetBytes(text).CopyTo(sector, 0);
        f.Write(sector);
        f.Flush(flushToDisk: true);
    }

    /// <summary>A MAC as the initiator's sysfs "mac" file shows it (%pm).</summary>
    private static string AoeTarget(string mac) => mac.Replace(":", "", StringComparison.Ordinal).ToLowerInvariant();
}
