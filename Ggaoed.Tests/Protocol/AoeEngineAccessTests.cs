using System;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;
using Ggaoed.Storage;

namespace Ggaoed.Tests.Protocol;

public class AoeEngineAccessTests
{
    [Fact]
    public void FrameWithResponseFlag_IsIgnored()
    {
        // Our own transmissions come back on a PF_PACKET socket with R set; so do other targets' replies.
        Assert.Equal(AoeDecision.Drop, Run(Frame(1, new byte[8], verFlags: 0x18), NewTarget(), out byte[] r, out _));
        Assert.Empty(r);
    }

    [Fact]
    public void OtherEtherType_OrFrameShorterThanAoeHeader_IsIgnored()
    {
        byte[] frame = ConfigQuery(0, default);
        frame[13] = 0x00;
        Assert.Equal(AoeDecision.Drop, Run(frame, NewTarget(), out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(0, default).AsSpan(0, 23).ToArray(), NewTarget(), out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(Array.Empty<byte>(), NewTarget(), out _, out _));
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 2)]
    [InlineData(0xFFFF, 3)]
    [InlineData(2, 0xFF)]
    public void OtherShelfOrSlot_IsIgnored(int shelf, int slot)
    {
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(0, default, shelf: (ushort)shelf, slot: (byte)slot), NewTarget(), out _, out _));
    }

    [Theory]
    [InlineData(0xFFFF, 2)]
    [InlineData(1, 0xFF)]
    [InlineData(0xFFFF, 0xFF)]
    public void BroadcastShelfOrSlot_QueryConfig_IsAnsweredWithOwnAddress(int shelf, int slot)
    {
        byte[] reply = Reply(ConfigQuery(0, default, shelf: (ushort)shelf, slot: (byte)slot), NewTarget());
        Assert.Equal("000102", ToHex(reply.AsSpan(16, 3)));
    }

    [Theory]
    [InlineData(0xFFFF, 0xFF)]
    [InlineData(0xFFFF, Slot)]
    [InlineData(Shelf, 0xFF)]
    public void BroadcastAta_IsNeverServed_EvenWithAnnounceByBroadcast(int shelf, int slot)
    {
        // ggaoed 1.1's "broadcast" announces by broadcast; it never meant "serve broadcast I/O".
        AoeTarget t = NewTarget();
        t.AnnounceByBroadcast = true;
        byte[][] frames =
        {
            AtaFrame(0, 0, 1, 0xEC, 0, shelf: (ushort)shelf, slot: (byte)slot),
            AtaFrame(0, 0, 1, 0x20, 0, shelf: (ushort)shelf, slot: (byte)slot),
            AtaFrame(1, 0, 1, 0x30, 0, payloadBytes: 512, shelf: (ushort)shelf, slot: (byte)slot),
            AtaFrame(0, 0x02, 0, 0xEF, 0, shelf: (ushort)shelf, slot: (byte)slot),
        };
        foreach (byte[] frame in frames)
        {
            Assert.Equal(AoeDecision.Drop, Run(frame, t, out byte[] reply, out AoeIoRequest io));
            Assert.Empty(reply);
            Assert.Equal(default, io);
        }
        Assert.False(t.WriteCache);
        Assert.Equal(4, t.Counters.BroadcastIgnored);
        Assert.Equal(0, t.Counters.Requests);
        // The same commands addressed to the device alone are served.
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0), t, out _, out _));
    }

    [Fact]
    public void DeniedMac_GetsNoReplyAtAll()
    {
        AoeTarget t = NewTarget();
        t.DenyList = new MacSet([OtherHost]);
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(0, default, source: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(AtaFrame(0, 0, 1, 0x20, 0, source: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Reply, Run(ConfigQuery(0, default), t, out _, out _));
    }

    [Fact]
    public void AcceptList_AdmitsOnlyListedMacs()
    {
        AoeTarget t = NewTarget();
        t.AcceptList = new MacSet([MacAddress.Parse("02:00:00:00:00:09"), Host]);
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(AtaFrame(0, 0, 1, 0x20, 0, source: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(0, default, source: OtherHost), t, out _, out _));
    }

    [Fact]
    public void DenyBeatsAccept()
    {
        AoeTarget t = NewTarget();
        t.AcceptList = new MacSet([Host]);
        t.DenyList = new MacSet([Host]);
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(0, default), t, out _, out _));
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x20)]
    [InlineData(0xF0)]
    public void VersionOtherThan1_ReturnsError5_ByteExact(byte verFlags)
    {
        byte[] reply = Reply(Frame(1, new byte[8], verFlags: verFlags), NewTarget());
        Assert.Equal(ReplyHeader(1, error: 5) + Zeros(36), ToHex(reply));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(0xF0)]
    [InlineData(0xFF)]
    public void UnknownCommand_ReturnsError1_ByteExact(byte command)
    {
        byte[] reply = Reply(Frame(command, new byte[] { 1, 2, 3 }), NewTarget());
        Assert.Equal(ReplyHeader(command, error: 1) + "010203" + Zeros(33), ToHex(reply));
    }

    [Fact]
    public void FrameForAnotherUnicastMac_IsIgnored_BroadcastDestinationIsFine()
    {
        AoeTarget t = NewTarget();
        Assert.Equal(AoeDecision.Drop, Run(Frame(1, default, destination: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Reply, Run(Frame(1, default, destination: MacAddress.Broadcast), t, out _, out _));
    }

    [Fact]
    public void GroupSourceMac_IsIgnored()
    {
        Assert.Equal(AoeDecision.Drop, Run(Frame(1, default, source: MacAddress.Parse("03:00:00:00:00:02")), NewTarget(), out _, out _));
    }

    [Fact]
    public void TagIsEchoedUnchanged_EvenWithBit31()
    {
        byte[] frame = AtaFrame(0, 0, 1, 0xEC, 0, tag: 0x8765_4321);
        Assert.Equal("87654321", ToHex(Reply(frame, NewTarget()).AsSpan(20, 4)));
    }

    [Fact]
    public void ReplyBufferTooSmall_DropsInsteadOfThrowing()
    {
        var small = new byte[59];
        Assert.Equal(AoeDecision.Drop, AoeEngine.Handle(ConfigQuery(0, default), NewTarget(), Iface1500, small, out int n, out _));
        Assert.Equal(0, n);
        var identifyTooSmall = new byte[500];
        Assert.Equal(AoeDecision.Drop, AoeEngine.Handle(AtaFrame(0, 0, 1, 0xEC, 0), NewTarget(), Iface1500, identifyTooSmall, out _, out _));
    }

    [Fact]
    public void TryPeekHeader_ReadsShelfSlotAndResponseFlag()
    {
        Assert.True(AoeEngine.TryPeekHeader(Frame(1, default, shelf: 0x1234, slot: 0x56, verFlags: 0x18), out ushort shelf, out byte slot, out bool isResponse));
        Assert.Equal(0x1234, shelf);
        Assert.Equal(0x56, slot);
        Assert.True(isResponse);
        Assert.False(AoeEngine.TryPeekHeader(new byte[23], out _, out _, out _));
    }

    [Fact]
    public void IsAddressedBy_MatchesOwnAndBroadcastAddresses()
    {
        AoeTarget t = NewTarget();
        Assert.True(t.IsAddressedBy(1, 2));
        Assert.True(t.IsAddressedBy(0xFFFF, 2));
        Assert.True(t.IsAddressedBy(1, 0xFF));
        Assert.False(t.IsAddressedBy(1, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AoeTarget(0xFFFF, 1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AoeTarget(1, 0xFF, 1));
    }

    [Fact]
    public void EveryRepliedFrame_IsAtLeast60Bytes()
    {
        AoeTarget t = NewTarget();
        foreach (byte[] frame in new[] { ConfigQuery(0, default), Mask(0), Reserve(0, Host), AtaFrame(0, 0, 1, 0xE5, 0), Frame(9, default), Frame(0, default) })
            Assert.True(Reply(frame, t).Length >= 60);
    }
}

public class AoeTargetCountersTests
{
    [Fact]
    public void Counters_ClassifyEveryHandledFrame()
    {
        AoeTarget t = NewTarget();
        t.DenyList = new MacSet([OtherHost]);
        Run(ConfigQuery(0, default, source: OtherHost), t, out _, out _);                 // denied
        Run(AtaFrame(0, 0, 1, 0x20, 0, slot: 0xFF), t, out _, out _);                // broadcast ATA
        Run(ConfigQuery(0, default, slot: 9), t, out _, out _);                           // not ours: not counted
        Run(ConfigQuery(0, default), t, out _, out _);                                    // reply
        Run(ConfigQuery(1, "nope"u8), t, out _, out _);                                   // unanswered test
        Run(Frame(7, default), t, out _, out _);                                     // AoE error
        Run(AtaFrame(0, 0, 1, 0x20, 5000), t, out _, out _);                         // ATA error
        Run(AtaFrame(0, 0, 1, 0x20, 0), t, out _, out _);                            // I/O
        AoeTargetCounters c = t.Counters;
        Assert.Equal((1L, 1L, 5L, 1L, 3L, 1L, 1L, 1L),
            (c.Denied, c.BroadcastIgnored, c.Requests, c.Unanswered, c.Replies, c.AoeErrors, c.AtaErrors, c.IoRequests));
        c.Reset();
        Assert.Equal(0, c.Requests);
    }

    [Fact]
    public void ErrorReplies_AreCountedOnceEach_ByKind()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString("x"u8);
        Run(Frame(9, default), t, out _, out _);                                   // AoE 1
        Run(ConfigQuery(7, default), t, out _, out _);                             // AoE 2
        Run(Reserve(5, Host), t, out _, out _);                                    // AoE 2
        Run(ConfigQuery(3, "y"u8), t, out _, out _);                               // AoE 4
        Run(Frame(1, new byte[8], verFlags: 0x20), t, out _, out _);               // AoE 5
        Run(Reserve(1, OtherHost, OtherHost), t, out _, out _);                    // reserved by OtherHost
        Run(AtaFrame(0, 0, 1, 0x20, 0), t, out _, out _);                          // AoE 6
        Run(Mask(7), t, out _, out _);                                             // MError 1
        Run(Mask(1, (9, Host)), t, out _, out _);                                  // MError 2
        t.ClearReserveList();
        Run(AtaFrame(0, 0, 1, 0x91, 0), t, out _, out _);                          // ABRT (unsupported)
        Run(AtaFrame(0, 0, 3, 0x20, 0), t, out _, out _);                          // ABRT (oversized)
        Run(AtaFrame(0, 0, 1, 0x20, 5000), t, out _, out _);                       // IDNF
        Run(AtaFrame(0, 0, 1, 0xEC, 0), t, out _, out _);                          // success: not counted
        Run(Mask(0), t, out _, out _);                                             // success: not counted
        AoeTargetCounters c = t.Counters;
        Assert.Equal((1L, 2L, 1L, 1L, 1L), (c.AoeErrorUnrecognizedCommand, c.AoeErrorBadArgument,
            c.AoeErrorConfigStringPresent, c.AoeErrorUnsupportedVersion, c.AoeErrorTargetReserved));
        Assert.Equal(6, c.AoeErrors);
        Assert.Equal(2, c.MaskErrors);
        Assert.Equal((2L, 1L, 0L, 0L), (c.AtaErrorAbrt, c.AtaErrorIdnf, c.AtaErrorUnc, c.AtaErrorOther));

        // What the daemon sends after failed I/O is counted by the same table.
        foreach ((int errno, IoKind kind) in new[] { (5, IoKind.Read), (0, IoKind.Read), (28, IoKind.Write) })
        {
            AoeEngine.MapIoError(errno, kind, out _, out byte error);
            c.CountAtaError(error);
        }
        c.CountAtaError(Ata.ErrorAbrt | Ata.ErrorIdnf);
        Assert.Equal((3L, 2L, 1L, 1L), (c.AtaErrorAbrt, c.AtaErrorIdnf, c.AtaErrorUnc, c.AtaErrorOther));
        Assert.Equal(7, c.AtaErrors);
    }

    [Fact]
    public void Reset_ZeroesEveryCounter()
    {
        var c = new AoeTargetCounters();
        System.Reflection.FieldInfo[] fields = typeof(AoeTargetCounters).GetFields();
        Assert.True(fields.Length >= 19);
        foreach (System.Reflection.FieldInfo f in fields)
            f.SetValue(c, 7L);
        c.Reset();
        foreach (System.Reflection.FieldInfo f in fields)
            Assert.True((long)f.GetValue(c)! == 0, f.Name + " survived Reset");
    }
}
