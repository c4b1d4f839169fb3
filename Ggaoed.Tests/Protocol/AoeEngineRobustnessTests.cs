using System;
using System.Buffers.Binary;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

public class AoeEngineRobustnessTests
{
    private static byte[][] Templates() => new[]
    {
        ConfigQuery(0, default),
        Frame(1, default),
        ConfigQuery(1, "abc"u8),
        ConfigQuery(2, "a"u8),
        ConfigQuery(3, "abc"u8),
        ConfigQuery(4, "xyz"u8),
        Mask(0),
        Mask(1, (1, Host), (2, OtherHost)),
        Mask(1, (2, Host)),
        Reserve(0, Host),
        Reserve(1, Host, Host),
        Reserve(1, Host),
        Reserve(2, OtherHost, OtherHost),
        Reserve(2, OtherHost),
        AtaFrame(0, 0, 2, 0x20, 0x0000_E000_0010),
        AtaFrame(0x40, 0, 2, 0x24, 990),
        AtaFrame(0x01, 0, 2, 0x30, 5, payloadBytes: 1024),
        AtaFrame(0x41, 0, 1, 0x34, 999, payloadBytes: 512),
        AtaFrame(0, 0, 1, 0xEC, 0),
        AtaFrame(0, 0, 0, 0xE7, 0),
        AtaFrame(0, 0, 0, 0xEA, 0),
        AtaFrame(0, 0, 0, 0xE5, 0),
        AtaFrame(0, 0x02, 0, 0xEF, 0),
        AtaFrame(0, 0x82, 0, 0xEF, 0),
        AtaFrame(0, 0xDA, 0, 0xB0, 0),
        AtaFrame(0, 0, 1, 0x91, 0),
        AtaFrame(0, 0, 200, 0x20, 0),
        AtaFrame(0, 0, 0, 0x20, 0),
        AtaFrame(0, 0, 1, 0xEC, 0, shelf: 0xFFFF, slot: 0xFF),
        Readdress(Mask(1, (1, OtherHost)), 0xFFFF, 0xFF),
        Readdress(ConfigQuery(4, "xyz"u8), 0xFFFF, 0xFF),
        AtaFrame(0x01, 0, 3, 0x30, 5, payloadBytes: 1536),
        Frame(1, new byte[8], verFlags: 0x20),
        Frame(7, new byte[4]),
    };

    [Fact]
    public void MillionMixedFrames_AllocateNothing()
    {
        byte[][] frames = Templates();
        // The second device refuses Host's state changes (admin-accept), so refusals are measured too.
        AoeTarget[] targets = { NewTarget(), NewTarget() };
        targets[1].AdminAcceptList = new MacSet([OtherHost]);
        var reply = new byte[9014];
        AoeInterface[] ifaces = { Iface9000, Iface1500 };
        int replies = 0;
        // Warm up so that JIT tiering is not measured.
        for (int i = 0; i < 20_000; i++)
            Count(AoeEngine.Handle(frames[i % frames.Length], targets[i / frames.Length & 1], ifaces[i / frames.Length >> 1 & 1], reply, out _, out _), ref replies);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000_000; i++)
        {
            // Every frame against both devices on both interfaces, pass after pass.
            AoeTarget t = targets[i / frames.Length & 1];
            AoeInterface iface = ifaces[i / frames.Length >> 1 & 1];
            AoeDecision d = AoeEngine.Handle(frames[i % frames.Length], t, iface, reply, out _, out AoeIoRequest io);
            if (d == AoeDecision.Io)
                AoeEngine.WriteIoReply(reply, io, iface, Ata.StatusOk, 0);
            Count(d, ref replies);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(replies > 500_000);
        Assert.True(targets[1].Counters.AdminRefused > 0 && targets[0].Counters.AdminBroadcastRefused > 0 && targets[0].Counters.Oversized > 0);

        static void Count(AoeDecision d, ref int replies)
        {
            if (d != AoeDecision.Drop)
                replies++;
        }
    }

