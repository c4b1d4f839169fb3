using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// Advertisements and sizes against the real Linux initiator (tests/vm, guest/advertise.sh). The guest
/// finds e1.1, then, while it sends no discover of its own, the host grows e1.1's file from 64 to 128
/// MiB and adds e1.2 with a reload. e1.2 must appear within 20 s (the initiator's discover timer fires
/// 60 s after the module load: only the target's advertisement can bring it sooner), and e1.1 must
/// have its new size after a revalidate (the reload re-read it). Without advertisements e1.2 waits for
/// the discover timer; without the size re-read the revalidate finds 64 MiB again.
/// </summary>
[Trait("Stage", "vm")]
[Collection(VmCollection.Name)]
public sealed class AdvertisementVmTests
{
    private const long MiB = 1024 * 1024;

    private readonly ITestOutputHelper _output;

    public AdvertisementVmTests(ITestOutputHelper output) => _output = output;

    [VmFact]
    public void DeviceAddedByReload_ReachesTheGuestWithoutADiscover_AndAGrownDeviceShowsItsNewSize()
    {
        var network = new VmNetwork();
        using var bed = new GatewayBed(_output, network);
        string disk = bed.SparseFile("disk1.img", 64 * MiB);
        string added = bed.SparseFile("disk2.img", 32 * MiB);
        var first = new AoeExport("disk1", disk, 1, 1);
        var second = new AoeExport("disk2", added, 1, 2);
        string workDir = Path.Combine(bed.WorkDir, "gw");
        VmGateway gateway = bed.StartGateway("gw", network.Namespace, [network.Tap], [first]);

        var marks = new VmMarks();
        string report = "";
        marks.On("change", () =>
        {
            using (var f = new FileStream(disk, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
                f.SetLength(128 * MiB);
            GgaoedTestConfig.Write(network.Tap, [first, second], workDir);
            report = gateway.Ctl("reload");
            marks.Record("reloaded");
        });

        VmRunResult run = bed.Boot("advertise.sh", new Dictionary<string, string>
        {
            ["GROWN_SECTORS"] = (128 * MiB / 512).ToString(CultureInfo.InvariantCulture),
            ["AOE_ARGS"] = "aoe_deadsecs=60",
        }, marks, timeoutSeconds: 150);

        run.AssertPassed();
        _output.WriteLine("reload report:\n" + report);
        Assert.Contains("disk2: added", report);
        // Logged by the reload, or by the periodic check if that came first.
        Assert.Contains("disk1: new size of " + disk + ": 262144 sectors (134217728 bytes), was 131072 sectors", gateway.Log);
        Assert.Equal((64 * MiB / 512).ToString(CultureInfo.InvariantCulture), run.Result("size_before"));
        Assert.Equal((32 * MiB / 512).ToString(CultureInfo.InvariantCulture), run.Result("new_size"));
        Assert.Equal((128 * MiB / 512).ToString(CultureInfo.InvariantCulture), run.Result("size_revalidated"));
        Assert.True(int.Parse(run.Result("new_ms"), CultureInfo.InvariantCulture) < 20_000);
        using JsonDocument stats = JsonDocument.Parse(gateway.Ctl("--json", "stats"));
        Assert.True(stats.RootElement.GetProperty("interfaces")[0].GetProperty("advertisements").GetInt64() >= 3,
            "advertisements: one per device at start and after the reload");
    }
}
