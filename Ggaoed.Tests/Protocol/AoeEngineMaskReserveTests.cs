using System;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

public class AoeEngineMaskListTests
{
    private static MacAddress Mac(int n) => new(0x0200_0000_1000UL + (ulong)n);

    [Fact]
    public void ReadEmptyList_ByteExact()
    {
        Assert.Equal(ReplyHeader(2) + "00000000" + Zeros(32), ToHex(Reply(Mask(0), NewTarget())));
    }

    [Fact]
    public void EditAdd_AddsInOrder_RepliesWithWholeList_AndBumpsStateVersion()
    {
        AoeTarget t = NewTarget();
        long v = t.StateVersion;
        byte[] reply = Reply(Mask(1, (1, Host), (1, OtherHost)), t);
        Assert.Equal(ReplyHeader(2) + "00010002" + "0000020000000002" + "0000020000000003" + Zeros(16), ToHex(reply));
        Assert.Equal(new[] { Host, OtherHost }, t.MaskList.AsSpan().ToArray());
        Assert.Equal(v + 1, t.StateVersion);
        // Read shows the same list.
        Assert.Equal(ReplyHeader(2) + "00000002" + "0000020000000002" + "0000020000000003" + Zeros(16), ToHex(Reply(Mask(0), t)));
    }

