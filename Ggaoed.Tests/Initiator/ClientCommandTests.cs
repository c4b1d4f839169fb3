using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text.Json;
using Ggaoed.Ctl;
using Ggaoed.Initiator;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// <c>ggaoectl discover</c>, <c>bench</c> and <c>null-target</c> as users run them: the published binary
/// (<c>ggaoed ctl ...</c>) in a namespace, against an in-process peer over veth.
/// </summary>
public sealed class ClientCommandTests
{
    private static string Ctl(string netns, string args, int timeoutMs = 60_000) =>
        Sh.Run($"ip netns exec {netns} {PublishedBinary.Get().BinaryPath} ctl {args}", timeoutMs: timeoutMs);

    [RootFact]
    public void Discover_PrintsTheNullTargetRow_AndJson()
    {
        using var pair = new VethPair("ic", 9000);
        string tif = pair.TargetIf;
        using var target = InNetNs.Run(pair.TargetNs, () => new NullTarget(PacketSocket.Open(tif), 12, 34, 1 << 20));
        target.ConfigString = "hello";
        target.Start();

        string table = Ctl(pair.InitiatorNs, $"discover {pair.InitiatorIf} --timeout 2");
        Assert.Matches(@"^shelf\.slot\s+MAC\s+size\s+sectors/frame\s+bufcnt\s+fw\s+config-string\n12\.34\s+[0-9a-f:]{17}\s+512\.0 MiB\s+17\s+64\s+0x0200\s+hello\n$", table);

        using JsonDocument doc = JsonDocument.Parse(Ctl(pair.InitiatorNs, $"--json discover {pair.InitiatorIf} --timeout 0.5"));
        JsonElement t = Assert.Single(doc.RootElement.EnumerateArray());
        Assert.Equal(12, t.GetProperty("shelf").GetInt32());
        Assert.Equal(34, t.GetProperty("slot").GetInt32());
        Assert.Equal(1 << 20, t.GetProperty("sectors").GetInt64());
        Assert.Equal("ggaoed null target", t.GetProperty("model").GetString());
    }

    [RootFact]
    public void Bench_ReportsRequestsAndLatency_AsJson()
    {
        using var pair = new VethPair("ic", 1500);
        string tif = pair.TargetIf;
        using var target = InNetNs.Run(pair.TargetNs, () => new NullTarget(PacketSocket.Open(tif), 1, 1, 1 << 21));
        target.Start();

        string json = Ctl(pair.InitiatorNs, $"bench {pair.InitiatorIf} --target 1.1 --depth 4 --rw randwrite --duration 0.5 --json");
        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement r = doc.RootElement;
        Assert.Equal("1.1", r.GetProperty("target").GetString());
        Assert.Equal("randwrite", r.GetProperty("rw").GetString());
        Assert.Equal(1024, r.GetProperty("bytes_per_request").GetInt32()); // (1500 - 36) / 512 = 2 sectors
        Assert.True(r.GetProperty("requests").GetInt64() > 0);
        Assert.Equal(0, r.GetProperty("errors").GetInt64());
        JsonElement lat = r.GetProperty("lat_us");
        Assert.True(lat.GetProperty("p50").GetDouble() <= lat.GetProperty("p99").GetDouble());
        Assert.True(lat.GetProperty("p99").GetDouble() <= lat.GetProperty("max").GetDouble());
    }

    [RootFact]
    public void Bench_UnknownTarget_FailsWithAMessage()
    {
        using var pair = new VethPair("ic", 1500);
        var psi = new ProcessStartInfo("ip", $"netns exec {pair.InitiatorNs} {PublishedBinary.Get().BinaryPath} ctl bench {pair.InitiatorIf} --target 3.3 --duration 0.2")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using Process p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(30_000));
        Assert.Equal(1, p.ExitCode);
        Assert.Contains("no answer from e3.3", err);
    }

    [RootFact]
    public void NullTargetCommand_AnswersTheClient_AndStopsOnSigterm()
    {
        using var pair = new VethPair("ic", 9000);
        var psi = new ProcessStartInfo("ip", $"netns exec {pair.TargetNs} {PublishedBinary.Get().BinaryPath} ctl null-target {pair.TargetIf} --shelf 4 --slot 5 --size-mib 8")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using Process p = Process.Start(psi)!;
        try
        {
            string iif = pair.InitiatorIf;
            using var client = InNetNs.Run(pair.InitiatorNs, () => new AoeClient(iif));
            List<DiscoveredTarget> found = client.DiscoverUntil(f => f.Count > 0, TimeSpan.FromMilliseconds(250), attempts: 40);
            Assert.NotEmpty(found);
            DiscoveredTarget t = found[0];
            Assert.Equal(4, t.Shelf);
            Assert.Equal(5, t.Slot);
            Assert.Equal(8UL * 2048, t.Sectors);
            byte[] buf = new byte[17 * 512];
            buf.AsSpan().Fill(0xA5);
            client.Write(t, 100, buf);
            client.Read(t, 100, buf);
            Assert.All(buf, b => Assert.Equal(0, b));

            Sh.Run($"kill -TERM {p.Id}");
            Assert.True(p.WaitForExit(5_000), "null-target did not stop on SIGTERM");
            Assert.Equal(0, p.ExitCode);
            Assert.Contains("requests", p.StandardOutput.ReadToEnd());
        }
        finally
        {
            if (!p.HasExited)
                p.Kill(entireProcessTree: true);
        }
    }
}
