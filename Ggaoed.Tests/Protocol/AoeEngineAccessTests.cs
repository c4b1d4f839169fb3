using System;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

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

    [Fact]
    public void BroadcastAta_IsIgnoredByDefault_AnsweredWhenAllowed()
    {
        AoeTarget t = NewTarget();
        byte[] frame = AtaFrame(0, 0, 1, 0xEC, 0, shelf: 0xFFFF, slot: 0xFF);
        Assert.Equal(AoeDecision.Drop, Run(frame, t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(AtaFrame(0, 0, 1, 0x20, 0, slot: 0xFF), t, out _, out _));
        t.Broadcast = true;
        byte[] reply = Reply(frame, t);
        Assert.Equal("000102", ToHex(reply.AsSpan(16, 3)));
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0, slot: 0xFF), t, out _, out AoeIoRequest io));
        Assert.Equal(Slot, io.Slot);
    }

    [Fact]
    public void DeniedMac_GetsNoReplyAtAll()
    {
        AoeTarget t = NewTarget();
        t.SetDenyList(new[] { OtherHost });
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(0, default, source: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(AtaFrame(0, 0, 1, 0x20, 0, source: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Reply, Run(ConfigQuery(0, default), t, out _, out _));
    }

    [Fact]
    public void AcceptList_AdmitsOnlyListedMacs()
    {
        AoeTarget t = NewTarget();
        t.SetAcceptList(new[] { MacAddress.Parse("02:00:00:00:00:09"), Host });
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(AtaFrame(0, 0, 1, 0x20, 0, source: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(0, default, source: OtherHost), t, out _, out _));
    }

    [Fact]
    public void DenyBeatsAccept()
    {
        AoeTarget t = NewTarget();
        t.SetAcceptList(new[] { Host });
        t.SetDenyList(new[] { Host });
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
        t.SetDenyList(new[] { OtherHost });
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
}
