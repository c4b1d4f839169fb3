using System.Collections.Generic;
using Ggaoed.Native;
using Ggaoed.Protocol;
using Ggaoed.Storage;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

/// <summary>
/// Two protocol choices behind sizes that follow the store and advertisements: what a read that ran
/// into the end of a shrunk store is answered with, and that an advertisement never goes to a group
/// address named in a list.
/// </summary>
public class ShrunkStoreAndRecipientTests
{
    [Fact]
    public void ReadCutShortByTheEndOfTheStore_IsIdnf_NotUnc()
    {
        // The storage engine reports the sectors a short read left uncovered as ENODATA.
        AoeEngine.MapIoError((int)Errno.ENODATA, IoKind.Read, out byte status, out byte error);
        Assert.Equal(Ata.StatusFailed, status);
        Assert.Equal(Ata.ErrorIdnf, error);
        // An unreadable sector stays UNC, a failed write ABRT.
        AoeEngine.MapIoError((int)Errno.EIO, IoKind.Read, out _, out error);
        Assert.Equal(Ata.ErrorUnc, error);
        AoeEngine.MapIoError((int)Errno.EIO, IoKind.Write, out _, out error);
        Assert.Equal(Ata.ErrorAbrt, error);
    }

    [Fact]
    public void GroupAddressesInAList_AreNeverAdvertisedTo()
    {
        // A Mac Mask List closed after a corrupt state file holds only the broadcast address.
        AoeTarget closed = NewTarget();
        closed.MaskList.TryAdd(MacAddress.Broadcast);
        var unicast = new List<MacAddress>();
        Assert.False(closed.AdvertiseTo(unicast));
        Assert.Empty(unicast);

        AoeTarget accepting = NewTarget();
        accepting.AcceptList = new MacSet([MacAddress.Parse("01:00:5e:00:00:01"), Host]);
        Assert.False(accepting.AdvertiseTo(unicast));
        Assert.Equal([Host], unicast);
    }
}
