using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Faults;

/// <summary>
/// Access control against the published daemon, from a host it must refuse. The refused host is the
/// initiator's own raw socket sending with a spoofed source MAC (a raw AF_PACKET socket writes the
/// Ethernet header itself), and the initiator end is promiscuous so answers to that MAC are seen.
/// Four devices: one denying the MAC, one accepting only the real initiator, one whose Mac Mask List
/// (AoEr11 3.3) the real initiator set to itself, one the real initiator reserved (AoEr11 3.4).
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class ForeignMacTests
{
    private const int DiskBytes = 1 << 20;
    private const ushort Shelf = 2;
    private static readonly byte[] Foreign = [0x02, 0x00, 0x00, 0x00, 0x0f, 0x0f];

    private const byte CmdAta = 0, CmdConfig = 1, CmdMask = 2, CmdReserve = 3;

    [RootFact]
    public void ForeignMac_DeniedAcceptListedMaskedOrReserved_CausesNoIo_AndGetsOnlyTheRepliesAoEr11Prescribes()
    {
        using var rig = new FaultRig("acl");
        string[] names = ["denied", "acceptonly", "masked", "reserved"];
        var paths = new string[names.Length];
        for (int i = 0; i < names.Length; i++)
            paths[i] = rig.RandomDisk(names[i] + ".img", DiskBytes, seed: 100 + i, out _);
        using AoeClient client = rig.Client();
        string own = DiscoveredTarget.FormatMac(client.Mac);
        rig.WriteConfig(
            $"[denied]\npath = {paths[0]}\nshelf = {Shelf}\nslot = 1\ndeny = {DiscoveredTarget.FormatMac(Foreign)}\n\n" +
            $"[acceptonly]\npath = {paths[1]}\nshelf = {Shelf}\nslot = 2\naccept = {own}\n\n" +
            $"[masked]\npath = {paths[2]}\nshelf = {Shelf}\nslot = 3\n\n" +
            $"[reserved]\npath = {paths[3]}\nshelf = {Shelf}\nslot = 4\n");
        rig.Start();
        Sh.Run($"ip -n {rig.Pair.InitiatorNs} link set {rig.Pair.InitiatorIf} promisc on");

        // The real initiator sees all four, then puts itself on the mask list of 2.3 and reserves 2.4.
        var targets = new DiscoveredTarget[names.Length];
        for (int i = 0; i < names.Length; i++)
            targets[i] = FaultRig.Discover(client, Shelf, (byte)(i + 1));
        byte[] targetMac = targets[0].Mac;
        PacketSocket socket = client.Socket;
        byte[] maskEdit = Request(client.Mac, targetMac, 3, CmdMask, 0x7000_0001, [0, 1, 0, 1, 0, 1, .. client.Mac]);
        byte[] maskReply = Exchange(socket, maskEdit, 0x7000_0001);
        Assert.Equal(0, maskReply[15]);                     // no AoE error
        Assert.Equal(0, maskReply[26]);                     // MError 0
        Assert.Equal(1, maskReply[27]);                     // one entry on the list: us
        Assert.Equal(client.Mac, maskReply.AsSpan(30, 6).ToArray());
        byte[] reserveSet = Request(client.Mac, targetMac, 4, CmdReserve, 0x7000_0002, [1, 1, .. client.Mac]);
        byte[] reserveReply = Exchange(socket, reserveSet, 0x7000_0002);
        Assert.Equal(0, reserveReply[15]);
        Assert.Equal(1, reserveReply[25]);                  // NMacs 1: us
        Assert.Equal(client.Mac, reserveReply.AsSpan(26, 6).ToArray());
        // And the real initiator still works on all of them.
        foreach (DiscoveredTarget t in targets)
            client.Read(t, 0, new byte[1024]);

        var shaBefore = new string[names.Length];
        for (int i = 0; i < names.Length; i++)
            shaBefore[i] = FaultRig.Sha256(paths[i]);
        Stats before = rig.Stats();

        // The foreign host tries everything on every device: config query, write, read, IDENTIFY, mask
        // and reserve reads, and a reserve set (which must fail where someone else holds the reservation).
        uint tag = 0x4000_0000;
        var sent = new Dictionary<uint, (int Device, string What, byte[] Frame)>();
        byte[] writeArg = new byte[12 + 1024];
        Random.Shared.NextBytes(writeArg);
        for (int i = 0; i < names.Length; i++)
        {
            byte slot = (byte)(i + 1);
            void Send(string what, byte command, byte[] arg)
            {
                byte[] f = Request(Foreign, targetMac, slot, command, ++tag, arg);
                sent[tag] = (i, what, f);
                socket.Send(f);
            }
            Send("config query", CmdConfig, new byte[8]);
            Send("write", CmdAta, Ata(0x41, 2, 0x34, writeArg));
            Send("read", CmdAta, Ata(0x40, 2, 0x24, new byte[12]));
            Send("identify", CmdAta, Ata(0x00, 1, 0xEC, new byte[12]));
            Send("mask read", CmdMask, new byte[4]);
            Send("reserve read", CmdReserve, [0, 0]);
            Send("reserve set", CmdReserve, [1, 1, .. Foreign]);
        }
        // The 7 answers the reserved device owes, then 0.5 s more for any a denied device must not send.
        const int Owed = 3 + 4;
        var replies = new Dictionary<uint, byte[]>();
        foreach (byte[] reply in Answers.Collect(socket,
                     rx => rx.Length >= 24 && (rx[14] & 0x08) != 0 && rx.AsSpan(0, 6).SequenceEqual(Foreign),
                     Owed, TimeSpan.FromMilliseconds(500)))
        {
            uint t = BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(20));
            Assert.False(replies.ContainsKey(t), $"two replies to tag 0x{t:x8}");
            replies[t] = reply;
        }

        var unexpected = new List<string>();
        foreach ((uint t, (int device, string what, byte[] request)) in sent)
        {
            replies.TryGetValue(t, out byte[]? reply);
            string name = names[device];
            if (name != "reserved")
            {
                // Deny list, accept list, Mac Mask List: the device does not exist for this MAC (no reply at all).
                if (reply != null)
                    unexpected.Add($"{name}: {what} was answered");
                continue;
            }
            if (reply == null)
            {
                unexpected.Add($"{name}: {what} got no reply");
                continue;
            }
            switch (what)
            {
                case "write":
                case "read":
                case "reserve set":
                    AssertAoeError(reply, request, targetMac, code: 6, $"{name}: {what}");
                    break;
                case "identify":
                    // Reservations lock out I/O; IDENTIFY stays open so other hosts see what the device is.
                    Assert.Equal(0x18, reply[14]);
                    Assert.Equal(0x50 & 0x40, reply[27] & 0x40);
                    Assert.Equal(0, reply[27] & 0xA9);
                    Assert.Equal(36 + 512, reply.Length);
                    break;
                default:
                    Assert.Equal(0x18, reply[14]);          // version 1, Response, no Error
                    Assert.Equal(0, reply[15]);
                    break;
            }
        }
        Assert.True(unexpected.Count == 0, string.Join("\n", unexpected));
        Assert.Equal(Owed, replies.Count); // reserved: config, mask read, reserve read, identify + 3 errors

        // No I/O happened: files and I/O counters unchanged; the refusals were counted.
        Stats after = rig.Stats();
        for (int i = 0; i < names.Length; i++)
        {
            Assert.Equal(shaBefore[i], FaultRig.Sha256(paths[i]));
            foreach (string counter in new[] { "read_requests", "write_requests", "read_sectors", "write_sectors", "iocbs_submitted" })
                Assert.Equal(before.Device(names[i], counter), after.Device(names[i], counter));
        }
        for (int i = 0; i < 3; i++)
            Assert.Equal(7, after.Device(names[i], "aoe_denied") - before.Device(names[i], "aoe_denied"));
        Assert.Equal(3, after.Device("reserved", "aoe_error_replies") - before.Device("reserved", "aoe_error_replies"));

        // The reservation and the mask list still belong to the real initiator, which can still write.
        byte[] data = new byte[1024];
        Random.Shared.NextBytes(data);
        client.Write(targets[3], 0, data);
        client.Write(targets[2], 0, data);
        Assert.Contains(own, rig.Ctl("show-reserve", "reserved"));
        Assert.Contains(own, rig.Ctl("show-macmask", "masked"));
    }

    /// <summary>An AoE error reply as the daemon sends it: the request's header turned around with R and E
    /// set and the error code, its argument echoed, padded to the 60-byte Ethernet minimum.</summary>
    private static void AssertAoeError(byte[] reply, byte[] request, byte[] targetMac, byte code, string what)
    {
        Assert.True(reply.Length == 60, $"{what}: {reply.Length}-byte reply");
        byte[] expected = new byte[60];
        request.AsSpan(6, 6).CopyTo(expected);               // to the requester
        targetMac.CopyTo(expected, 6);                        // from the target port
        request.AsSpan(12, 2).CopyTo(expected.AsSpan(12));    // 0x88A2
        expected[14] = 0x1C;                                  // version 1, Response | Error
        expected[15] = code;
        request.AsSpan(16, 8).CopyTo(expected.AsSpan(16));    // shelf, slot, command, tag
        request.AsSpan(24, Math.Min(request.Length, 60) - 24).CopyTo(expected.AsSpan(24));
        Assert.True(expected.AsSpan().SequenceEqual(reply), $"{what}: reply\n{Convert.ToHexString(reply)}\nexpected\n{Convert.ToHexString(expected)}");
    }

    private static byte[] Ata(byte aflags, byte count, byte command, byte[] arg)
    {
        byte[] a = (byte[])arg.Clone();
        a[0] = aflags;
        a[1] = 0;
        a[2] = count;
        a[3] = command;
        a.AsSpan(4, 8).Clear(); // LBA 0
        return a;
    }

    private static byte[] Request(byte[] source, byte[] destination, byte slot, byte command, uint tag, byte[] arg)
    {
        byte[] f = new byte[Math.Max(60, 24 + arg.Length)];
        destination.CopyTo(f, 0);
        source.CopyTo(f, 6);
        f[12] = 0x88;
        f[13] = 0xA2;
        f[14] = 0x10;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), Shelf);
        f[18] = slot;
        f[19] = command;
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(20), tag);
        arg.CopyTo(f, 24);
        return f;
    }

    private static byte[] Exchange(PacketSocket socket, byte[] request, uint tag)
    {
        byte[] rx = new byte[65536];
        for (int attempt = 0; attempt < 5; attempt++)
        {
            socket.Send(request);
            long until = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2;
            while (Stopwatch.GetTimestamp() < until)
            {
                int n = socket.Receive(rx);
                if (n >= 24 && (rx[14] & 0x08) != 0 && BinaryPrimitives.ReadUInt32BigEndian(rx.AsSpan(20)) == tag)
                    return rx.AsSpan(0, n).ToArray();
            }
        }
        throw new TimeoutException($"no reply to tag 0x{tag:x8}");
    }
}
