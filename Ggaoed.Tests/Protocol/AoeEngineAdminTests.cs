using System;
using System.Text;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

/// <summary>
/// Who may change a device's state: never a broadcast shelf/slot, and only admin-accept MACs when
/// that list is set (README "Who may do what").
/// </summary>
public class AoeEngineAdminTests
{
    private static readonly MacAddress Stranger = MacAddress.Parse("02:00:00:00:00:66");
    private static readonly MacAddress Planted = MacAddress.Parse("02:00:00:00:00:99");

    /// <summary>Every state-changing AoE request: Mask edit, Reserve set/force set/release, Config set/force set.</summary>
    private static byte[][] StateChanges(MacAddress source) => new[]
    {
        MaskFrom(source, 1, (1, Planted)),
        Reserve(1, source, Planted),
        Reserve(2, source, Planted),
        Reserve(1, source),
        From(ConfigQuery(3, "planted"u8), source),
        From(ConfigQuery(4, "planted"u8), source),
    };

    [Theory]
    [InlineData(0xFFFF, 0xFF)]
    [InlineData(0xFFFF, Slot)]
    [InlineData(Shelf, 0xFF)]
    public void BroadcastStateChanges_ChangeNothing_AreNotAnswered_AndAreCounted(int shelf, int slot)
    {
        AoeTarget t = NewTarget();
        long version = t.StateVersion;
        foreach (byte[] request in StateChanges(Stranger))
        {
            Assert.Equal(AoeDecision.Drop, Run(Readdress(request, (ushort)shelf, (byte)slot), t, out byte[] reply, out _));
            Assert.Empty(reply);
        }
        Assert.True(t.MaskList.IsEmpty);
        Assert.True(t.ReserveList.IsEmpty);
        Assert.Equal(0, t.ConfigLength);
        Assert.Equal(version, t.StateVersion);
        Assert.Equal(6, t.Counters.AdminBroadcastRefused);
        Assert.Equal((0L, 0L, 0L), (t.Counters.Requests, t.Counters.Replies, t.Counters.AdminRefused));
    }

    [Fact]
    public void BroadcastStateChanges_AreRefused_EvenFromTheAdmin()
    {
        AoeTarget t = NewTarget();
        t.AdminAcceptList = new MacSet([Host]);
        foreach (byte[] request in StateChanges(Host))
            Assert.Equal(AoeDecision.Drop, Run(Readdress(request, 0xFFFF, 0xFF), t, out _, out _));
        Assert.Equal(0, t.StateVersion);
    }

