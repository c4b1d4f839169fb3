using System;
using System.Diagnostics;
using System.Globalization;
using System.Threading;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Faults;

/// <summary>
/// The link under a running daemon goes down and up, is deleted and re-created with the same names, and
/// changes its MTU, while a verify workload runs: the daemon must follow the link over netlink (detach on down/delete,
/// attach again on up) and answer within 2 s of the link returning, and no acknowledged write may be
/// lost (a verify pass over the whole disk and the backing file itself).
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class LinkFlapTests
{
    private const int DiskBytes = 8 << 20;
    private static readonly TimeSpan ResumeLimit = TimeSpan.FromSeconds(2);

    private readonly ITestOutputHelper _output;

    public LinkFlapTests(ITestOutputHelper output) => _output = output;

    [RootFact]
    public void LinkDownUp_AndDeleteRecreate_UnderVerifyLoad_ServiceResumesWithin2s_AndNoDataIsLost()
    {
        using var rig = new FaultRig("lf");
        string disk = rig.RandomDisk("disk.img", DiskBytes, seed: 61, out byte[] model);
        rig.WriteConfig($"[disk]\npath = {disk}\nshelf = 3\nslot = 4\n");
        rig.Start();
        VethPair pair = rig.Pair;
        // Fixed MACs, so the re-created pair looks the same as the old one except for its ifindex.
        string targetMac = Mac(pair.TargetNs, pair.TargetIf);
        string initiatorMac = Mac(pair.InitiatorNs, pair.InitiatorIf);

        using var load = new VerifyWorkload(pair.InitiatorNs, pair.InitiatorIf, 3, 4, model, seed: 5);
        load.Start();
        Assert.True(load.WaitForSuccessAfter(0, TimeSpan.FromSeconds(10)) >= 0, "the workload never got an answer:\n" + rig.Log);
        Thread.Sleep(500);

        // 1. Administrative down and up of the target's end.
        Sh.Run($"ip -n {pair.TargetNs} link set {pair.TargetIf} down");
        Thread.Sleep(100);
        long before = load.Successes;
        Thread.Sleep(900);
        Assert.True(load.Successes - before <= 1, $"{load.Successes - before} requests were answered with the link down");
        Sh.Run($"ip -n {pair.TargetNs} link set {pair.TargetIf} up");
        long upAt = Stopwatch.GetTimestamp();
        TimeSpan downUp = Resumed(load, upAt, rig, "link down/up");

        Thread.Sleep(500);

        // 2. Delete the pair (both ends go) and create it again with the same names and MACs.
        Sh.Run($"ip -n {pair.TargetNs} link del {pair.TargetIf}");
        Thread.Sleep(1000);
        Sh.Run($"ip link add {pair.TargetIf} netns {pair.TargetNs} address {targetMac} type veth " +
               $"peer name {pair.InitiatorIf} netns {pair.InitiatorNs} address {initiatorMac}");
        Sh.Run($"ip -n {pair.TargetNs} link set {pair.TargetIf} up");
        Sh.Run($"ip -n {pair.InitiatorNs} link set {pair.InitiatorIf} up");
        long recreatedAt = Stopwatch.GetTimestamp();
        TimeSpan recreate = Resumed(load, recreatedAt, rig, "delete + re-create");

        Thread.Sleep(500);

        // 3. An MTU change (the daemon reopens the port, whose rings are laid out for the MTU).
        Sh.Run($"ip -n {pair.InitiatorNs} link set {pair.InitiatorIf} mtu 9000");
        Sh.Run($"ip -n {pair.TargetNs} link set {pair.TargetIf} mtu 9000");
        long mtuAt = Stopwatch.GetTimestamp();
        TimeSpan mtu = Resumed(load, mtuAt, rig, "MTU 1500 -> 9000");

        Thread.Sleep(1000);
        load.StopAndVerifyAll();
        _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"resumed after down/up in {downUp.TotalMilliseconds:F0} ms, after re-create in {recreate.TotalMilliseconds:F0} ms, after the MTU change in {mtu.TotalMilliseconds:F0} ms; " +
            $"{load.Reads} reads, {load.Writes} writes, {load.Retransmits} retransmits, {load.Reopens} socket opens"));
        Assert.True(load.Failures.Count == 0, string.Join("\n", load.Failures) + "\n" + rig.Log);
        Assert.True(load.Writes > 100 && load.Reads > 100, $"too little load: {load.Reads} reads, {load.Writes} writes");
        Assert.Equal(0, rig.Stop());
        Assert.True(model.AsSpan().SequenceEqual(System.IO.File.ReadAllBytes(disk)), "the backing file differs from the model");
        // The daemon followed the link: three detaches (deleting a link first takes it down, so that one
        // says "link down" too), and four attaches (start, up, re-created, new MTU).
        _output.WriteLine(rig.Log);
        Assert.Equal(3, rig.LogLines($"{pair.TargetIf}: no longer serving"));
        Assert.Equal(1, rig.LogLines($"{pair.TargetIf}: no longer serving (MTU changed to 9000)"));
        Assert.Equal(4, rig.LogLines($"{pair.TargetIf}: serving AoE"));
    }

    private TimeSpan Resumed(VerifyWorkload load, long since, FaultRig rig, string what)
    {
        long t = load.WaitForSuccessAfter(since, TimeSpan.FromSeconds(15));
        Assert.True(t >= 0, $"no answer within 15 s after {what}:\n{rig.Log}");
        TimeSpan took = TimeSpan.FromSeconds((double)(t - since) / Stopwatch.Frequency);
        _output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: first answer {took.TotalMilliseconds:F0} ms after the link returned"));
        Assert.True(took < ResumeLimit, $"{what}: the first answer came {took.TotalMilliseconds:F0} ms after the link returned (limit {ResumeLimit.TotalMilliseconds} ms)\n{rig.Log}");
        return took;
    }

    /// <summary>The MAC of a link (ip netns exec mounts that namespace's sysfs).</summary>
    private static string Mac(string netns, string ifname)
        => Sh.Run($"ip netns exec {netns} cat /sys/class/net/{ifname}/address").Trim();
}
