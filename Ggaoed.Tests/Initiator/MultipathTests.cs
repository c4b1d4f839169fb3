using System;
using System.Collections.Generic;
using System.Globalization;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// AoE multipath with the real Linux initiator (tests/vm, AOE-NOTES 3.3): every source MAC that answers
/// for a shelf.slot is another path ("target") to the same disk; frames go round robin over the paths;
/// a path whose frames wait more than 10 s is tainted and its frames move to the others; probes bring
/// it back once it answers again. The guest reads the initiator's per-path state (window, taint, frames
/// sent, interfaces) from debugfs and tells the host, through @@MARK lines, when to break and restore
/// a path. Each test is one boot of a few minutes under software emulation.
/// </summary>
[Trait("Stage", "vm")]
[Collection(VmCollection.Name)]
public sealed class MultipathTests
{
    private const long MiB = 1024 * 1024;

    /// <summary>Path A's and path B's target MACs (the taps' or the gateways' addresses).</summary>
    private const string MacA = "02:00:00:00:0a:01", MacB = "02:00:00:00:0b:01";

    /// <summary>The limit for one host step (a daemon start, a few thousand frames); load makes them slow, never this slow.</summary>
    private static readonly TimeSpan s_step = TimeSpan.FromSeconds(120);

    private readonly ITestOutputHelper _output;

    public MultipathTests(ITestOutputHelper output) => _output = output;

    /// <summary>
    /// One ggaoed on two taps (the VM's eth0 and eth1): two paths with the taps' MACs. Path A's tap goes
    /// down while the guest writes fresh O_DIRECT patterns in a loop and reads each back: the initiator
    /// moves to B (B receives frames while A is down), no I/O fails; A's tap comes back: ggaoed serves it
    /// again, the initiator's probes clear A's taint and new writes use A again (frames arrive on it).
    /// The last pattern is checked against the backing file.
    /// </summary>
    [VmFact]
    public void OneGatewayTwoInterfaces_LinkDownMidWrite_IoMovesToTheOtherPath_AndThePathReturnsWithTheLink()
    {
        const int patternMb = 16;
        using var bed = new GatewayBed(_output, new VmNetwork(tapMacs: [MacA, MacB]));
        string tapA = bed.Network.Taps[0], tapB = bed.Network.Taps[1];
        string disk = bed.SparseFile("disk.img", 256 * MiB);
        var export = new AoeExport("disk1", disk, 1, 1) { GgaoedExtra = "direct-io = true" };
        VmGateway gateway = bed.StartGateway("gw", bed.Network.Namespace, [tapA, tapB], [export]);

        var marks = new VmMarks();
        long bAtDown = 0, bAtServedByB = 0, aAtBack = 0, aAtDone = 0;
        marks.On("writing", () =>
        {
            // Mid-write: path A carries the loop's frames, then its link goes.
            gateway.WaitFramesIn(tapA, gateway.FramesIn(tapA), 2000, s_step);
            bAtDown = gateway.FramesIn(tapB);
            bed.Network.SetTapUp(tapA, false);
            marks.Record("tap A down");
        });
        marks.On("served-by-b", () =>
        {
            bAtServedByB = gateway.FramesIn(tapB);
            Assert.Equal(-1, gateway.FramesIn(tapA));   // detached while its link is down
            bed.Network.SetTapUp(tapA, true);
            marks.Record("tap A up");
            gateway.WaitServing(tapA, s_step);
            marks.Record("ggaoed serves tap A again");
        });
        marks.On("path-back", () => aAtBack = gateway.FramesIn(tapA));
        marks.On("done-after-back", () => aAtDone = gateway.FramesIn(tapA));

        VmRunResult run = bed.Boot("multipath-link.sh", new Dictionary<string, string>
        {
            ["PATH_A"] = MacA,
            ["PATH_B"] = MacB,
            ["AOE_IFLIST"] = "eth0,eth1",
            ["PATTERN_MB"] = patternMb.ToString(CultureInfo.InvariantCulture),
            // Failover takes 10 s (HARD_SCORN_SECS); a device is declared dead only after this.
            ["AOE_ARGS"] = "aoe_deadsecs=60",
        }, marks, timeoutSeconds: 900);

        run.AssertPassed();
        // Discovery: two paths to e1.1, one per guest NIC.
        Assert.Equal("2", run.Result("paths"));
        Assert.Equal("eth0", run.Result("ifs_a"));
        Assert.Equal("eth1", run.Result("ifs_b"));
        // While A was down, B received the frames (the guest also finished a whole pass then).
        Assert.True(bAtServedByB > bAtDown, $"tap B received no frames while tap A was down ({bAtDown} -> {bAtServedByB})");
        // After A came back and the initiator cleared its taint, A carried new writes again: the guest
        // saw its write counter for A grow, and ggaoed received frames on the restored tap.
        Assert.True(long.Parse(run.Result("a_writes_after_back"), CultureInfo.InvariantCulture) > 0, "the initiator sent no write to path A after it came back");
        Assert.True(aAtDone - aAtBack >= 100, $"ggaoed received only {aAtDone - aAtBack} frames on tap A during a whole pass after the path came back");
        Assert.Equal(run.Result("pattern_md5"), GatewayBed.Md5(disk, 0, patternMb * MiB));
        _output.WriteLine($"failover: path A tainted {Seconds(marks.Between("tap A down", "mark failed-over"))} s after its link went down; " +
                          $"path A clean again {Seconds(marks.Between("tap A up", "mark path-back"))} s after its link came back");
    }

