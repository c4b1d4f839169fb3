using System;
using System.Globalization;
using System.IO;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Faults;

/// <summary>
/// I/O errors of the backing store, made for real under the published daemon: a file truncated while
/// exported (reads past the new end come back short, which the daemon must treat as an error), and a
/// loop device over a file on a tiny tmpfs that fills up (writes fail with ENOSPC). The initiator must
/// get ATA error status at once (a timeout would make Linux retry for aoe_deadsecs), another device of
/// the same daemon must keep serving correctly in between, and the log must carry one line per burst
/// (LogLimiter), not one per failed request: a second burst after the limiter's 10 s window adds one
/// line, which counts the errors the first one stood for. That second burst is of ENOSPC writes: the
/// daemon re-reads the truncated file's size within 5 s (its periodic check), after which reads past
/// the new end are refused with IDNF before any I/O, and no I/O error is logged for them.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class BackingStoreErrorTests
{
    private const int Burst = 200;
    private readonly ITestOutputHelper _output;

    public BackingStoreErrorTests(ITestOutputHelper output) => _output = output;

    [RootFact]
    public void TruncatedFileAndFullFilesystem_GiveAtaErrorsAtOnce_OtherDeviceKeepsServing_AndOneLogLinePerBurst()
    {
        string tmpfs = Path.Combine("/var/tmp", $"ggaoed-faults-tmpfs-{Environment.ProcessId}");
        string? loop = null;
        bool mounted = false;
        using var rig = new FaultRig("bs", mtu: 9000);
        try
        {
            Directory.CreateDirectory(tmpfs);
            Sh.Run($"mount -t tmpfs -o size=2m ggaoed-faults {tmpfs}");
            mounted = true;
            string backing = Path.Combine(tmpfs, "full.img");
            using (var f = new FileStream(backing, FileMode.CreateNew))
                f.SetLength(32 << 20); // sparse: 32 MiB of address space, 2 MiB of room
            loop = Sh.Run($"losetup -f --show {backing}").Trim();

            string good = rig.RandomDisk("good.img", 4 << 20, seed: 7, out byte[] goodModel);
            string shrunk = rig.RandomDisk("shrunk.img", 8 << 20, seed: 8, out _);
            rig.WriteConfig(
                $"[good]\npath = {good}\nshelf = 4\nslot = 1\n\n" +
                $"[shrunk]\npath = {shrunk}\nshelf = 4\nslot = 2\n\n" +
                $"[full]\npath = {loop}\nshelf = 4\nslot = 3\n");
            rig.Start();
            using AoeClient client = rig.Client();
            // "No retransmits" below must mean "answered, not lost", never "slow on a busy machine".
            client.RequestTimeout = TimeSpan.FromSeconds(5);
            DiscoveredTarget goodT = FaultRig.Discover(client, 4, 1);
            DiscoveredTarget shrunkT = FaultRig.Discover(client, 4, 2);
            DiscoveredTarget fullT = FaultRig.Discover(client, 4, 3);
            int per = fullT.MaxSectorsPerFrame(client.Mtu);
            var rnd = new Random(3);
            int goodChecks = 0;

            // Between failures the other device must serve: a write and a read-back on "good" each time.
            void GoodStillServes()
            {
                int n = rnd.Next(1, per + 1);
                long lba = rnd.NextInt64(0, goodModel.Length / 512 - n);
                byte[] data = new byte[n * 512];
                rnd.NextBytes(data);
                client.Write(goodT, (ulong)lba, data);
                data.CopyTo(goodModel, lba * 512);
                byte[] back = new byte[n * 512];
                client.Read(goodT, (ulong)lba, back);
                Assert.Equal(data, back);
                goodChecks++;
            }

            Stats before = rig.Stats();

            // 1. Truncate "shrunk" to 2 MiB under the daemon: reads of its last 6 MiB come back short.
            using (var f = new FileStream(shrunk, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
                f.SetLength(2 << 20);
            long retransmitsBefore = client.Retransmits;
            for (int i = 0; i < Burst; i++)
            {
                ulong lba = (ulong)rnd.NextInt64(4096, (8 << 20) / 512 - per);
                AtaErrorException e = Assert.Throws<AtaErrorException>(() => client.Read(shrunkT, lba, new byte[per * 512]));
                Assert.True(AoeWire.IsAtaFailure(e.Status), $"status 0x{e.Status:x2}");
                if (i % 10 == 0)
                    GoodStillServes();
            }
            // Answered on the first attempt every time: an error, never a timeout.
            Assert.Equal(retransmitsBefore, client.Retransmits);

            // 2. Fill the 2 MiB tmpfs under the loop device: sequential writes, each touching fresh pages.
            byte[] chunk = new byte[per * 512];
            rnd.NextBytes(chunk);
            ulong next = 0;
            int written = 0;
            while (true)
            {
                try
                {
                    client.Write(fullT, next, chunk);
                    written++;
                    next += (ulong)per;
                    Assert.True(written < 2000, "the 2 MiB tmpfs never filled up");
                }
                catch (AtaErrorException)
                {
                    break;
                }
            }
            var firstBurstAt = System.Diagnostics.Stopwatch.StartNew();
            int fullErrors = 1;
            retransmitsBefore = client.Retransmits;
            for (int i = 0; i < Burst - 1; i++)
            {
                next += (ulong)per;
                AtaErrorException e = Assert.Throws<AtaErrorException>(() => client.Write(fullT, next, chunk));
                Assert.True(AoeWire.IsAtaFailure(e.Status), $"status 0x{e.Status:x2}");
                fullErrors++;
                if (i % 10 == 0)
                    GoodStillServes();
            }
            Assert.Equal(retransmitsBefore, client.Retransmits);
            // What was written before the filesystem filled reads back.
            byte[] first = new byte[per * 512];
            client.Read(fullT, 0, first);
            Assert.Equal(chunk, first);

            // 3. A second burst of ENOSPC writes once LogLimiter's 10 s window has passed: one more line,
            //    which tells how many errors the first one stood for.
            TimeSpan wait = TimeSpan.FromSeconds(10.5) - firstBurstAt.Elapsed;
            if (wait > TimeSpan.Zero)
                System.Threading.Thread.Sleep(wait);
            for (int i = 0; i < Burst; i++)
            {
                next += (ulong)per;
                Assert.Throws<AtaErrorException>(() => client.Write(fullT, next, chunk));
            }

            Stats after = rig.Stats();
            _output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{written} writes fit the tmpfs; {Burst} short reads and {fullErrors} ENOSPC writes answered with ATA errors; {goodChecks} write+read checks on the good device"));
            Assert.Equal(Burst, after.Device("shrunk", "errors") - before.Device("shrunk", "errors"));
            Assert.Equal(fullErrors + Burst, after.Device("full", "errors") - before.Device("full", "errors"));
            Assert.Equal(0, after.Device("good", "errors") - before.Device("good", "errors"));

            Assert.Equal(0, rig.Stop());

            // One log line per burst, not one per request (each burst took well under LogLimiter's 10 s).
            // Read after the stop: the log pipe is drained only once the daemon has exited.
            _output.WriteLine(rig.Log);
            Assert.Equal(1, rig.LogLines("shrunk: Read"));
            Assert.Equal(2, rig.LogLines("full: Write"));
            Assert.Equal(1, rig.LogLines($"({fullErrors - 1} similar errors not logged)"));
            Assert.Equal(0, rig.LogLines("good:") - rig.LogLines("good: exporting"));
            Assert.True(goodModel.AsSpan().SequenceEqual(File.ReadAllBytes(good)), "the good device's file differs from what was written");
        }
        finally
        {
            rig.Stop();
            if (loop != null)
                Sh.Run($"losetup -d {loop}", check: false);
            if (mounted)
                Sh.Run($"umount -l {tmpfs}", check: false);
            try
            {
                Directory.Delete(tmpfs, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
