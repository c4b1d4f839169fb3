using System;
using System.Diagnostics;
using System.IO;
using System.Threading;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// The client against Debian's vblade (an independent AoE target) on a sparse file: discovery, size,
/// and data written through AoE landing at the right offsets of the file.
/// </summary>
public sealed class ClientVbladeTests
{
    private const long FileBytes = 64L << 20;

    private sealed class VbladeRig : IDisposable
    {
        public readonly VethPair Pair;
        public readonly string File;
        public readonly Process Vblade;
        public readonly AoeClient Client;

        public VbladeRig(int mtu)
        {
            if (!System.IO.File.Exists("/usr/sbin/vblade"))
                Sh.Run("DEBIAN_FRONTEND=noninteractive apt-get install -y vblade", timeoutMs: 300_000);
            Pair = new VethPair("iv", mtu);
            File = Path.Combine(Path.GetTempPath(), $"gg-init-vblade-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
            try
            {
                using (var fs = new FileStream(File, FileMode.CreateNew))
                    fs.SetLength(FileBytes); // sparse
                Vblade = Process.Start(new ProcessStartInfo("ip", $"netns exec {Pair.TargetNs} /usr/sbin/vblade 5 6 {Pair.TargetIf} {File}")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                })!;
                Vblade.StandardOutput.ReadToEndAsync();
                Vblade.StandardError.ReadToEndAsync();
                string iif = Pair.InitiatorIf;
                Client = InNetNs.Run(Pair.InitiatorNs, () => new AoeClient(iif));
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>vblade needs a moment to open its socket: retry discovery briefly.</summary>
        public DiscoveredTarget DiscoverOne()
        {
            var found = Client.DiscoverUntil(f => f.Count > 0 || Vblade.HasExited, TimeSpan.FromMilliseconds(250), attempts: 20);
            if (found.Count > 0)
                return Assert.Single(found);
            Assert.False(Vblade.HasExited, "vblade exited");
            throw new Xunit.Sdk.XunitException("vblade did not answer discovery");
        }

        public void Dispose()
        {
            Client?.Dispose();
            if (Vblade != null && !Vblade.HasExited)
            {
                Vblade.Kill(entireProcessTree: true);
                Vblade.WaitForExit(5000);
            }
            Vblade?.Dispose();
            Pair?.Dispose();
            if (File != null)
                System.IO.File.Delete(File);
        }
    }

    [RootTheory]
    [InlineData(1500)]
    [InlineData(9000)]
    public void Discover_FindsVblade_WithTheFileSize(int mtu)
    {
        using var rig = new VbladeRig(mtu);
        DiscoveredTarget t = rig.DiscoverOne();
        Assert.Equal(5, t.Shelf);
        Assert.Equal(6, t.Slot);
        Assert.NotNull(t.Identify);
        Assert.Equal((ulong)(FileBytes / 512), t.Sectors);
        Assert.True(t.Config.BufferCount >= 2);
        Assert.Equal(AoeWire.SectorsForMtu(mtu), t.MaxSectorsPerFrame(rig.Client.Mtu));
    }

    [RootTheory]
    [InlineData(1500, true)]
    [InlineData(9000, true)]
    [InlineData(9000, false)]
    public void WrittenData_ReadsBack_AndIsInTheFileAtLbaTimes512(int mtu, bool lba48)
    {
        using var rig = new VbladeRig(mtu);
        DiscoveredTarget found = rig.DiscoverOne();
        DiscoveredTarget t = lba48 ? found : ClientChecks.AsLba28(found);
        ClientChecks.WrittenDataReadsBackAndIsInTheFile(rig.Client, t, rig.File, seed: 1234 + mtu);
    }

    [RootFact]
    public void ReadPastTheEnd_ReportsTheAtaError()
    {
        using var rig = new VbladeRig(9000);
        DiscoveredTarget t = rig.DiscoverOne();
        AtaErrorException e = Assert.Throws<AtaErrorException>(() => rig.Client.Read(t, t.Sectors, new byte[512]));
        Assert.True(AoeWire.IsAtaFailure(e.Status));
    }

    [RootFact]
    public void Pipeline_AgainstVblade_CompletesWithoutErrors()
    {
        using var rig = new VbladeRig(9000);
        DiscoveredTarget t = rig.DiscoverOne();
        var pipe = new AoePipeline(rig.Client.Socket, t, depth: 8, sectors: t.MaxSectorsPerFrame(rig.Client.Mtu), BenchPattern.RandWrite, 0, t.Sectors)
        {
            // The drain ends as soon as the last answer comes; on a shared machine it must outlast a
            // retransmit or two of vblade's slower answers (this test is about correctness, not speed).
            DrainTimeout = TimeSpan.FromSeconds(30),
        };
        PipelineResult r = pipe.Run(TimeSpan.FromSeconds(30), maxRequests: 2000);
        Assert.Equal(2000, r.Completed);
        Assert.Equal(0, r.Errors);
    }
}