    [Fact]
    public void MillionRandomAndMutatedFrames_NeverThrow_NeverEscapeTheDevice_RepliesWellFormed()
    {
        var rng = new Random(20261125);
        byte[][] templates = Templates();
        var targets = new[]
        {
            NewTarget(1000),
            new AoeTarget(Shelf, Slot, 3) { ReadOnly = true, AdminAcceptList = new MacSet([Host]) },
            new AoeTarget(Shelf, Slot, 0x1_0000_0000) { AnnounceByBroadcast = true, Shared = true },
            new AoeTarget(Shelf, Slot, 0),
        };
        var ifaces = new[] { Iface1500, Iface9000, new AoeInterface(Ours, 576), new AoeInterface(Ours, 40) };
        var frame = new byte[9100];
        var reply = new byte[9014];
        int[] decisions = new int[3];

        for (int iter = 0; iter < 1_000_000; iter++)
        {
            AoeTarget target = targets[iter & 3];
            AoeInterface iface = ifaces[(iter >> 2) & 3];
            // Mask and reserve templates lock hosts out; reset often so I/O paths stay reachable.
            if ((iter & 0xFF) == 0)
            {
                foreach (AoeTarget t in targets)
                {
                    t.ClearMaskList();
                    t.ClearReserveList();
                }
            }
            int length = Mutate(rng, templates, frame);
            ReadOnlySpan<byte> request = frame.AsSpan(0, length);

            long stateBefore = target.StateVersion;
            long errorsBefore = ErrorReplies(target.Counters);
            AoeDecision d = AoeEngine.Handle(request, target, iface, reply, out int replyLength, out AoeIoRequest io);
            decisions[(int)d]++;
            if (target.StateVersion != stateBefore)
            {
                // Only a request for this device alone, from an admin, changes its state.
                Assert.Equal(target.Shelf, BinaryPrimitives.ReadUInt16BigEndian(request.Slice(16)));
                Assert.Equal(target.Slot, request[18]);
                Assert.True(target.IsAdmin(MacAddress.Read(request.Slice(6))), "state changed by a non-admin");
            }
            // Every error reply is counted exactly once, and nothing else is counted as one.
            Assert.Equal(d == AoeDecision.Reply && IsErrorReply(reply) ? 1 : 0, ErrorReplies(target.Counters) - errorsBefore);
            switch (d)
            {
                case AoeDecision.Drop:
                    Assert.Equal(0, replyLength);
                    break;
                case AoeDecision.Reply:
                    CheckReply(reply.AsSpan(0, replyLength), request, target, iface, io);
                    break;
                case AoeDecision.Io:
                    Assert.Equal(0, replyLength);
                    CheckIo(io, request, target, iface);
                    int n = AoeEngine.WriteIoReply(reply, io, iface, (iter & 8) == 0 ? Ata.StatusOk : Ata.StatusFailed, 0);
                    Assert.True(n >= 60);
                    CheckReply(reply.AsSpan(0, n), request, target, iface, default);
                    break;
            }
        }
        // The mix must exercise all three outcomes substantially.
        Assert.True(decisions[0] > 50_000, "drops " + decisions[0]);
        Assert.True(decisions[1] > 50_000, "replies " + decisions[1]);
        Assert.True(decisions[2] > 20_000, "io " + decisions[2]);
    }

    private static long ErrorReplies(AoeTargetCounters c) => c.AoeErrors + c.MaskErrors + c.AtaErrors;

    /// <summary>AoE Error flag, a Mac Mask MError, or an ATA reply with ERR.</summary>
    private static bool IsErrorReply(byte[] r) =>
        (r[14] & 0x04) != 0 || (r[19] == 2 && r[26] != 0) || (r[19] == 0 && (r[27] & 0x01) != 0);

    private static void CheckReply(ReadOnlySpan<byte> r, ReadOnlySpan<byte> request, AoeTarget target, AoeInterface iface, AoeIoRequest io)
    {
        Assert.True(r.Length >= 60, "short reply");
        Assert.True(r.Length <= Math.Max(iface.MaxFrameLength, 60), "reply exceeds MTU");
        Assert.Equal(io, default);
        Assert.True(request.Slice(6, 6).SequenceEqual(r.Slice(0, 6)), "destination is not the requester");
        Assert.Equal(Ours, MacAddress.Read(r.Slice(6)));
        Assert.Equal(0x88A2, BinaryPrimitives.ReadUInt16BigEndian(r.Slice(12)));
        Assert.Equal(0x18, r[14] & 0xF8);
        Assert.Equal((r[14] & 0x04) != 0, r[15] != 0);
        Assert.Equal(target.Shelf, BinaryPrimitives.ReadUInt16BigEndian(r.Slice(16)));
        Assert.Equal(target.Slot, r[18]);
        Assert.Equal(request[19], r[19]);
        Assert.True(request.Slice(20, 4).SequenceEqual(r.Slice(20, 4)), "tag not echoed");
    }