    [Fact]
    public void TheReportedAttack_OneBroadcastFrameEach_LeavesEveryDeviceToItsInitiator()
    {
        // Reproduced on the old engine: a broadcast Mac Mask add of a planted MAC from an unconfigured
        // host set the mask of every device on the port, and the real initiator lost them all.
        AoeTarget[] devices = { new(1, 1, 100), new(1, 2, 100), new(7, 0, 100) };
        foreach (byte[] request in StateChanges(Stranger))
        {
            byte[] broadcast = Readdress(request, 0xFFFF, 0xFF);
            foreach (AoeTarget d in devices)
                Assert.Equal(AoeDecision.Drop, Run(broadcast, d, out _, out _));
        }
        foreach (AoeTarget d in devices)
        {
            Assert.True(d.MaskList.IsEmpty);
            Assert.True(d.ReserveList.IsEmpty);
            Assert.Equal(0, d.ConfigLength);
            // The real initiator still discovers the device and does I/O on it.
            Assert.Equal(AoeDecision.Reply, Run(ConfigQuery(0, default, shelf: 0xFFFF, slot: 0xFF), d, out _, out _));
            Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0, shelf: d.Shelf, slot: d.Slot), d, out _, out _));
        }
    }

    [Fact]
    public void UnicastStateChanges_StillWork_ByteExact()
    {
        AoeTarget t = NewTarget();
        Assert.Equal(ReplyHeader(2) + "00010002" + "0000020000000002" + "0000020000000099" + Zeros(16),
            ToHex(Reply(Mask(1, (1, Host), (1, Planted)), t)));
        Assert.Equal(ReplyHeader(3) + "0201" + "020000000099" + Zeros(28), ToHex(Reply(Reserve(2, Host, Planted), t)));
        Assert.Equal(ConfigReply(4, "mine"), ToHex(Reply(ConfigQuery(4, "mine"u8), t)));
        Assert.Equal(0, t.Counters.AdminBroadcastRefused);
    }

    [Fact]
    public void BroadcastReads_AreStillAnswered_WithTheDevicesOwnAddress_ByteExact()
    {
        AoeTarget t = NewTarget();
        t.SetConfigString("cfg"u8);
        t.MaskList.TryAdd(Host);
        t.ReserveList.TryAdd(Host);
        Assert.Equal(ConfigReply(0, "cfg"), ToHex(Reply(Readdress(ConfigQuery(0, default), 0xFFFF, 0xFF), t)));
        Assert.Equal(ConfigReply(1, "cfg"), ToHex(Reply(Readdress(ConfigQuery(1, "cfg"u8), 0xFFFF, 0xFF), t)));
        Assert.Equal(ConfigReply(2, "cfg"), ToHex(Reply(Readdress(ConfigQuery(2, "c"u8), 0xFFFF, 0xFF), t)));
        Assert.Equal(ReplyHeader(2) + "00000001" + "0000020000000002" + Zeros(24), ToHex(Reply(Readdress(Mask(0), 0xFFFF, 0xFF), t)));
        Assert.Equal(ReplyHeader(3) + "0001" + "020000000002" + Zeros(28), ToHex(Reply(Readdress(Reserve(0, Host), 0xFFFF, 0xFF), t)));
        Assert.Equal(0, t.Counters.AdminBroadcastRefused);
    }

    // ---- admin-accept ----------------------------------------------------------------------------

    /// <summary>A device whose admin-accept list holds OtherHost only; Host (whose replies ReplyHeader describes) is not an admin.</summary>
    private static AoeTarget WithAdmin()
    {
        AoeTarget t = NewTarget();
        t.AdminAcceptList = new MacSet([OtherHost]);
        return t;
    }

    [Fact]
    public void NonAdmin_ConfigSetAndForceSet_GetError4_WithTheKeptString_ByteExact()
    {
        AoeTarget t = WithAdmin();
        Assert.Equal(ConfigReply(3, "", error: 4), ToHex(Reply(ConfigQuery(3, "planted"u8), t)));
        t.SetConfigString("kept"u8);
        long version = t.StateVersion;
        Assert.Equal(ConfigReply(4, "kept", error: 4), ToHex(Reply(ConfigQuery(4, "planted"u8), t)));
        Assert.Equal(ConfigReply(3, "kept", error: 4), ToHex(Reply(ConfigQuery(3, "kept"u8), t)));
        Assert.Equal("kept", Encoding.ASCII.GetString(t.ConfigString));
        Assert.Equal(version, t.StateVersion);
        Assert.Equal(3, t.Counters.AdminRefused);
        Assert.Equal(3, t.Counters.AoeErrorConfigStringPresent);
    }

    [Fact]
    public void NonAdmin_MaskEdit_GetsMError1_DirCount0_ByteExact_AndNothingApplied()
    {
        AoeTarget t = WithAdmin();
        Assert.Equal(ReplyHeader(2) + "00010100" + Zeros(32), ToHex(Reply(Mask(1, (1, Host), (1, Planted)), t)));
        Assert.True(t.MaskList.IsEmpty);
        Assert.Equal(0, t.StateVersion);
        Assert.Equal((1L, 1L), (t.Counters.AdminRefused, t.Counters.MaskErrors));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void NonAdmin_ReserveSetOrForceSet_GetsError6_ByteExact_AndNothingApplied(byte rcmd)
    {
        AoeTarget t = WithAdmin();
        byte[] reply = Reply(Reserve(rcmd, Host, Host), t);
        Assert.Equal(ReplyHeader(3, error: 6) + rcmd.ToString("x2") + "01" + "020000000002" + Zeros(28), ToHex(reply));
        Assert.True(t.ReserveList.IsEmpty);
        Assert.Equal((1L, 1L), (t.Counters.AdminRefused, t.Counters.AoeErrorTargetReserved));
    }

    [Theory]
    [InlineData(0x02)]
    [InlineData(0x82)]
    public void NonAdmin_SetFeaturesWriteCache_GetsAbrt_ByteExact(byte feature)
    {
        AoeTarget t = WithAdmin();
        t.ConfigureWriteCache(enabled: feature == 0x82, pinned: false);
        byte[] reply = Reply(AtaFrame(0, feature, 0, 0xEF, 0), t);
        Assert.Equal(ReplyHeader(0) + "00" + "04" + "00" + "41" + "000000000000" + "0000" + Zeros(24), ToHex(reply));
        Assert.Equal(feature == 0x82, t.WriteCache);
        Assert.Equal(0, t.StateVersion);
        Assert.Equal((1L, 1L), (t.Counters.AdminRefused, t.Counters.AtaErrorAbrt));
    }

    [Fact]
    public void NonAdmin_CanStillReadAndDoIo()
    {
        AoeTarget t = WithAdmin();
        Assert.Equal(ConfigReply(0, ""), ToHex(Reply(ConfigQuery(0, default), t)));
        Assert.Equal(ReplyHeader(2) + "00000000" + Zeros(32), ToHex(Reply(Mask(0), t)));
        Assert.Equal(ReplyHeader(3) + "0000" + Zeros(34), ToHex(Reply(Reserve(0, Host), t)));
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(1, 0, 1, 0x30, 0, payloadBytes: 512), t, out _, out _));
        Assert.Equal(0, t.Counters.AdminRefused);
    }

    [Fact]
    public void Admin_ChangesState()
    {
        AoeTarget t = WithAdmin();
        Assert.Equal(AoeDecision.Reply, Run(MaskFrom(OtherHost, 1, (1, OtherHost)), t, out byte[] reply, out _));
        Assert.Equal(0, reply[26]);
        Assert.Equal(AoeDecision.Reply, Run(Reserve(1, OtherHost, OtherHost), t, out reply, out _));
        Assert.Equal(0, reply[15]);
        Assert.Equal(AoeDecision.Reply, Run(From(ConfigQuery(4, "admin"u8), OtherHost), t, out reply, out _));
        Assert.Equal(0, reply[15]);
        Assert.Equal(AoeDecision.Reply, Run(From(AtaFrame(0, 0x02, 0, 0xEF, 0), OtherHost), t, out reply, out _));
        Assert.Equal(Ata.StatusOk, reply[27]);
        Assert.Equal(new[] { OtherHost }, t.MaskList.AsSpan().ToArray());
        Assert.Equal(new[] { OtherHost }, t.ReserveList.AsSpan().ToArray());
        Assert.Equal("admin", Encoding.ASCII.GetString(t.ConfigString));
        Assert.True(t.WriteCache);
        Assert.Equal(0, t.Counters.AdminRefused);
    }

    [Fact]
    public void AdminList_Unset_LetsEveryoneChangeState_Empty_LetsNobody()
    {
        AoeTarget t = NewTarget();
        Assert.Null(t.AdminAcceptList);
        Assert.True(t.IsAdmin(Host) && t.IsAdmin(Stranger));
        Assert.Equal(0, Reply(ConfigQuery(4, "a"u8), t)[15]);

        t.AdminAcceptList = MacSet.Empty;
        Assert.False(t.IsAdmin(Host) || t.IsAdmin(OtherHost) || t.IsAdmin(Stranger));
        Assert.Equal(4, Reply(ConfigQuery(4, "b"u8), t)[15]);
        Assert.Equal(4, Reply(From(ConfigQuery(4, "b"u8), OtherHost), t)[15]);
        Assert.Equal("a", Encoding.ASCII.GetString(t.ConfigString));
        Assert.Equal(2, t.Counters.AdminRefused);
    }

    // ---- accept list: unset vs nobody ------------------------------------------------------------

    [Fact]
    public void AcceptList_Unset_AdmitsEveryone_Empty_AdmitsNobody()
    {
        AoeTarget t = NewTarget();
        Assert.Null(t.AcceptList);
        Assert.Equal(AoeDecision.Reply, Run(ConfigQuery(0, default), t, out _, out _));
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0, source: OtherHost), t, out _, out _));

        // A configured list whose names all failed to resolve: fail closed.
        t.AcceptList = MacSet.Empty;
        Assert.Equal(AoeDecision.Drop, Run(ConfigQuery(0, default), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(AtaFrame(0, 0, 1, 0x20, 0, source: OtherHost), t, out _, out _));
        Assert.Equal(AoeDecision.Drop, Run(Readdress(ConfigQuery(0, default), 0xFFFF, 0xFF), t, out _, out _));
        Assert.Equal(3, t.Counters.Denied);

        t.AcceptList = null;
        Assert.Equal(AoeDecision.Reply, Run(ConfigQuery(0, default), t, out _, out _));
    }

    [Fact]
    public void MacSet_CollapsesDuplicates_AndFindsEveryMember()
    {
        var set = new MacSet([OtherHost, Host, OtherHost, Stranger]);
        Assert.Equal(3, set.Count);
        Assert.Equal(Host, set[0]);
        Assert.True(set.Contains(Host) && set.Contains(OtherHost) && set.Contains(Stranger));
        Assert.False(set.Contains(Planted));
        Assert.True(MacSet.Empty.IsEmpty);
        Assert.False(MacSet.Empty.Contains(MacAddress.Zero));
    }

    // ---- shared volumes --------------------------------------------------------------------------

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void SharedDevice_ReserveSetOrForceSet_GetsError2_ByteExact_ReadStillWorks(byte rcmd)
    {
        AoeTarget t = NewTarget();
        t.Shared = true;
        byte[] reply = Reply(Reserve(rcmd, Host, Host), t);
        Assert.Equal(ReplyHeader(3, error: 2) + rcmd.ToString("x2") + "01" + "020000000002" + Zeros(28), ToHex(reply));
        Assert.True(t.ReserveList.IsEmpty);
        Assert.Equal(0, t.StateVersion);
        Assert.Equal(1, t.Counters.AoeErrorBadArgument);
        Assert.Equal(ReplyHeader(3) + "0000" + Zeros(34), ToHex(Reply(Reserve(0, Host), t)));
        // Nobody is locked out of I/O.
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0, source: OtherHost), t, out _, out _));
    }

    [Fact]
    public void SharedDevice_DropsAReservationItHad_AndOneRestoredFromState()
    {
        AoeTarget t = NewTarget();
        Reply(Reserve(1, Host, Host), t);
        long version = t.StateVersion;
        t.Shared = true;
        Assert.True(t.ReserveList.IsEmpty);
        Assert.Equal(version + 1, t.StateVersion);

        AoeTarget restored = NewTarget();
        restored.Shared = true;
        Assert.True(restored.TryLoadState("ggaoed-state 2\nconfig 61\nreserve 02:00:00:00:00:02\n", out string? error), error);
        Assert.True(restored.ReserveList.IsEmpty);
        Assert.Equal("a", Encoding.ASCII.GetString(restored.ConfigString));
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0, source: OtherHost), restored, out _, out _));
    }
}
