using System;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Faults;

/// <summary>
/// A million hostile frames from a raw AF_PACKET socket while a verify workload runs on the same link,
/// against the published daemon: truncated headers, wrong versions, responses, random commands and
/// arguments, huge sector counts, bit flips of valid requests, other EtherTypes, other hosts' unicast,
/// multicast sources. The workload must pass (every read matches the model, a final pass over the
/// whole disk too), the daemon's RSS must stay flat, and its counters must account for every frame that
/// got past the kernel filter.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class FloodTests
{
    private const int JunkFrames = 1_000_000;
    private const int WarmUpFrames = 100_000;
    private const long RssGrowthLimitKiB = 5 * 1024;

    private const ushort WorkShelf = 5;
    private const byte WorkSlot = 1;
    private const ushort JunkShelf = 7;
    private const byte JunkSlot = 2;

    private readonly ITestOutputHelper _output;

    public FloodTests(ITestOutputHelper output) => _output = output;

    /// <param name="receivePath">"" for the packet rings, "ring-buffer-size = 0" for the recv/send fallback.</param>
    [RootTheory]
    [InlineData("")]
    [InlineData("ring-buffer-size = 0")]
    public void MillionMalformedFrames_DuringVerifyLoad_WorkloadPasses_RssStaysFlat_CountersAccountForTheJunk(string receivePath)
    {
        using var rig = new FaultRig("fl");
        string work = rig.RandomDisk("work.img", 8 << 20, seed: 17, out byte[] model);
        // The junk device takes whatever the flood addresses to an exported device (random writes land here).
        string junk = rig.SparseDisk("junk.img", 64 << 20);
        rig.WriteConfig(
            $"[work]\npath = {work}\nshelf = {WorkShelf}\nslot = {WorkSlot}\n\n" +
            $"[junk]\npath = {junk}\nshelf = {JunkShelf}\nslot = {JunkSlot}\n", receivePath);
        rig.Start();
        Assert.Equal(receivePath.Length == 0 ? "ring" : "fallback", rig.Stats().InterfaceText(rig.Pair.TargetIf, "mode"));
        VethPair pair = rig.Pair;
        byte[] targetMac = MacOf(pair.TargetNs, pair.TargetIf);

        Stats before = rig.Stats();
        VethCounters vethBefore = VethCounters.Read(pair);
        using var load = new VerifyWorkload(pair.InitiatorNs, pair.InitiatorIf, WorkShelf, WorkSlot, model, seed: 23);
        load.Start();
        Assert.True(load.WaitForSuccessAfter(0, TimeSpan.FromSeconds(10)) >= 0, "the workload never got an answer:\n" + rig.Log);

        var gen = new JunkGenerator(targetMac, seed: 99);
        long rssWarm = 0;
        long passed = 0;
        var clock = Stopwatch.StartNew();
        long sendFailures = InNetNs.Run(pair.InitiatorNs, () =>
        {
            using PacketSocket socket = PacketSocket.Open(pair.InitiatorIf);
            byte[] frame = new byte[1514];
            long failures = 0;
            for (int i = 0; i < JunkFrames; i++)
            {
                int length = gen.Next(frame, out bool passesFilter);
                if (!socket.Send(frame.AsSpan(0, length)))
                {
                    // ENOBUFS: the frame never left; send it again so the count stays exact.
                    failures++;
                    i--;
                    continue;
                }
                if (passesFilter)
                    passed++;
                if (i == WarmUpFrames)
                    rssWarm = rig.RssKiB();
            }
            return failures;
        });
        TimeSpan sending = clock.Elapsed;
        // Let the daemon drain its ring, and let the workload run on a quiet link for a moment.
        System.Threading.Thread.Sleep(500);
        long rssEnd = rig.RssKiB();
        long successesDuringFlood = load.Successes;
        load.StopAndVerifyAll();
        Stats after = rig.Stats();
        VethCounters vethAfter = VethCounters.Read(pair);

        string ifname = pair.TargetIf;
        long D(string dev, string c) => after.Device(dev, c) - before.Device(dev, c);
        long I(string c) => after.Interface(ifname, c) - before.Interface(ifname, c);
        long framesIn = I("frames_in"), kernelDrops = I("kernel_drops");
        long ignored = I("ignored_frames"), noDevice = I("no_device_frames");
        long seenByDevices = 0;
        foreach (string dev in new[] { "work", "junk" })
            seenByDevices += D(dev, "aoe_requests") + D(dev, "aoe_denied") + D(dev, "aoe_broadcast_ignored");
        long vethDrops = vethAfter.Dropped - vethBefore.Dropped;
        long expected = passed + load.FramesSent;

        _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sent {JunkFrames} junk frames in {sending.TotalSeconds:F1} s ({JunkFrames / sending.TotalSeconds:F0}/s, {sendFailures} ENOBUFS resends); " +
            $"{passed} pass the socket filter; workload sent {load.FramesSent} frames"));
        _output.WriteLine($"daemon: frames_in {framesIn}, kernel_drops {kernelDrops}, ignored {ignored}, no_device {noDevice}, " +
                          $"seen by devices {seenByDevices}, veth drops {vethDrops}");
        _output.WriteLine($"junk device: {after.Device("junk", "aoe_error_replies") - before.Device("junk", "aoe_error_replies")} AoE error replies, " +
                          $"{D("junk", "ata_error_replies")} ATA error replies, {D("junk", "write_requests")} writes, {D("junk", "read_requests")} reads");
        _output.WriteLine($"RSS {rssWarm} KiB after {WarmUpFrames} frames, {rssEnd} KiB at the end; workload: {load.Reads} reads, {load.Writes} writes, " +
                          $"{load.Retransmits} retransmits, {successesDuringFlood} answers");

        // The workload passed: no wrong data, every request answered, and the final verify pass is clean.
        Assert.True(load.Failures.Count == 0, string.Join("\n", load.Failures));
        Assert.True(load.Writes > 100 && load.Reads > 100, $"too little load: {load.Reads} reads, {load.Writes} writes");
        // Memory stays flat: the data path allocates nothing per frame.
        Assert.True(rssEnd - rssWarm < RssGrowthLimitKiB, $"RSS grew by {rssEnd - rssWarm} KiB during the flood");
        // Every frame past the kernel filter was received or counted as a ring drop (minus what veth itself dropped)...
        Assert.InRange(framesIn + kernelDrops, expected - vethDrops, expected);
        // ...and every frame received was classified: ignored, for no device, or seen by a device (whose
        // counters split it into replies, denials, broadcast ATA ignored).
        Assert.Equal(framesIn, ignored + noDevice + seenByDevices);
        // The work device saw only the workload (the flood never addressed it).
        Assert.Equal(0, D("work", "aoe_denied") + D("work", "aoe_error_replies") + D("work", "ata_error_replies") + D("work", "errors"));
        Assert.True(rig.Running, "the daemon died:\n" + rig.Log);
        Assert.Equal(0, rig.Stop());
        Assert.True(model.AsSpan().SequenceEqual(System.IO.File.ReadAllBytes(work)), "the work device's file differs from the model");
    }

    private static byte[] MacOf(string netns, string ifname)
        => Convert.FromHexString(Sh.Run($"ip netns exec {netns} cat /sys/class/net/{ifname}/address").Trim().Replace(":", ""));

    /// <summary>
    /// Frames the veth pair itself dropped on the way (the peer's RX backlog full): the initiator end's TX
    /// drops. (The target end's RX "dropped" counts frames no protocol wanted, e.g. the junk EtherTypes.)
    /// </summary>
    private readonly record struct VethCounters(long Dropped)
    {
        public static VethCounters Read(VethPair pair)
        {
            long Stat(string ns, string dev, string dir)
            {
                using JsonDocument d = JsonDocument.Parse(Sh.Run($"ip -n {ns} -j -s link show dev {dev}"));
                return d.RootElement[0].GetProperty("stats64").GetProperty(dir).GetProperty("dropped").GetInt64();
            }
            return new VethCounters(Stat(pair.InitiatorNs, pair.InitiatorIf, "tx"));
        }
    }

    /// <summary>
    /// Makes the hostile frames, and says for each whether the daemon's socket filter lets it through
    /// (EtherType 0x88A2, Response flag clear, to our MAC or a group address): those must show in its
    /// counters. No frame ever addresses the work device, so the workload's data is safe by construction.
    /// </summary>
    private sealed class JunkGenerator
    {
        private readonly byte[] _targetMac;
        private readonly Random _rng;
        private readonly byte[] _noise = new byte[1 << 20];

        public JunkGenerator(byte[] targetMac, int seed)
        {
            _targetMac = targetMac;
            _rng = new Random(seed);
            _rng.NextBytes(_noise);
        }

        public int Next(byte[] frame, out bool passesFilter)
        {
            int kind = _rng.Next(16);
            int length;
            // A plausible request to start from: to us, from some unicast host, version 1, no flags.
            length = 60;
            frame.AsSpan(0, 60).Clear();
            _targetMac.CopyTo(frame, 0);
            frame[6] = 0x02; // locally administered unicast
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(7), (uint)_rng.Next());
            frame[11] = (byte)_rng.Next(256);
            frame[12] = 0x88;
            frame[13] = 0xA2;
            frame[14] = 0x10;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), JunkShelf);
            frame[18] = JunkSlot;
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(20), (uint)_rng.Next());
            switch (kind)
            {
                case 0: // another EtherType with random content (the socket filter's job)
                    Noise(frame, 12, length = _rng.Next(14, 1515));
                    if (frame[12] == 0x88 && frame[13] == 0xA2)
                        frame[13] = 0xA3;
                    break;
                case 1: // a response (R flag): other targets' traffic
                    Noise(frame, 15, length = _rng.Next(15, 1515));
                    frame[14] = (byte)(_rng.Next(256) | 0x08);
                    break;
                case 2: // truncated anywhere in the AoE or ATA header
                    length = _rng.Next(15, 36);
                    Noise(frame, 15, length);
                    frame[19] = 0;
                    break;
                case 3: // wrong version
                    frame[14] = (byte)((_rng.Next(2, 16) << 4) | (_rng.Next(16) & 0x07));
                    Noise(frame, 19, length = _rng.Next(24, 200));
                    break;
                case 4: // unknown or vendor command
                    frame[19] = (byte)_rng.Next(4, 256);
                    Noise(frame, 24, length = _rng.Next(24, 1515));
                    break;
                case 5: // ATA read/write with a huge sector count (more than a frame holds at this MTU)
                    frame[24] = (byte)(0x40 | _rng.Next(2));
                    frame[26] = (byte)_rng.Next(3, 256);
                    frame[27] = (frame[24] & 1) != 0 ? (byte)0x34 : (byte)0x24;
                    length = _rng.Next(36, 1515);
                    break;
                case 6: // ATA with random everything (command, flags, LBA), random payload length
                    Noise(frame, 24, length = _rng.Next(36, 1515));
                    frame[19] = 0;
                    break;
                case 7: // config command with random subcommand and string
                    Noise(frame, 24, length = _rng.Next(24, 1515));
                    frame[19] = 1;
                    break;
                case 8: // mask list with random directives, count possibly past the frame's end
                    Noise(frame, 24, length = _rng.Next(24, 300));
                    frame[19] = 2;
                    break;
                case 9: // reserve/release with random list
                    Noise(frame, 24, length = _rng.Next(24, 300));
                    frame[19] = 3;
                    break;
                case 10: // a valid small read, then 1-3 flipped bits anywhere after the EtherType
                    frame[24] = 0x40;
                    frame[26] = 1;
                    frame[27] = 0x24;
                    frame[28] = (byte)_rng.Next(256);
                    for (int f = _rng.Next(1, 4); f > 0; f--)
                        frame[_rng.Next(14, 60)] ^= (byte)(1 << _rng.Next(8));
                    break;
                case 11: // shelf/slot nobody exports
                    BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), (ushort)_rng.Next(100, 60000));
                    frame[18] = (byte)_rng.Next(10, 250);
                    Noise(frame, 24, length = _rng.Next(24, 100));
                    frame[19] = (byte)_rng.Next(4);
                    break;
                case 12: // broadcast config query (every exported device with slot 2 answers: only junk)
                    frame.AsSpan(0, 6).Fill(0xFF);
                    BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), 0xFFFF);
                    frame[19] = 1;
                    break;
                case 13: // unicast to another host (not for us: filtered)
                    frame[0] = 0x02;
                    frame[5] ^= 0x5A;
                    Noise(frame, 19, length = _rng.Next(24, 1515));
                    break;
                case 14: // a multicast source MAC (nobody to answer)
                    frame[6] = 0x03;
                    frame[19] = (byte)_rng.Next(4);
                    Noise(frame, 24, length = _rng.Next(24, 100));
                    break;
                default: // pure noise after a valid Ethernet + AoE type
                    Noise(frame, 14, length = _rng.Next(14, 1515));
                    break;
            }
            // Never address the work device (shelf 5 or broadcast, with slot 1 or broadcast).
            if (length >= 19)
            {
                ushort shelf = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(16));
                byte slot = frame[18];
                if ((shelf == WorkShelf || shelf == 0xFFFF) && (slot == WorkSlot || slot == 0xFF))
                    frame[18] = JunkSlot;
            }
            bool aoe = frame[12] == 0x88 && frame[13] == 0xA2;
            bool request = length > 14 && (frame[14] & 0x08) == 0;
            bool toUs = frame.AsSpan(0, 6).SequenceEqual(_targetMac) || (frame[0] & 1) != 0;
            passesFilter = aoe && request && toUs;
            return length;
        }

        private void Noise(byte[] frame, int from, int to)
        {
            if (to <= from)
                return;
            int offset = _rng.Next(_noise.Length - (to - from));
            _noise.AsSpan(offset, to - from).CopyTo(frame.AsSpan(from));
        }
    }
}