    private static void CheckIo(AoeIoRequest io, ReadOnlySpan<byte> request, AoeTarget target, AoeInterface iface)
    {
        Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(request.Slice(20)), io.Tag);
        Assert.Equal(MacAddress.Read(request.Slice(6)), io.Source);
        Assert.Equal(target.Shelf, io.Shelf);
        Assert.Equal(target.Slot, io.Slot);
        Assert.False(target.IsReservedAgainst(io.Source));
        Assert.False(BinaryPrimitives.ReadUInt16BigEndian(request.Slice(16)) == 0xFFFF || request[18] == 0xFF, "broadcast ATA served");
        if (io.Kind == AoeIoKind.Flush)
        {
            Assert.Equal(0, io.SectorCount);
            return;
        }
        Assert.InRange(io.SectorCount, 1, 255);
        Assert.True(io.Lba < target.SectorCount && (ulong)io.SectorCount <= target.SectorCount - io.Lba, "I/O outside the device");
        Assert.True(io.SectorCount <= iface.MaxSectors, "I/O exceeds what the interface carries");
        if (io.Kind == AoeIoKind.Read)
        {
            Assert.Equal(0, io.PayloadLength);
        }
        else
        {
            Assert.Equal(AoeIoKind.Write, io.Kind);
            Assert.False(target.ReadOnly);
            Assert.Equal(36, io.PayloadOffset);
            Assert.Equal(io.SectorCount * 512, io.PayloadLength);
            Assert.True(io.PayloadOffset + io.PayloadLength <= request.Length, "write payload beyond frame");
        }
    }

    /// <summary>Writes a random or mutated frame into <paramref name="buffer"/> and returns its length.</summary>
    private static int Mutate(Random rng, byte[][] templates, byte[] buffer)
    {
        int kind = rng.Next(10);
        if (kind == 0)
        {
            // Pure noise, sometimes with a valid AoE header start.
            int len = rng.Next(0, 1600);
            rng.NextBytes(buffer.AsSpan(0, len));
            if (len >= 24 && rng.Next(2) == 0)
                WriteValidHeader(rng, buffer);
            return len;
        }

        byte[] t = templates[rng.Next(templates.Length)];
        int length = t.Length;
        t.CopyTo(buffer, 0);
        // Padding as real NICs add, or extra payload.
        if (rng.Next(4) == 0)
        {
            int extra = rng.Next(0, 1200);
            buffer.AsSpan(length, extra).Clear();
            length += extra;
        }
        int mutations = rng.Next(4); // 0: the template as is (with padding)
        for (int m = 0; m < mutations; m++)
        {
            switch (rng.Next(12))
            {
                case 0: length = rng.Next(0, length + 1); break;                          // truncation
                case 1: if (length > 0) buffer[rng.Next(length)] ^= (byte)(1 << rng.Next(8)); break; // bit flip
                case 2: if (length > 26) buffer[26] = (byte)rng.Next(256); break;          // huge/zero counts
                case 3: if (length > 33) rng.NextBytes(buffer.AsSpan(28, 6)); break;       // LBA anywhere
                case 4: if (length > 33) { BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(28), 990 + (uint)rng.Next(20)); buffer[32] = buffer[33] = 0; } break; // near the end
                case 5: buffer[14] = (byte)(rng.Next(16) << 4 | (buffer[14] & 0x0F)); break; // version
                case 6: BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(16), rng.Next(3) switch { 0 => 0xFFFF, 1 => Shelf, _ => (ushort)rng.Next(65536) }); break;
                case 7: buffer[18] = rng.Next(3) switch { 0 => 0xFF, 1 => Slot, _ => (byte)rng.Next(256) }; break;
                case 8: if (length > 27) buffer[27] = (byte)rng.Next(256); break;          // any ATA command
                case 9: buffer[19] = (byte)rng.Next(6); break;                             // AoE command
                case 10: (rng.Next(2) == 0 ? Host : OtherHost).Write(buffer.AsSpan(6)); break;
                case 11: if (length > 31) BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(30), (ushort)rng.Next(2000)); break; // config length
            }
        }
        return length;
    }

    private static void WriteValidHeader(Random rng, byte[] f)
    {
        Ours.Write(f.AsSpan(0));
        Host.Write(f.AsSpan(6));
        f[12] = 0x88;
        f[13] = 0xA2;
        f[14] = 0x10;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), rng.Next(2) == 0 ? Shelf : (ushort)0xFFFF);
        f[18] = rng.Next(2) == 0 ? Slot : (byte)0xFF;
        f[19] = (byte)rng.Next(5);
    }
}
