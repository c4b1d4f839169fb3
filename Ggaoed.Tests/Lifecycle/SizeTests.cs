using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using Ggaoed.Initiator;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;
using Peer = Ggaoed.Tests.DataPath.Initiator;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Sizes that follow the store, with the published daemon (drop-in issue row 1): a file grown from 64
/// to 128 MiB shows its new size in IDENTIFY after a reload, one shrunk to 48 MiB answers reads past
/// its new end with IDNF (not UNC, which a read past the end of the file got while the old size was
/// still exported), and a file grown without a reload is found by the periodic check and advertised.
/// Every change is logged with the old and the new size. The block-device (uevent) path and the
/// reload path on their own are in <see cref="DataPath.SizeFollowTests"/>.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class SizeTests
{
    private const long MiB = 1024 * 1024;
    private const int Sector = 512;

    [RootFact]
    public void GrownFile_AfterReload_IdentifyShowsTheNewSize_AndTheChangeIsLoggedWithBothSizes()
    {
        using var box = new Sandbox(network: true);
        string image = box.CreateImage("d0", 64);
        box.WriteConfig(Sandbox.Device("d0", image, 7, 0));
        using DaemonProcess daemon = box.StartForeground();
        using AoeClient client = Peer.Client(box.Net!.InitiatorNs, box.Net.InitiatorIf);
        AoeTarget t = Peer.Find(Peer.Discover(client, 1), 7, 0);
        Assert.Equal((ulong)(64 * MiB / Sector), t.Identify!.Sectors);

        Resize(image, 128 * MiB);
        ToolResult reload = box.Ctl("reload");
        Assert.True(reload.ExitCode == 0, reload.Output);

        Assert.Equal((ulong)(128 * MiB / Sector), client.Identify(t).Sectors);
        Assert.Equal(128 * MiB, Device(box).GetProperty("size_bytes").GetInt64());
        // A read in the new part is served.
        client.Read(t, (ulong)(100 * MiB / Sector), new byte[Sector]);
        Assert.Contains($"d0: new size of {image}: 262144 sectors (134217728 bytes), was 131072 sectors (67108864 bytes)", WaitForOutput(daemon, "new size of"));
    }

    [RootFact]
    public void ShrunkFile_AfterReload_ReadsPastTheNewEnd_GetIdnf_NotUnc()
    {
        using var box = new Sandbox(network: true);
        string image = box.CreateImage("d0", 64);
        box.WriteConfig(Sandbox.Device("d0", image, 7, 0));
        using DaemonProcess daemon = box.StartForeground();
        using AoeClient client = Peer.Client(box.Net!.InitiatorNs, box.Net.InitiatorIf);
        AoeTarget t = Peer.Find(Peer.Discover(client, 1), 7, 0);

        Resize(image, 48 * MiB);
        ToolResult reload = box.Ctl("reload");
        Assert.True(reload.ExitCode == 0, reload.Output);

        const ulong end = 48 * MiB / Sector;
        Assert.Equal(end, client.Identify(t).Sectors);
        client.Read(t, end - 1, new byte[Sector]);
        foreach (ulong lba in new ulong[] { end, end + 1000, 64 * MiB / Sector - 1 })
        {
            var e = Assert.Throws<AtaErrorException>(() => client.Read(t, lba, new byte[Sector]));
            Assert.Equal(0x10, e.Error); // IDNF; UNC is 0x40
        }
        JsonElement d = Device(box);
        Assert.Equal(3, d.GetProperty("ata_idnf_replies").GetInt64());
        Assert.Equal(0, d.GetProperty("ata_unc_replies").GetInt64());
        Assert.Contains($"d0: new size of {image}: 98304 sectors (50331648 bytes), was 131072 sectors (67108864 bytes)", WaitForOutput(daemon, "new size of"));
    }

    [RootFact]
    public void FileGrownWithoutReload_IsFoundByThePeriodicCheck_LoggedAndAdvertised()
    {
        using var box = new Sandbox(network: true);
        using var listener = new AdvertListener(box.Net!);
        string image = box.CreateImage("d0", 64);
        box.WriteConfig(Sandbox.Device("d0", image, 7, 0));
        using DaemonProcess daemon = box.StartForeground();
        listener.Collect(all => all.Count >= 1, settle: TimeSpan.Zero); // the one at start
        using AoeClient client = Peer.Client(box.Net!.InitiatorNs, box.Net.InitiatorIf);
        AoeTarget t = Peer.Find(Peer.Discover(client, 1), 7, 0);

        Resize(image, 128 * MiB);
        // The check runs every 5 s; the advertisement follows the new size at once.
        Advert advert = listener.Collect(all => all.Count >= 1, settle: TimeSpan.Zero).Single();
        Assert.Equal("7.0 to ff:ff:ff:ff:ff:ff", advert.ToString());
        Assert.Equal((ulong)(128 * MiB / Sector), client.Identify(t).Sectors);
        Assert.Contains($"d0: new size of {image}: 262144 sectors (134217728 bytes), was 131072 sectors (67108864 bytes) (periodic check)",
            WaitForOutput(daemon, "new size of"));
    }

    private static void Resize(string path, long bytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        f.SetLength(bytes);
    }

    /// <summary>The one device in <c>ggaoectl --json stats</c>.</summary>
    private static JsonElement Device(Sandbox box)
    {
        ToolResult r = box.Ctl("--json", "stats");
        Assert.True(r.ExitCode == 0, r.Output);
        using JsonDocument doc = JsonDocument.Parse(r.StdOut);
        return doc.RootElement.GetProperty("devices")[0].Clone();
    }

    /// <summary>The daemon's output once it holds <paramref name="text"/> (its stderr arrives a moment after the fact).</summary>
    private static string WaitForOutput(DaemonProcess daemon, string text)
    {
        long deadline = Environment.TickCount64 + 10_000;
        while (!daemon.Output.Contains(text, StringComparison.Ordinal) && Environment.TickCount64 < deadline)
            Thread.Sleep(20);
        return daemon.Output;
    }
}
