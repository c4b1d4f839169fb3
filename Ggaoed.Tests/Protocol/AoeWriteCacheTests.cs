using System;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

/// <summary>The write cache as IDENTIFY reports it, SET FEATURES changes it and the state file keeps it.</summary>
public class AoeWriteCacheTests
{
    private const byte Enable = 0x02, Disable = 0x82;

    private static bool Supported(AoeTarget t) => (AtaIdentify.GetWord(t.IdentifyBlock, 82) & (1 << 5)) != 0;
    private static bool Enabled(AoeTarget t) => (AtaIdentify.GetWord(t.IdentifyBlock, 85) & (1 << 5)) != 0;

    private static byte[] SetFeatures(AoeTarget t, byte feature) => Reply(AtaFrame(0, feature, 0, 0xEF, 0), t);

    private static string SetFeaturesReply(byte status, byte error) =>
        ReplyHeader(0) + "00" + error.ToString("x2") + "00" + status.ToString("x2") + "000000000000" + "0000" + Zeros(24);

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Identify_Word82SaysSupported_Word85FollowsTheConfiguredState(bool enabled, bool pinned)
    {
        AoeTarget t = NewTarget();
        t.ConfigureWriteCache(enabled, pinned);
        Assert.True(Supported(t));
        Assert.Equal(enabled, Enabled(t));
        Assert.Equal(enabled, t.WriteCache);
        Assert.Equal(pinned, t.WriteCachePinned);
        // Over the wire too, and the block stays a valid IDENTIFY (checksum).
        byte[] identify = Reply(AtaFrame(0, 0, 1, 0xEC, 0), t);
        Assert.Equal(enabled, (AtaIdentify.GetWord(identify.AsSpan(36), 85) & (1 << 5)) != 0);
        byte sum = 0;
        foreach (byte b in identify.AsSpan(36, 512))
            sum += b;
        Assert.Equal(0, sum);
    }

    [Fact]
    public void SetFeatures_Unpinned_ChangesIdentify_AndBumpsStateVersion_ByteExact()
    {
        AoeTarget t = NewTarget();
        t.ConfigureWriteCache(enabled: false, pinned: false);
        long version = t.StateVersion;
        Assert.Equal(SetFeaturesReply(0x40, 0), ToHex(SetFeatures(t, Enable)));
        Assert.True(Enabled(t));
        Assert.True(Supported(t));
        Assert.Equal(version + 1, t.StateVersion);
        Assert.Equal(SetFeaturesReply(0x40, 0), ToHex(SetFeatures(t, Enable)));
        Assert.Equal(version + 1, t.StateVersion); // no change, nothing to persist
        Assert.Equal(SetFeaturesReply(0x40, 0), ToHex(SetFeatures(t, Disable)));
        Assert.False(Enabled(t));
        Assert.Equal(version + 2, t.StateVersion);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SetFeatures_Pinned_AbortsAChange_ByteExact_AcceptsThePinnedState(bool pinnedState)
    {
        AoeTarget t = NewTarget();
        t.ConfigureWriteCache(pinnedState, pinned: true);
        long version = t.StateVersion;
        byte change = pinnedState ? Disable : Enable, same = pinnedState ? Enable : Disable;
        Assert.Equal(SetFeaturesReply(0x41, 0x04), ToHex(SetFeatures(t, change)));
        Assert.Equal(pinnedState, t.WriteCache);
        Assert.Equal(pinnedState, Enabled(t));
        Assert.Equal(SetFeaturesReply(0x40, 0), ToHex(SetFeatures(t, same)));
        Assert.Equal(version, t.StateVersion);
        Assert.Equal(1, t.Counters.AtaErrorAbrt);
        Assert.Equal(0, t.Counters.AdminRefused);
    }

    [Fact]
    public void InitiatorsChoice_WinsOverTheUnpinnedDefault_PinningDiscardsIt()
    {
        AoeTarget t = NewTarget();
        SetFeatures(t, Enable);
        t.ConfigureWriteCache(enabled: false, pinned: false); // a reload with the same default
        Assert.True(t.WriteCache);
        long version = t.StateVersion;
        t.ConfigureWriteCache(enabled: false, pinned: true);
        Assert.False(t.WriteCache);
        Assert.False(Enabled(t));
        Assert.Equal(version + 1, t.StateVersion); // the state file must lose the choice
        t.ConfigureWriteCache(enabled: false, pinned: false);
        Assert.False(t.WriteCache);
        Assert.DoesNotContain("write-cache", t.SerializeState());
    }

    [Fact]
    public void StateRoundTrip_KeepsTheInitiatorsChoice()
    {
        AoeTarget a = NewTarget();
        a.ConfigureWriteCache(enabled: true, pinned: false);
        SetFeatures(a, Disable);
        string text = a.SerializeState();
        Assert.Equal("ggaoed-state 2\nwrite-cache off\n", text);

        AoeTarget b = NewTarget();
        b.ConfigureWriteCache(enabled: true, pinned: false);
        long version = b.StateVersion;
        Assert.True(b.TryLoadState(text, out string? error), error);
        Assert.False(b.WriteCache);
        Assert.False(Enabled(b));
        Assert.Equal(version + 1, b.StateVersion);
        Assert.Equal(text, b.SerializeState());

        SetFeatures(b, Enable);
        Assert.Equal("ggaoed-state 2\nwrite-cache on\n", b.SerializeState());
    }

    [Fact]
    public void StateWithoutWriteCache_Version1_LoadsAndLeavesTheConfiguredState()
    {
        AoeTarget t = NewTarget();
        t.ConfigureWriteCache(enabled: true, pinned: false);
        Assert.True(t.TryLoadState("ggaoed-state 1\nconfig 6869\nmask 02:00:00:00:00:02\n", out string? error), error);
        Assert.True(t.WriteCache);
        Assert.Equal("hi", System.Text.Encoding.ASCII.GetString(t.ConfigString));
        Assert.Equal("ggaoed-state 2\nconfig 6869\nmask 02:00:00:00:00:02\n", t.SerializeState());
    }

    [Fact]
    public void LoadedChoice_IsIgnoredWhilePinned()
    {
        AoeTarget t = NewTarget();
        t.ConfigureWriteCache(enabled: false, pinned: true);
        Assert.True(t.TryLoadState("ggaoed-state 2\nwrite-cache on\n", out string? error), error);
        Assert.False(t.WriteCache);
        Assert.Equal("ggaoed-state 2\n", t.SerializeState());
    }

    [Theory]
    [InlineData("ggaoed-state 2\nwrite-cache yes\n")]
    [InlineData("ggaoed-state 2\nwrite-cache\n")]
    public void BadWriteCacheLine_IsRejected_AndChangesNothing(string text)
    {
        AoeTarget t = NewTarget();
        t.ConfigureWriteCache(enabled: true, pinned: false);
        Assert.False(t.TryLoadState(text, out string? error));
        Assert.Contains("line 2", error);
        Assert.True(t.WriteCache);
        Assert.Equal(0, t.StateVersion);
    }
}