    /// <summary>
    /// Two gateways (two ggaoed, each in its own namespace behind a bridge port, distinct MACs) export
    /// the same file as e1.1 with <c>shared = true</c>: the guest sees two paths to one disk. fio writes
    /// and verifies while gateway A is SIGKILLed (the initiator moves to B) and then restarted with the
    /// same configuration (the initiator uses it again); a second fio round runs while gateway B is
    /// SIGKILLed and finishes, verify pass included, through the restarted A.
    /// </summary>
    [VmFact]
    public void TwoGatewaysOneSharedVolume_EachKilledInTurnMidFio_FioVerifiesThroughTheOther()
    {
        var network = new VmNetwork();
        using var bed = new GatewayBed(_output, network);
        network.AddBridge();
        VmPort portA = network.AddPort("gwa", MacA);
        VmPort portB = network.AddPort("gwb", MacB);
        string disk = bed.SparseFile("volume.img", 256 * MiB);
        var export = new AoeExport("volume", disk, 1, 1) { GgaoedExtra = "shared = true\ndirect-io = true" };
        VmGateway a = bed.StartGateway("a", portA.Namespace, [portA.Interface], [export]);
        VmGateway b = bed.StartGateway("b", portB.Namespace, [portB.Interface], [export]);

        var marks = new VmMarks();
        long aAtKillB = 0, aAtEnd = 0;
        marks.On("writing-1", () =>
        {
            a.WaitFramesIn(portA.Interface, a.FramesIn(portA.Interface), 1000, s_step);
            a.Kill();
            marks.Record("gateway A killed");
        });
        marks.On("a-failed", () =>
        {
            a.Start();
            marks.Record("gateway A restarted");
        });
        marks.On("writing-2", () =>
        {
            b.WaitFramesIn(portB.Interface, b.FramesIn(portB.Interface), 1000, s_step);
            b.Kill();
            marks.Record("gateway B killed");
            aAtKillB = a.FramesIn(portA.Interface);
        });
        marks.On("fio-2-done", () => aAtEnd = a.FramesIn(portA.Interface));

        VmRunResult run = bed.Boot("multipath-gateways.sh", new Dictionary<string, string>
        {
            ["PATH_A"] = MacA,
            ["PATH_B"] = MacB,
            ["FIO_SIZE"] = "64m",
            ["AOE_ARGS"] = "aoe_deadsecs=60",
        }, marks, timeoutSeconds: 900);

        run.AssertPassed();
        Assert.Equal("2", run.Result("paths"));
        Assert.Equal("eth0", run.Result("ifs_a"));
        Assert.Equal("eth0", run.Result("ifs_b"));
        Assert.Equal("0", run.Result("fio1_rc"));
        Assert.Equal("0", run.Result("fio2_rc"));
        Assert.Equal("up", run.Result("state"));
        // Each kill hit a running fio round (it ended after the kill, so it rode through the failover).
        Assert.True(marks.Between("gateway A killed", "mark fio-1-done") > TimeSpan.Zero, "fio round 1 ended before gateway A was killed\n" + marks.Timeline());
        Assert.True(marks.Between("gateway B killed", "mark fio-2-done") > TimeSpan.Zero, "fio round 2 ended before gateway B was killed\n" + marks.Timeline());
        // With B dead, the restarted A carried the rest of round 2.
        Assert.True(aAtEnd > aAtKillB, $"the restarted gateway A received no frames after B was killed ({aAtKillB} -> {aAtEnd})");
        _output.WriteLine($"failover: A tainted {Seconds(marks.Between("gateway A killed", "mark a-failed"))} s after its kill, " +
                          $"used again {Seconds(marks.Between("gateway A restarted", "mark a-back"))} s after its restart; " +
                          $"round 2 ended {Seconds(marks.Between("gateway B killed", "mark fio-2-done"))} s after B's kill");
    }

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture);
}

/// <summary>
/// The VM tests run one after another: each boots a VM under software emulation (a CPU's worth of
/// work on a 2-core machine) and several host processes, and their failovers wait on the initiator's
/// timers, which a second VM booting beside them would stretch.
/// </summary>
[CollectionDefinition(Name)]
public sealed class VmCollection
{
    public const string Name = "Linux initiator VM";
}
