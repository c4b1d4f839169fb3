using System;
using System.Buffers.Binary;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

public class AoeEngineRobustnessTests
{
    /// <summary>Hand-made frames of every kind; the fuzz (AoeEngineFuzzTests) mutates them too.</summary>
    internal static byte[][] Templates() => new[]
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
        From(AtaFrame(0, 0, 1, 0x20, 0), Stranger),
    };

    /// <summary>A host on no list: denied wherever an accept or deny list is set.</summary>
    private static readonly MacAddress Stranger = MacAddress.Parse("02:00:00:00:00:99");

    [Fact]
    public void MillionMixedFrames_AllocateNothing()
    {
        byte[][] frames = Templates();
        AoeTarget[] targets = { NewTarget(), NewTarget(), NewTarget(), NewTarget() };
        // The second device refuses Host's state changes (admin-accept), so refusals are measured too.
        targets[1].AdminAcceptList = new MacSet([OtherHost]);
        // The third has every list: accept, deny, admin-accept, a Mac Mask List and a reservation
        // (the templates edit both as they cycle), read-only, a pinned write cache.
        AoeTarget locked = targets[2];
        locked.ReadOnly = true;
        locked.AcceptList = new MacSet([Host, OtherHost]);
        locked.DenyList = new MacSet([Stranger]);
        locked.AdminAcceptList = new MacSet([Host]);
        locked.ImportState("abc"u8, [Host, OtherHost], [Host]);
        locked.ConfigureWriteCache(enabled: true, pinned: true);
        // The fourth is shared (no reservation) with an unpinned write cache: SET FEATURES rebuilds IDENTIFY.
        targets[3].Shared = true;
        targets[3].ConfigureWriteCache(enabled: false, pinned: false);
        targets[3].ImportState(default, [Host], []);
        var reply = new byte[9014];
        AoeInterface[] ifaces = { Iface9000, Iface1500 };
        int replies = 0;
        // Warm up so that JIT tiering is not measured.
        for (int i = 0; i < 40_000; i++)
            Count(AoeEngine.Handle(frames[i % frames.Length], targets[i / frames.Length & 3], ifaces[i / frames.Length >> 2 & 1], reply, out _, out _), ref replies);
        foreach (AoeTarget t in targets)
            t.Counters.Reset();

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000_000; i++)
        {
            // Every frame against each device on both interfaces, pass after pass.
            AoeTarget t = targets[i / frames.Length & 3];
            AoeInterface iface = ifaces[i / frames.Length >> 2 & 1];
            AoeDecision d = AoeEngine.Handle(frames[i % frames.Length], t, iface, reply, out _, out AoeIoRequest io);
            if (d == AoeDecision.Io)
                AoeEngine.WriteIoReply(reply, io, iface, Ata.StatusOk, 0);
            Count(d, ref replies);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(replies > 500_000);
        Assert.True(targets[1].Counters.AdminRefused > 0 && targets[0].Counters.AdminBroadcastRefused > 0 && targets[0].Counters.Oversized > 0);
        // The new configurations were exercised: hidden by the lists, held off by the reservation,
        // refused as read-only, and the write cache both pinned and changed.
        AoeTargetCounters c = locked.Counters;
        Assert.True(c.Denied > 0 && c.AoeErrorTargetReserved > 0 && c.AdminRefused > 0 && c.AtaErrorAbrt > 0 && c.IoRequests > 0,
            $"denied {c.Denied}, reserved {c.AoeErrorTargetReserved}, admin refused {c.AdminRefused}, abrt {c.AtaErrorAbrt}, io {c.IoRequests}");
        Assert.True(targets[3].Counters.AoeErrorBadArgument > 0 && targets[3].Counters.IoRequests > 0 && targets[3].StateVersion > 1000,
            $"bad argument {targets[3].Counters.AoeErrorBadArgument}, io {targets[3].Counters.IoRequests}, state version {targets[3].StateVersion}");

        static void Count(AoeDecision d, ref int replies)
        {
            if (d != AoeDecision.Drop)
                replies++;
        }
    }
}
