using System.Text;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

public class AoeTargetStateTests
{
    [Fact]
    public void SerializeThenLoad_RestoresConfigMaskAndReserve()
    {
        AoeTarget a = NewTarget();
        a.SetConfigString(new byte[] { 0x68, 0x00, 0xFF, (byte)'\n' });
        a.MaskList.TryAdd(Host);
        a.MaskList.TryAdd(OtherHost);
        a.ReserveList.TryAdd(OtherHost);
        string text = a.SerializeState();
        Assert.Equal("ggaoed-state 2\nconfig 6800ff0a\nmask 02:00:00:00:00:02\nmask 02:00:00:00:00:03\nreserve 02:00:00:00:00:03\n", text);

        AoeTarget b = NewTarget();
        long v = b.StateVersion;
        Assert.True(b.TryLoadState(text, out string? error), error);
        Assert.Equal(a.ConfigString.ToArray(), b.ConfigString.ToArray());
        Assert.Equal(new[] { Host, OtherHost }, b.MaskList.AsSpan().ToArray());
        Assert.Equal(new[] { OtherHost }, b.ReserveList.AsSpan().ToArray());
        Assert.True(b.StateVersion > v);
    }

    [Fact]
    public void EmptyState_SerializesToHeaderOnly()
    {
        Assert.Equal("ggaoed-state 2\n", NewTarget().SerializeState());
        AoeTarget t = NewTarget();
        Assert.True(t.TryLoadState("ggaoed-state 1\n", out _));
        Assert.Equal(0, t.StateVersion);
    }

    [Theory]
    [InlineData("", "missing")]
    [InlineData("something else\n", "line 1")]
    [InlineData("ggaoed-state 1\nconfig 6\n", "line 2")]
    [InlineData("ggaoed-state 1\nconfig zz\n", "line 2")]
    [InlineData("ggaoed-state 1\nmask 02:00:00:00:00\n", "line 2")]
    [InlineData("ggaoed-state 1\nmask 02:00:00:00:00:01\nfoo bar\n", "line 3")]
    public void BadState_IsRejected_AndChangesNothing(string text, string expectedInError)
    {
        AoeTarget t = NewTarget();
        t.SetConfigString(Encoding.ASCII.GetBytes("keep"));
        long v = t.StateVersion;
        Assert.False(t.TryLoadState(text, out string? error));
        Assert.Contains(expectedInError, error);
        Assert.Equal("keep", Encoding.ASCII.GetString(t.ConfigString));
        Assert.Equal(v, t.StateVersion);
    }

    [Fact]
    public void TooManyMaskEntries_AreRejected()
    {
        var sb = new StringBuilder("ggaoed-state 1\n");
        for (int i = 0; i <= AoeTarget.MaskListCapacity; i++)
            sb.Append("mask ").Append(new MacAddress(0x0200_0000_0000UL + (ulong)i).ToString()).Append('\n');
        Assert.False(NewTarget().TryLoadState(sb.ToString(), out string? error));
        Assert.Contains("more than 64", error);
    }

    [Fact]
    public void ClearOperations_EmptyEachPiece_AndBumpStateVersionOnlyOnChange()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString(new byte[] { 1 });
        t.MaskList.TryAdd(Host);
        t.ReserveList.TryAdd(Host);
        long v = t.StateVersion;
        t.ClearConfigString();
        t.ClearMaskList();
        t.ClearReserveList();
        Assert.Equal(v + 3, t.StateVersion);
        Assert.Equal(0, t.ConfigLength);
        Assert.True(t.MaskList.IsEmpty);
        Assert.True(t.ReserveList.IsEmpty);
        t.ClearConfigString();
        t.ClearMaskList();
        t.ClearReserveList();
        Assert.Equal(v + 3, t.StateVersion);
    }
}
