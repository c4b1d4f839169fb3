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
        using var rig = new OneDevice();
        Assert.Equal((ulong)(64 * MiB / Sector), rig.Target.Identify!.Sectors);

        Resize(rig.Image, 128 * MiB);
        rig.Reload();

        Assert.Equal((ulong)(128 * MiB / Sector), rig.Client.Identify(rig.Target).Sectors);
        Assert.Equal(128 * MiB, rig.DeviceStats().GetProperty("size_bytes").GetInt64());
        // A read in the new part is served.
        rig.Client.Read(rig.Target, (ulong)(100 * MiB / Sector), new byte[Sector]);
        Assert.Contains($"d0: new size of {rig.Image}: 262144 sectors (134217728 bytes), was 131072 sectors (67108864 bytes)", rig.WaitForOutput("new size of"));
    }

    [RootFact]
    public void ShrunkFile_AfterReload_ReadsPastTheNewEnd_GetIdnf_NotUnc()
    {
        using var rig = new OneDevice();
        Resize(rig.Image, 48 * MiB);
        rig.Reload();

        const ulong end = 48 * MiB / Sector;
        Assert.Equal(end, rig.Client.Identify(rig.Target).Sectors);
        rig.Client.Read(rig.Target, end - 1, new byte[Sector]);
        foreach (ulong lba in new ulong[] { end, end + 1000, 64 * MiB / Sector - 1 })
        {
            var e = Assert.Throws<AtaErrorException>(() => rig.Client.Read(rig.Target, lba, new byte[Sector]));
            Assert.Equal(0x10, e.Error); // IDNF; UNC is 0x40
        }
        JsonElement d = rig.DeviceStats();
        Assert.Equal(3, d.GetProperty("ata_idnf_replies").GetInt64());
        Assert.Equal(0, d.GetProperty("ata_unc_replies").GetInt64());
        Assert.Contains($"d0: new size of {rig.Image}: 98304 sectors (50331648 bytes), was 131072 sectors (67108864 bytes)", rig.WaitForOutput("new size of"));
    }

    [RootFact]
    public void FileGrownWithoutReload_IsFoundByThePeriodicCheck_LoggedAndAdvertised()
    {
        using var rig = new OneDevice(listen: true);
        rig.Listener!.Collect(all => all.Count >= 1, settle: TimeSpan.Zero); // the one at start

        Resize(rig.Image, 128 * MiB);
        // The check runs every 5 s; the advertisement follows the new size at once.
        Advert advert = rig.Listener.Collect(all => all.Count >= 1, settle: TimeSpan.Zero).Single();
        Assert.Equal("7.0 to ff:ff:ff:ff:ff:ff", advert.ToString());
        Assert.Equal((ulong)(128 * MiB / Sector), rig.Client.Identify(rig.Target).Sectors);
        Assert.Contains($"d0: new size of {rig.Image}: 262144 sectors (134217728 bytes), was 131072 sectors (67108864 bytes) (periodic check)",
            rig.WaitForOutput("new size of"));
    }

    private static void Resize(string path, long bytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        f.SetLength(bytes);
    }

    /// <summary>The daemon exporting one 64 MiB file as e7.0 over a veth pair, found by our initiator.</summary>
    private sealed class OneDevice : IDisposable
    {
        private readonly Sandbox _box = new(network: true);
        private readonly DaemonProcess _daemon = null!;

        public OneDevice(bool listen = false)
        {
            try
            {
                if (listen)
                    Listener = new AdvertListener(_box.Net!);
                Image = _box.CreateImage("d0", 64);
                _box.WriteConfig(Sandbox.Device("d0", Image, 7, 0));
                _daemon = _box.StartForeground();
                Client = Peer.Client(_box.Net!.InitiatorNs, _box.Net.InitiatorIf);
                Target = Peer.Find(Peer.Discover(Client, 1), 7, 0);
            }
            catch
            {
                Listener?.Dispose();
                _box.Dispose(); // kills the daemon it started
                throw;
            }
        }

        public string Image { get; }
        public AdvertListener? Listener { get; }
        public AoeClient Client { get; }
        public DiscoveredTarget Target { get; }

        public void Reload()
        {
            ToolResult reload = _box.Ctl("reload");
            Assert.True(reload.ExitCode == 0, reload.Output);
        }

        /// <summary>The one device in <c>ggaoectl --json stats</c>.</summary>
        public JsonElement DeviceStats()
        {
            ToolResult r = _box.Ctl("--json", "stats");
            Assert.True(r.ExitCode == 0, r.Output);
            using JsonDocument doc = JsonDocument.Parse(r.StdOut);
            return doc.RootElement.GetProperty("devices")[0].Clone();
        }

        /// <summary>The daemon's output once it holds <paramref name="text"/> (its stderr arrives a moment after the fact).</summary>
        public string WaitForOutput(string text)
        {
            long deadline = Environment.TickCount64 + 10_000;
            while (!_daemon.Output.Contains(text, StringComparison.Ordinal) && Environment.TickCount64 < deadline)
                Thread.Sleep(20);
            return _daemon.Output;
        }

        public void Dispose()
        {
            Client.Dispose();
            Listener?.Dispose();
            _box.Dispose(); // kills the daemon
        }
    }
}
