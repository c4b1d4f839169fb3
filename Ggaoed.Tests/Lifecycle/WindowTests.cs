using System;
using System.IO;
using System.Linq;
using Ggaoed.Initiator;
using Ggaoed.Native;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Part of a store exported, as vblade -o/-l (drop-in issue row 10): the device is the window
/// offset..offset+length of the file, IDENTIFY says its length, and I/O never leaves it, at either end.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class WindowTests
{
    private const int Sector = 512;

    [RootFact]
    public void OffsetAndLength_ExportOnlyThatWindow_AndIoNeverLeavesIt()
    {
        using var box = new Sandbox(network: true);
        string image = box.CreateImage("d0", 1); // 2048 sectors
        byte[] before = new byte[2048 * Sector];
        for (int i = 0; i < before.Length; i++)
            before[i] = (byte)(i / Sector);
        File.WriteAllBytes(image, before);
        box.WriteConfig(Sandbox.Device("d0", image, 7, 0, "offset = 100\nlength = 32\n"));

        using DaemonProcess daemon = box.StartForeground();
        InNetNs.Run(box.Net!.InitiatorNs, () =>
        {
            using var client = new AoeClient(box.Net.InitiatorIf);
            DiscoveredTarget t = client.DiscoverUntilFound(x => x.Shelf == 7 && x.Slot == 0).Single(x => x.Shelf == 7 && x.Slot == 0);
            Assert.Equal(32UL, t.Identify!.Sectors);

            var first = new byte[Sector];
            client.Read(t, 0, first);
            Assert.All(first, b => Assert.Equal((byte)100, b)); // store sector 100
            var last = new byte[Sector];
            client.Read(t, 31, last);
            Assert.All(last, b => Assert.Equal((byte)131, b));

            client.Write(t, 0, Enumerable.Repeat((byte)0xA1, Sector).ToArray());
            client.Write(t, 31, Enumerable.Repeat((byte)0xB2, Sector).ToArray());
            // One past either end of the window: IDNF, nothing written.
            var past = Assert.Throws<AtaErrorException>(() => client.Write(t, 32, new byte[Sector]));
            Assert.Equal(0x10, past.Error); // IDNF
            Assert.Throws<AtaErrorException>(() => client.Read(t, 32, new byte[Sector]));
            Assert.Throws<AtaErrorException>(() => client.Write(t, 31, new byte[2 * Sector]));
            return 0;
        });
        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));

        byte[] after = File.ReadAllBytes(image);
        Assert.All(after.AsSpan(100 * Sector, Sector).ToArray(), b => Assert.Equal(0xA1, b));
        Assert.All(after.AsSpan(131 * Sector, Sector).ToArray(), b => Assert.Equal(0xB2, b));
        // Everything outside sectors 100 and 131 is as it was: the sectors around the window above all.
        after.AsSpan(100 * Sector, Sector).Clear();
        before.AsSpan(100 * Sector, Sector).Clear();
        after.AsSpan(131 * Sector, Sector).Clear();
        before.AsSpan(131 * Sector, Sector).Clear();
        Assert.True(after.AsSpan().SequenceEqual(before), "a write left the window");
    }
}