    [Fact]
    public void NonEmptyList_HidesTheDeviceFromUnlistedMacs()
    {
        AoeTarget t = NewTarget();
        Reply(Mask(1, (1, Host)), t);
        Assert.Equal(AoeDecision.Drop, Run(Config(0, default, source: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(AtaFrame(0, 0, 1, 0xEC, 0, source: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Reply, Run(Config(0, default), t, out _, out _));
    }

    [Fact]
    public void EditDelete_RemovesAndDeletingAbsentIsFine_NoneIsANoOp()
    {
        AoeTarget t = NewTarget();
        Reply(Mask(1, (1, Host), (1, OtherHost)), t);
        long v = t.StateVersion;
        byte[] reply = Reply(Mask(1, (2, OtherHost), (2, Mac(9)), (0, Mac(10))), t);
        Assert.Equal(ReplyHeader(2) + "00010001" + "0000020000000002" + Zeros(24), ToHex(reply));
        Assert.Equal(v + 1, t.StateVersion);
        Reply(Mask(1, (2, Mac(9))), t);
        Assert.Equal(v + 1, t.StateVersion);
    }

    [Fact]
    public void BadDirective_StopsThere_ReportsMError2AndItsIndex_EarlierOnesStay()
    {
        AoeTarget t = NewTarget();
        byte[] reply = Reply(Mask(1, (1, Host), (7, OtherHost), (1, Mac(5))), t);
        Assert.Equal(ReplyHeader(2) + "00010201" + Zeros(32), ToHex(reply));
        Assert.Equal(new[] { Host }, t.MaskList.AsSpan().ToArray());
    }

    [Fact]
    public void ListFull_ReportsMError3AndIndexOfFailingDirective()
    {
        AoeTarget t = NewTarget();
        var fill = new (byte, MacAddress)[AoeTarget.MaskListCapacity - 1];
        fill[0] = (1, Host);
        for (int i = 1; i < fill.Length; i++)
            fill[i] = (1, Mac(i));
        Assert.Equal(AoeDecision.Reply, Run(Mask(1, fill), t, out _, out _));
        Assert.Equal(63, t.MaskList.Count);
        // Re-adding a present MAC is fine; the 64th fits; the 65th is "list full" at directive index 3.
        byte[] reply = Reply(Mask(1, (1, Host), (1, Mac(100)), (0, Mac(0)), (1, Mac(101)), (1, Mac(102))), t);
        Assert.Equal(ReplyHeader(2) + "00010303" + Zeros(32), ToHex(reply));
        Assert.Equal(64, t.MaskList.Count);
        Assert.True(t.MaskList.Contains(Mac(100)));
        Assert.False(t.MaskList.Contains(Mac(101)));
    }

    [Fact]
    public void FullListReadReply_FitsOneFrame()
    {
        AoeTarget t = NewTarget();
        for (int i = 0; i < 64; i++)
            t.MaskList.TryAdd(i == 0 ? Host : Mac(i));
        byte[] reply = Reply(Mask(0), t);
        Assert.Equal(28 + 64 * 8, reply.Length);
        Assert.Equal(64, reply[27]);
    }

    [Fact]
    public void DirectivesCutShort_ReturnsBadArgument_AndChangesNothing()
    {
        AoeTarget t = NewTarget();
        byte[] frame = Mask(1, (1, Host), (1, OtherHost));
        byte[] cut = frame.AsSpan(0, frame.Length - 1).ToArray();
        byte[] reply = Reply(cut, t);
        Assert.Equal(ReplyHeader(2, error: 2) + ToHex(cut.AsSpan(24, 19)) + Zeros(17), ToHex(reply));
        Assert.True(t.MaskList.IsEmpty);
    }

    [Fact]
    public void UnknownMCmd_ReportsMError1()
    {
        Assert.Equal(ReplyHeader(2) + "00050100" + Zeros(32), ToHex(Reply(Mask(5), NewTarget())));
    }
}

public class AoeEngineReserveTests
{
    [Fact]
    public void ReadUnreserved_ByteExact()
    {
        Assert.Equal(ReplyHeader(3) + "0000" + Zeros(34), ToHex(Reply(Reserve(0, Host), NewTarget())));
    }

    [Fact]
    public void Set_Reserves_ByteExact_AndBumpsStateVersion()
    {
        AoeTarget t = NewTarget();
        long v = t.StateVersion;
        byte[] reply = Reply(Reserve(1, Host, Host), t);
        Assert.Equal(ReplyHeader(3) + "0101" + "020000000002" + Zeros(28), ToHex(reply));
        Assert.Equal(v + 1, t.StateVersion);
        Assert.Equal(ReplyHeader(3) + "0001" + "020000000002" + Zeros(28), ToHex(Reply(Reserve(0, Host), t)));
    }

    [Fact]
    public void WhileReserved_AtaFromOthers_GetsError6_ButIdentifyWorks()
    {
        AoeTarget t = NewTarget();
        Reply(Reserve(1, Host, Host), t);
        byte[] read = AtaFrame(0, 0, 1, 0x20, 0, source: OtherHost);
        byte[] reply = Reply(read, t);
        Assert.Equal("020000000003" + "020000000001" + "88a2" + "1c06" + "000102" + "00" + "01020304"
            + ToHex(read.AsSpan(24, 12)) + Zeros(24), ToHex(reply));
        Assert.Equal(AoeDecision.Reply, Run(AtaFrame(1, 0, 1, 0x30, 0, payloadBytes: 512, source: OtherHost), t, out reply, out _));
        Assert.Equal(6, reply[15]);
        Assert.Equal(AoeDecision.Reply, Run(AtaFrame(0, 0, 0, 0xE7, 0, source: OtherHost), t, out reply, out _));
        Assert.Equal(6, reply[15]);
        Assert.Equal(548, Reply(AtaFrame(0, 0, 1, 0xEC, 0, source: OtherHost), t).Length);
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0), t, out _, out _));
    }

    [Fact]
    public void SetFromOthers_GetsError6_ForceSetWins()
    {
        AoeTarget t = NewTarget();
        Reply(Reserve(1, Host, Host), t);
        byte[] reply = Reply(Reserve(1, OtherHost, OtherHost), t);
        Assert.Equal(ReplyHeader(3, error: 6).Replace("020000000002020000000001", "020000000003020000000001") + "0101" + "020000000003" + Zeros(28), ToHex(reply));
        Assert.Equal(new[] { Host }, t.ReserveList.AsSpan().ToArray());

        reply = Reply(Reserve(2, OtherHost, OtherHost), t);
        Assert.Equal(0, reply[15]);
        Assert.Equal(new[] { OtherHost }, t.ReserveList.AsSpan().ToArray());
    }

    [Fact]
    public void HolderReleases_WithEmptySet()
    {
        AoeTarget t = NewTarget();
        Reply(Reserve(1, Host, Host, OtherHost), t);
        Assert.Equal(ReplyHeader(3) + "0100" + Zeros(34), ToHex(Reply(Reserve(1, Host), t)));
        Assert.True(t.ReserveList.IsEmpty);
    }

    [Fact]
    public void SameReservationAgain_DoesNotBumpStateVersion()
    {
        AoeTarget t = NewTarget();
        Reply(Reserve(1, Host, Host), t);
        long v = t.StateVersion;
        Reply(Reserve(1, Host, Host), t);
        Assert.Equal(v, t.StateVersion);
    }

    [Fact]
    public void TooManyMacs_ReturnsBadArgument()
    {
        var macs = new MacAddress[AoeTarget.ReserveListCapacity + 1];
        for (int i = 0; i < macs.Length; i++)
            macs[i] = new MacAddress(0x0200_0000_2000UL + (ulong)i);
        AoeTarget t = NewTarget();
        byte[] reply = Reply(Reserve(2, Host, macs), t);
        Assert.Equal(2, reply[15]);
        Assert.True(t.ReserveList.IsEmpty);
    }

    [Fact]
    public void MacListCutShort_ReturnsBadArgument()
    {
        byte[] frame = Reserve(1, Host, Host, OtherHost);
        byte[] reply = Reply(frame.AsSpan(0, frame.Length - 2).ToArray(), NewTarget());
        Assert.Equal(ReplyHeader(3, error: 2) + "0102" + "020000000002" + "02000000" + Zeros(24), ToHex(reply));
    }

    [Fact]
    public void UnknownRCmd_ReturnsBadArgument()
    {
        Assert.Equal(ReplyHeader(3, error: 2) + "0300" + Zeros(34), ToHex(Reply(Reserve(3, Host), NewTarget())));
    }
}
