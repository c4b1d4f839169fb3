using System;
using System.Text;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

public class AoeEngineConfigTests
{
    private static byte[] Bytes(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public void LinuxStyleQuery_WithZeroArgument_GetsConfigReply_ByteExact()
    {
        // Linux: 32-byte frame, whole config argument zero (ver nibble 0 too).
        byte[] reply = Reply(ConfigQuery(0, default), NewTarget());
        Assert.Equal(ConfigReply(0, ""), ToHex(reply));
        Assert.Equal(60, reply.Length);
    }

    [Fact]
    public void QueryWithoutAnyArgument_IsAnsweredAsRead()
    {
        // nmap broadcast-ataoe-discover: 24 bytes, no argument at all.
        byte[] reply = Reply(Frame(1, default), NewTarget());
        Assert.Equal(ConfigReply(0, ""), ToHex(reply));
    }

    [Fact]
    public void BroadcastQuery_IsAnswered_WithOurOwnShelfAndSlot()
    {
        byte[] reply = Reply(ConfigQuery(0, default, shelf: 0xFFFF, slot: 0xFF), NewTarget());
        Assert.Equal(ConfigReply(0, ""), ToHex(reply));
    }

    [Fact]
    public void SectorCount_FollowsInterfaceMtu_LikeLinux()
    {
        Assert.Equal(17, Reply(ConfigQuery(0, default), NewTarget(), Iface9000)[28]);
        Assert.Equal(2, Reply(ConfigQuery(0, default), NewTarget(), Iface1500)[28]);
        Assert.Equal(15, Reply(ConfigQuery(0, default), NewTarget(), new AoeInterface(Ours, 8000))[28]);
    }

    [Fact]
    public void BufferCountAndFirmware_AreTheTargetsOwn()
    {
        AoeTarget t = NewTarget();
        t.BufferCount = 16;
        t.FirmwareVersion = 0x4019;
        byte[] reply = Reply(ConfigQuery(0, default), t);
        Assert.Equal("0010" + "4019", ToHex(reply.AsSpan(24, 4)));
        t.BufferCount = 1;
        Assert.Equal(2, t.BufferCount); // Linux needs at least 2 (AOE-NOTES 0.5)
    }

    [Fact]
    public void SetIfEmpty_OnEmpty_StoresString_AndBumpsStateVersion()
    {
        AoeTarget t = NewTarget();
        long v = t.StateVersion;
        byte[] reply = Reply(ConfigQuery(3, Bytes("host-a")), t);
        Assert.Equal(ConfigReply(3, "host-a"), ToHex(reply));
        Assert.Equal("host-a", Encoding.ASCII.GetString(t.ConfigString));
        Assert.Equal(v + 1, t.StateVersion);
    }

    [Fact]
    public void SetIfEmpty_WithTheSameString_Succeeds_WithoutStateChange()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString(Bytes("host-a"));
        long v = t.StateVersion;
        Assert.Equal(ConfigReply(3, "host-a"), ToHex(Reply(ConfigQuery(3, Bytes("host-a")), t)));
        Assert.Equal(v, t.StateVersion);
    }

