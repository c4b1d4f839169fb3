using System;
using System.Diagnostics;
using System.IO;
using Ggaoed.Initiator;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// The initiator against the published ggaoed daemon over veth. The initiator's codec was written
/// independently of the daemon's protocol engine, so these tests catch a misreading of AoEr11 on
/// either side (the vblade tests tell which side is wrong).
/// </summary>
public sealed class ClientGgaoedTests
{
    private const long FileBytes = 64L << 20;

    private sealed class DaemonRig : IDisposable
    {
        public readonly VethPair Pair;
        public readonly string Dir;
        public readonly string File;
        public readonly Process Daemon;
        public readonly AoeClient Client;
        private readonly System.Text.StringBuilder _log = new();

        public DaemonRig(int mtu)
        {
            string binary = PublishedBinary.Get().BinaryPath;
            Pair = new VethPair("ig", mtu);
            Dir = Directory.CreateTempSubdirectory("gg-init-daemon-").FullName;
            File = Path.Combine(Dir, "disk.img");
            try
            {
                using (var fs = new FileStream(File, FileMode.CreateNew))
                    fs.SetLength(FileBytes); // sparse
                string conf = Path.Combine(Dir, "ggaoed.conf");
                System.IO.File.WriteAllText(conf,
                    "[defaults]\n" +
                    $"interfaces = {Pair.TargetIf}\n" +
                    $"pid-file = {Dir}/ggaoed.pid\n" +
                    $"control-socket = {Dir}/ggaoed.sock\n" +
                    $"state-directory = {Dir}/state\n" +
                    "\n[disk]\n" +
                    $"path = {File}\n" +
                    "shelf = 9\n" +
                    "slot = 2\n");
                var psi = new ProcessStartInfo("ip", $"netns exec {Pair.TargetNs} {binary} -f -c {conf}")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                Daemon = new Process { StartInfo = psi };
                Daemon.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
                Daemon.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
                Daemon.Start();
                Daemon.BeginOutputReadLine();
                Daemon.BeginErrorReadLine();
                string iif = Pair.InitiatorIf;
                Client = InNetNs.Run(Pair.InitiatorNs, () => new AoeClient(iif));
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public string Log
        {
            get
            {
                lock (_log)
                    return _log.ToString();
            }
        }

        public DiscoveredTarget DiscoverOne()
        {
            var found = Client.DiscoverUntil(f => f.Count > 0 || Daemon.HasExited, TimeSpan.FromMilliseconds(250), attempts: 40);
            if (found.Count > 0)
                return Assert.Single(found);
            Assert.False(Daemon.HasExited, "ggaoed exited:\n" + Log);
            throw new Xunit.Sdk.XunitException("ggaoed did not answer discovery:\n" + Log);
        }

        public void Dispose()
        {
            Client?.Dispose();
            if (Daemon != null)
            {
                if (!Daemon.HasExited)
                {
                    // ip netns exec execs the daemon: this pid is ggaoed's. SIGTERM = graceful stop.
                    Sh.Run($"kill -TERM {Daemon.Id}", check: false);
                    if (!Daemon.WaitForExit(10_000))
                        Daemon.Kill(entireProcessTree: true);
                    Daemon.WaitForExit();
                }
                Daemon.Dispose();
            }
            Pair?.Dispose();
            if (Dir != null)
                Directory.Delete(Dir, recursive: true);
        }
    }

    [RootTheory]
    [InlineData(1500)]
    [InlineData(9000)]
    public void Discover_FindsGgaoed_WithTheFileSize_AndAFrameSizeForTheMtu(int mtu)
    {
        using var rig = new DaemonRig(mtu);
        DiscoveredTarget t = rig.DiscoverOne();
        Assert.Equal(9, t.Shelf);
        Assert.Equal(2, t.Slot);
        Assert.NotNull(t.Identify);
        Assert.Equal((ulong)(FileBytes / 512), t.Sectors);
        Assert.True(t.Config.BufferCount >= 2, $"bufcnt {t.Config.BufferCount}: Linux needs at least 2");
        Assert.Equal(AoeWire.SectorsForMtu(mtu), t.MaxSectorsPerFrame(rig.Client.Mtu));
    }

    [RootTheory]
    [InlineData(1500, true)]
    [InlineData(9000, true)]
    [InlineData(9000, false)]
    public void WrittenData_ReadsBack_AndIsInTheFileAtLbaTimes512(int mtu, bool lba48)
    {
        using var rig = new DaemonRig(mtu);
        DiscoveredTarget found = rig.DiscoverOne();
        DiscoveredTarget t = lba48 ? found : ClientChecks.AsLba28(found);
        ClientChecks.WrittenDataReadsBackAndIsInTheFile(rig.Client, t, rig.File, seed: 77 + mtu);
    }

    [RootFact]
    public void ReadAndWritePastTheEnd_AreAtaErrors()
    {
        using var rig = new DaemonRig(9000);
        DiscoveredTarget t = rig.DiscoverOne();
        AtaErrorException e = Assert.Throws<AtaErrorException>(() => rig.Client.Read(t, t.Sectors - 1, new byte[1024]));
        Assert.True(AoeWire.IsAtaFailure(e.Status));
        Assert.Throws<AtaErrorException>(() => rig.Client.Write(t, t.Sectors, new byte[512]));
    }

    [RootTheory]
    [InlineData(BenchPattern.RandRead)]
    [InlineData(BenchPattern.RandWrite)]
    [InlineData(BenchPattern.SeqWrite)]
    public void Pipeline_Depth16_CompletesWithoutErrors(BenchPattern pattern)
    {
        using var rig = new DaemonRig(9000);
        DiscoveredTarget t = rig.DiscoverOne();
        var pipe = new AoePipeline(rig.Client.Socket, t, depth: 16, sectors: t.MaxSectorsPerFrame(rig.Client.Mtu), pattern, 0, t.Sectors)
        {
            // Generous: the CI machine is shared; this test is about correctness, not speed. The drain
            // ends as soon as the last answer comes; it must outlast a retransmit or two.
            RetransmitTimeout = TimeSpan.FromSeconds(1),
            DrainTimeout = TimeSpan.FromSeconds(30),
        };
        PipelineResult r = pipe.Run(TimeSpan.FromSeconds(60), maxRequests: 3000);
        Assert.Equal(3000, r.Completed);
        Assert.Equal(0, r.Errors);
    }
}