    [Fact]
    public void SetIfEmpty_WithADifferentString_ReturnsError4_WithCurrentConfig()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString(Bytes("host-a"));
        byte[] reply = Reply(ConfigQuery(3, Bytes("host-b")), t);
        Assert.Equal(ConfigReply(3, "host-a", error: 4), ToHex(reply));
        Assert.Equal("host-a", Encoding.ASCII.GetString(t.ConfigString));
    }

    [Fact]
    public void ForceSet_Overwrites_AndEmptyForceSetClears()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString(Bytes("host-a"));
        Assert.Equal(ConfigReply(4, "host-b"), ToHex(Reply(ConfigQuery(4, Bytes("host-b")), t)));
        Assert.Equal(ConfigReply(4, ""), ToHex(Reply(ConfigQuery(4, default), t)));
        Assert.Equal(0, t.ConfigLength);
    }

    [Fact]
    public void TestExact_AnswersOnlyOnExactMatch()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString(Bytes("cluster1"));
        Assert.Equal(ConfigReply(1, "cluster1"), ToHex(Reply(ConfigQuery(1, Bytes("cluster1")), t)));
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(1, Bytes("cluster")), t, out byte[] r, out _));
        Assert.Empty(r);
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(1, Bytes("cluster12")), t, out _, out _));
    }

    [Fact]
    public void TestPrefix_AnswersOnlyWhenRequestIsAPrefix()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString(Bytes("cluster1"));
        Assert.Equal(ConfigReply(2, "cluster1"), ToHex(Reply(ConfigQuery(2, Bytes("clus")), t)));
        Assert.Equal(ConfigReply(2, "cluster1"), ToHex(Reply(ConfigQuery(2, default), t)));
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(2, Bytes("cluster2")), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(2, Bytes("cluster1x")), t, out _, out _));
    }

    [Fact]
    public void TestOnBroadcast_FindsOnlyMatchingDevices()
    {
        AoeTarget a = new(1, 1, 100), b = new(1, 2, 100);
        a.SetConfigString(Bytes("x"));
        b.SetConfigString(Bytes("y"));
        byte[] frame = ConfigQuery(1, Bytes("y"), shelf: 0xFFFF, slot: 0xFF);
        Assert.Equal(AoeDecision.Drop, Run(frame, a, out _, out _));
        Assert.Equal(AoeDecision.Reply, Run(frame, b, out _, out _));
    }

    [Fact]
    public void MaximumConfigString_RoundTrips()
    {
        AoeTarget t = NewTarget();
        byte[] value = new byte[1024];
        new Random(3).NextBytes(value);
        byte[] reply = Reply(ConfigQuery(4, value), t);
        Assert.Equal(32 + 1024, reply.Length);
        Assert.True(reply.AsSpan(32).SequenceEqual(value));
        Assert.Equal("0400", ToHex(reply.AsSpan(30, 2)));
    }

    [Fact]
    public void ConfigLongerThan1024_ReturnsBadArgument_AndChangesNothing()
    {
        AoeTarget t = NewTarget();
        byte[] frame = ConfigQuery(4, new byte[1025]);
        byte[] reply = Reply(frame, t);
        Assert.Equal(ReplyHeader(1, error: 2), ToHex(reply.AsSpan(0, 24)));
        Assert.Equal(ToHex(frame.AsSpan(24, 36)), ToHex(reply.AsSpan(24, 36)));
        Assert.Equal(60, reply.Length);
        Assert.Equal(0, t.ConfigLength);
    }

    [Fact]
    public void LengthFieldBeyondFrame_ReturnsBadArgument()
    {
        AoeTarget t = NewTarget();
        byte[] reply = Reply(ConfigQuery(4, Bytes("abc"), lengthField: 10), t);
        Assert.Equal(ReplyHeader(1, error: 2) + "0000000000040" + "00a" + ToHex(Bytes("abc")) + Zeros(25), ToHex(reply));
        Assert.Equal(0, t.ConfigLength);
    }

    [Fact]
    public void UnknownCCmd_ReturnsBadArgument()
    {
        byte[] reply = Reply(ConfigQuery(5, default), NewTarget());
        Assert.Equal(ReplyHeader(1, error: 2) + "0000000000050000" + Zeros(28), ToHex(reply));
    }

    [Fact]
    public void LengthFieldIgnoredForRead()
    {
        Assert.Equal(ConfigReply(0, ""), ToHex(Reply(ConfigQuery(0, default, lengthField: 5000), NewTarget())));
    }

    [Fact]
    public void ConfigReplyThatDoesNotFitMtu_IsDropped_NotTruncated()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString(new byte[1024]);
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(0, default), t, out _, out _, new AoeInterface(Ours, 1000)));
    }
}
