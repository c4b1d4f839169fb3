using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading;
using Ggaoed.Ctl;
using Ggaoed.Daemon;
using Ggaoed.Initiator;
using Ggaoed.Storage;
using Ggaoed.Tests.Protocol;
using Ggaoed.Tests.Storage;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.DataPath;

/// <summary>
/// The storage engines seen through the whole daemon: a slow device must not hold back another
/// device's answers, a store truncated under load, the engine choice and its fallback, and what
/// ggaoectl stats says about it.
/// </summary>
[Collection(DataPathCollection.Name)]
public class StorageEngineDataPathTests(ITestOutputHelper output)
{
    /// <summary>
    /// Device A is a loop device whose reads the block layer throttles to <see cref="SlowReadsPerSecond"/>
    /// (blkio throttling of this private device only; its page cache starts empty), exported buffered:
    /// every one of 64 random reads waits for it, about a second in all. Once the daemon holds them, one
    /// read of device B (tmpfs) is sent. With io_uring A's reads wait in the kernel, not in the reactor,
    /// so B's answer comes back before A's last one. (The same run with io-engine = aio answers B after
    /// all of A's: io_submit reads buffered data synchronously, and the reactor, the interface and B
    /// wait for it.) An ordering assertion: A's reads take a second, B's answer milliseconds.
    /// </summary>
    [RootTheory]
    [SlowDiskEngineData(RealEngines.Uring)]
    public void SlowReadsOfOneDevice_DoNotHoldBackAnotherDevicesAnswer(string engine)
    {
        const int reads = 64;
        using var veth = new VethPair("dph", 9000);
        using var scratch = new Scratch("hol");
        using var slow = ThrottledLoopDevice.Create(scratch.PathOf("slow.img"), 64 << 20, SlowReadsPerSecond);
        string fast = "/dev/shm/ggaoed-hol-" + Environment.ProcessId + ".img";
        File.WriteAllBytes(fast, Scratch.Pattern(4 << 20, seed: 6));
        try
        {
            using var target = DataPathTests.Start(veth, scratch, veth.TargetIf,
                new TestDevice("a", slow.Path, 20, 1) { DirectIo = false, IoEngine = engine, QueueLength = reads },
                new TestDevice("b", fast, 20, 2) { IoEngine = engine });
            DataPathTests.AssertEngine(target, "a", engine);
            using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
            List<DiscoveredTarget> found = Initiator.Discover(client, 2);
            DiscoveredTarget a = Initiator.Find(found, 20, 1);
            DiscoveredTarget b = Initiator.Find(found, 20, 2);
            slow.DropCache(); // what discovery's IDENTIFY may have left
            ExportedDevice deviceA = target.Device("a");
            long readsBefore = deviceA.Engine.Counters.ReadRequests;

            PacketSocket socket = client.Socket;
            socket.SetReceiveTimeout(100_000);
            var frame = new byte[9000];
            var rng = new Random(11);
            long lbaRange = (64L << 20) / 512 / 64; // 64 requests, each in its own 1 MiB: no readahead serves two
            for (int i = 0; i < reads; i++)
            {
                ulong lba = (ulong)(i * lbaRange + rng.NextInt64(0, lbaRange - 17));
                int n = AoeWire.BuildReadWrite(frame, a.Mac, socket.Mac, a.Shelf, a.Slot, 0x1000u + (uint)i, false, a.Lba48, 17, lba);
                socket.Send(frame.AsSpan(0, n));
            }
            // B's read goes once the daemon holds all of A's (they wait for the disk), not before.
            long until = Environment.TickCount64 + 10_000;
            while (Volatile.Read(ref deviceA.Engine.Counters.ImmediateReadMisses) < reads && Environment.TickCount64 < until)
                Thread.Sleep(1);
            Assert.Equal(reads, Volatile.Read(ref deviceA.Engine.Counters.ImmediateReadMisses));
            int m = AoeWire.BuildReadWrite(frame, b.Mac, socket.Mac, b.Shelf, b.Slot, 0x2000u, false, b.Lba48, 17, 100);
            socket.Send(frame.AsSpan(0, m));

            var order = new List<uint>();
            var rx = new byte[65536];
            until = Environment.TickCount64 + 30_000;
            while (order.Count < reads + 1 && Environment.TickCount64 < until)
            {
                int len = socket.Receive(rx);
                if (len <= 0 || !AoeWire.TryParseResponse(rx.AsSpan(0, len), out AoeResponseHeader h) || h.Command != AoeWire.CommandAta)
                    continue;
                Assert.False(AoeWire.IsAtaFailure(rx[27]), $"tag 0x{h.Tag:x}: ATA error");
                if (!order.Contains(h.Tag))
                    order.Add(h.Tag);
            }
            Assert.Equal(reads + 1, order.Count);
            int bAt = order.IndexOf(0x2000u);
            output.WriteLine($"{engine}: B answered as #{bAt + 1} of {reads + 1}");
            Assert.Equal(reads, deviceA.Engine.Counters.ReadRequests - readsBefore);
            Assert.True(bAt < reads - reads / 4, $"B's answer came as #{bAt + 1}, behind {bAt} of A's {reads} slow reads: the slow device held it back");
        }
        finally
        {
            File.Delete(fast);
        }
    }

    /// <summary>Reads per second the block layer lets through to the slow device (after a short initial burst).</summary>
    private const int SlowReadsPerSecond = 64;

    /// <summary>
    /// A store shrinks under load (an admin truncates the image): reads beyond the new end come back
    /// short or empty and are answered with an ATA error, every request is answered, nothing stops
    /// the engine, and another device keeps serving checked I/O meanwhile.
    /// </summary>
    [RootTheory]
    [EngineData(RealEngines.Aio, true)]
    [EngineData(RealEngines.Aio, false)]
    [EngineData(RealEngines.Uring, true)]
    [EngineData(RealEngines.Uring, false)]
    public void StoreTruncatedUnderLoad_ShortReadsAreAtaErrors_AndTheOtherDeviceKeepsServing(string engine, bool directIo)
    {
        const int sectors = 8192;
        using var veth = new VethPair("dpt", 9000);
        using var scratch = new Scratch("trunc");
        string shrinking = scratch.CreateDisk("s.img", sectors, seed: 81);
        string other = scratch.CreateDisk("o.img", sectors, seed: 82);
        byte[] model = File.ReadAllBytes(other);
        using var target = DataPathTests.Start(veth, scratch, veth.TargetIf,
            new TestDevice("s", shrinking, 21, 1) { IoEngine = engine, DirectIo = directIo },
            new TestDevice("o", other, 21, 2) { IoEngine = engine });
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        List<DiscoveredTarget> found = Initiator.Discover(client, 2);
        DiscoveredTarget ts = Initiator.Find(found, 21, 1);
        DiscoveredTarget to = Initiator.Find(found, 21, 2);

        using PacketSocket second = InNetNs.Run(veth.InitiatorNs, () => PacketSocket.Open(veth.InitiatorIf));
        var reads = new AoePipeline(second, ts, depth: 16, sectors: 17, BenchPattern.RandRead, 0, sectors, seed: 3);
        PipelineResult readResult = default;
        var reader = new Thread(() => readResult = reads.Run(TimeSpan.FromSeconds(3)));
        var load = new ModelCheckedLoad([new TargetPath(client.Socket, to)], model, depth: 16, maxSectors: 17, seed: 83);
        ModelResult? checkedResult = null;
        var checker = new Thread(() => checkedResult = load.Run(int.MaxValue, TimeSpan.FromSeconds(60)));
        reader.Start();
        checker.Start();
        Thread.Sleep(500);
        using (var f = new FileStream(shrinking, FileMode.Open, FileAccess.Write))
            f.SetLength(sectors / 2 * 512 + 700); // mid-sector: a read across it comes back short
        reader.Join();
        load.RequestStop();
        checker.Join();

        target.Stop();
        ExportedDevice s = target.Device("s");
        output.WriteLine($"{engine} direct {directIo}: reads {readResult.Completed} ({readResult.AtaErrors} ATA errors, {readResult.TimedOut} timed out); " +
                         $"device: {s.Counters.IoErrors} I/O errors, short transfers {s.Engine.Counters.ShortTransfers}; other: {checkedResult}");
        Assert.True(readResult.AtaErrors > 0, "no read past the new end got an ATA error");
        Assert.True(readResult.Completed > readResult.AtaErrors, "no read succeeded");
        Assert.Equal(0, readResult.TimedOut);
        Assert.Equal(readResult.AtaErrors, readResult.Errors);
        Assert.Null(s.Engine.FailureReason);
        Assert.True(checkedResult!.Failures.Count == 0, checkedResult.ToString());
        Assert.True(checkedResult.Completed > 100, checkedResult.ToString());
        Assert.Equal(0, target.Device("o").Counters.IoErrors);
    }

    /// <summary>
    /// io_uring refused (here: the probe's answer is given, as kernel.io_uring_disabled = 2 would make
    /// it): io-engine = auto falls back to Linux AIO with one log line naming the cause, however many
    /// devices; io-engine = io_uring refuses to open the device, naming it and the cause.
    /// </summary>
    [RootFact]
    public void IoUringRefused_AutoFallsBackWithOneLogLine_ExplicitIoUringDoesNotOpen()
    {
        var refused = new UringSupport(false, UringSupport.DescribeSetupFailure((int)Ggaoed.Native.Errno.EPERM, 2, null));
        using var veth = new VethPair("dpr");
        using var scratch = new Scratch("refused");
        string d1 = scratch.CreateDisk("1.img", 2048, seed: 1);
        string d2 = scratch.CreateDisk("2.img", 2048, seed: 2);
        var lines = new List<string>();
        Log.Observer = (_, message) =>
        {
            lock (lines)
                lines.Add(message);
        };
        try
        {
            string file = scratch.PathOf("ggaoed.conf");
            string text = TestConfig.Text(scratch, veth.TargetIf, [new TestDevice("one", d1, 22, 1), new TestDevice("two", d2, 22, 2)]);
            File.WriteAllText(file, text);
            using (var target = new InProcessTarget(veth.TargetNs, TestConfig.Load(text, file), uring: refused))
            {
                Assert.Equal(EngineKind.Aio, target.Device("one").Engine.Kind);
                Assert.Equal(EngineKind.Aio, target.Device("two").Engine.Kind);
                using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
                DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 2), 22, 1);
                var back = new byte[512];
                client.Read(t, 3, back);
                Assert.Equal(File.ReadAllBytes(d1).AsSpan(3 * 512, 512).ToArray(), back);
            }
            string[] fallback;
            lock (lines)
                fallback = lines.FindAll(l => l.Contains("io_uring is not available", StringComparison.Ordinal)).ToArray();
            string line = Assert.Single(fallback);
            Assert.Contains("kernel.io_uring_disabled = 2", line);
            Assert.Contains("Linux AIO", line);

            text = TestConfig.Text(scratch, veth.TargetIf, [new TestDevice("three", d1, 22, 3) { IoEngine = "io_uring" }]);
            File.WriteAllText(file, text);
            // The device is not exported, with the reason; the daemon itself starts (drop-in issue row 2).
            using (var target = new InProcessTarget(veth.TargetNs, TestConfig.Load(text, file), uring: refused))
            {
                string reason = Assert.Single(target.Daemon.NotExported, kv => kv.Key == "three").Value;
                output.WriteLine(reason);
                Assert.Contains("three: io-engine = io_uring, but io_uring is not available: io_uring_setup: ", reason);
                Assert.Contains("kernel.io_uring_disabled = 2", reason);
            }
        }
        finally
        {
            Log.Observer = null;
        }
    }

    /// <summary>
    /// io-engine = auto with io_uring available: a file on tmpfs gets Linux AIO (its memory copies in one
    /// io_submit cost less than io_uring's hand-off of each write to a kernel worker), with one log line
    /// naming the device; a file on a disk gets io_uring; io_uring asked for explicitly is kept on tmpfs.
    /// </summary>
    [RootTheory]
    [EngineData(RealEngines.Uring)]
    public void Auto_GivesATmpfsFileAio_ADiskFileIoUring_AndAnExplicitChoiceStands(string uring)
    {
        using var veth = new VethPair("dpt");
        using var scratch = new Scratch("memfs");
        string onDisk = scratch.CreateDisk("disk.img", 2048, seed: 1);
        string inMemory = "/dev/shm/ggaoed-auto-" + Environment.ProcessId + ".img";
        string inMemory2 = inMemory.Replace(".img", "-2.img");
        File.Copy(scratch.CreateDisk("mem.img", 2048, seed: 2), inMemory, overwrite: true);
        File.Copy(scratch.CreateDisk("mem2.img", 2048, seed: 3), inMemory2, overwrite: true);
        var lines = new List<string>();
        Log.Observer = (_, message) =>
        {
            lock (lines)
                lines.Add(message);
        };
        try
        {
            using var target = DataPathTests.Start(veth, scratch, veth.TargetIf,
                new TestDevice("disk", onDisk, 24, 1) { IoEngine = "auto" },
                new TestDevice("mem", inMemory, 24, 2) { IoEngine = "auto" },
                new TestDevice("memuring", inMemory2, 24, 3) { IoEngine = uring });
            Assert.Equal(EngineKind.IoUring, target.Device("disk").Engine.Kind);
            Assert.True(target.Device("mem").Store.InMemory);
            Assert.Equal(EngineKind.Aio, target.Device("mem").Engine.Kind);
            Assert.Equal(EngineKind.IoUring, target.Device("memuring").Engine.Kind);

            // The tmpfs device serves through AIO: a write, then the same sectors read back.
            using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
            DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 3), 24, 2);
            byte[] data = new byte[2 * 512];
            Random.Shared.NextBytes(data);
            client.Write(t, 10, data);
            var back = new byte[data.Length];
            client.Read(t, 10, back);
            Assert.Equal(data, back);
            Assert.True(target.Device("mem").Engine.Counters.IocbsSubmitted > 0, "the write did not go through the engine");

            string[] said;
            lock (lines)
                said = lines.FindAll(l => l.Contains("memory file system", StringComparison.Ordinal)).ToArray();
            string line = Assert.Single(said);
            Assert.StartsWith("mem: " + inMemory, line);
            Assert.Contains("Linux AIO", line);
        }
        finally
        {
            Log.Observer = null;
            File.Delete(inMemory);
            File.Delete(inMemory2);
        }
    }

    /// <summary>
    /// write-cache reaches the disk: with the cache off (the default, or configured) the engine writes
    /// with RWF_DSYNC (WriteThrough), with it on (configured, or turned on by an initiator's SET
    /// FEATURES) it does not, from the next write on (ggaoed.conf(5), write-cache).
    /// </summary>
    [RootTheory]
    [EngineData(RealEngines.Aio)]
    [EngineData(RealEngines.Uring)]
    public void WriteCache_FromTheConfigAndFromSetFeatures_DecidesWhetherTheEngineWritesDsync(string engine)
    {
        const byte AtaSetFeatures = 0xEF, EnableWriteCache = 0x02, DisableWriteCache = 0x82;
        using var veth = new VethPair("dpw");
        using var scratch = new Scratch("wcache");
        using var target = DataPathTests.Start(veth, scratch, veth.TargetIf,
            new TestDevice("free", scratch.CreateDisk("1.img", 2048, seed: 1), 25, 1) { IoEngine = engine },
            new TestDevice("on", scratch.CreateDisk("2.img", 2048, seed: 2), 25, 2) { IoEngine = engine, WriteCache = "true" },
            new TestDevice("off", scratch.CreateDisk("3.img", 2048, seed: 3), 25, 3) { IoEngine = engine, WriteCache = "false" });
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        var found = Initiator.Discover(client, 3);
        DiscoveredTarget[] t = [Initiator.Find(found, 25, 1), Initiator.Find(found, 25, 2), Initiator.Find(found, 25, 3)];
        var data = new byte[512];

        bool WritesDsync(string device, DiscoveredTarget to)
        {
            client.Write(to, 7, data); // the engine takes the setting when it submits
            return target.Device(device).Engine.WriteThrough;
        }
        (byte Status, byte Error) SetFeatures(DiscoveredTarget to, byte feature)
        {
            byte[] r = RawAoe.Ask(client.Socket, RawAoe.Address(AoeFrames.AtaFrame(0, feature, 0, AtaSetFeatures, 0), to.Mac, client.Mac, 25, to.Slot));
            return (r[27], r[25]);
        }

        Assert.True(WritesDsync("free", t[0]), "default (write cache off): not RWF_DSYNC");
        Assert.False(WritesDsync("on", t[1]), "write-cache = true: RWF_DSYNC");
        Assert.True(WritesDsync("off", t[2]), "write-cache = false: not RWF_DSYNC");

        Assert.Equal(((byte)0x40, (byte)0), SetFeatures(t[0], EnableWriteCache));
        Assert.False(WritesDsync("free", t[0]), "cache turned on by SET FEATURES: still RWF_DSYNC");
        Assert.Equal(((byte)0x41, (byte)0x04), SetFeatures(t[2], EnableWriteCache)); // pinned: ABRT
        Assert.True(WritesDsync("off", t[2]), "a refused SET FEATURES changed the pinned device");
        Assert.Equal(((byte)0x40, (byte)0), SetFeatures(t[0], DisableWriteCache));
        Assert.True(WritesDsync("free", t[0]), "cache turned off again: not RWF_DSYNC");
    }

    /// <summary>ggaoectl stats names each device's engine in text, --json and metrics (the info family).</summary>
    [RootTheory]
    [EngineData(RealEngines.Uring)]
    public void Stats_NameTheEngineOfEachDevice(string uring)
    {
        using var veth = new VethPair("dps");
        using var scratch = new Scratch("stats");
        string d1 = scratch.CreateDisk("1.img", 2048, seed: 1);
        string d2 = scratch.CreateDisk("2.img", 2048, seed: 2);
        using var target = DataPathTests.Start(veth, scratch, veth.TargetIf,
            new TestDevice("viaaio", d1, 23, 1) { IoEngine = "aio" }, new TestDevice("viauring", d2, 23, 2) { IoEngine = uring });
        string socket = scratch.PathOf("ggaoed.sock");

        string text = Ctl(socket, "stats");
        // The summary table's third column (device, target, engine, ...).
        Assert.Contains(text.Split('\n'), l => l.StartsWith("viaaio ", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2] == "aio");
        Assert.Contains(text.Split('\n'), l => l.StartsWith("viauring ", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2] == "io_uring");

        using (JsonDocument j = JsonDocument.Parse(Ctl(socket, "stats", "--json")))
        {
            var engines = new Dictionary<string, string>();
            foreach (JsonElement d in j.RootElement.GetProperty("devices").EnumerateArray())
                engines[d.GetProperty("name").GetString()!] = d.GetProperty("io_engine").GetString()!;
            Assert.Equal("aio", engines["viaaio"]);
            Assert.Equal("io_uring", engines["viauring"]);
        }

        string metrics = Ctl(socket, "metrics");
        Assert.Contains("ggaoed_device_info{device=\"viaaio\",io_engine=\"aio\"} 1\n", metrics);
        Assert.Contains("ggaoed_device_info{device=\"viauring\",io_engine=\"io_uring\"} 1\n", metrics);
    }

    private static string Ctl(string socket, params string[] words)
    {
        Assert.True(ControlClient.TryCall(socket, words, out bool ok, out string reply), reply);
        Assert.True(ok, reply);
        return reply;
    }
}

/// <summary>An <see cref="EngineDataAttribute"/> row that also needs <see cref="ThrottledLoopDevice"/> (skipped, saying why, without it).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class SlowDiskEngineDataAttribute : Xunit.Sdk.DataAttribute
{
    private readonly EngineDataAttribute _row;

    public SlowDiskEngineDataAttribute(string engine)
    {
        _row = new EngineDataAttribute(engine);
        Skip = _row.Skip ?? (ThrottledLoopDevice.Available ? null : "needs " + ThrottledLoopDevice.ThrottleFile + " (cgroup v1 blkio) to slow a loop device down");
    }

    public override IEnumerable<object[]> GetData(System.Reflection.MethodInfo testMethod) => _row.GetData(testMethod);
}

/// <summary>
/// A loop device over a new file whose reads the block layer throttles (cgroup v1 blkio, root group: it
/// applies to this private device only), for tests that need a disk that is slow for sure.
/// </summary>
internal sealed class ThrottledLoopDevice : IDisposable
{
    public const string ThrottleFile = "/sys/fs/cgroup/blkio/blkio.throttle.read_iops_device";

    public static bool Available => File.Exists(ThrottleFile);
    private readonly string _majorMinor;

    private ThrottledLoopDevice(string path, string majorMinor)
    {
        Path = path;
        _majorMinor = majorMinor;
    }

    public string Path { get; }

    public static ThrottledLoopDevice Create(string file, int bytes, int readsPerSecond)
    {
        File.WriteAllBytes(file, Scratch.Pattern(bytes, seed: 9));
        string dev = Sh.Run("losetup -f --show " + file).Trim();
        string mm = Sh.Run("lsblk -dno MAJ:MIN " + dev).Trim();
        var d = new ThrottledLoopDevice(dev, mm);
        try
        {
            File.WriteAllText(ThrottleFile, mm + " " + readsPerSecond);
            d.DropCache();
            return d;
        }
        catch
        {
            d.Dispose();
            throw;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int posix_fadvise(int fd, long offset, long len, int advice);

    /// <summary>POSIX_FADV_DONTNEED on the device: its next reads go to the (throttled) device.</summary>
    public void DropCache()
    {
        using SafeHandle h = File.OpenHandle(Path);
        Assert.Equal(0, posix_fadvise((int)h.DangerousGetHandle(), 0, 0, 4));
    }

    public void Dispose()
    {
        try
        {
            File.WriteAllText(ThrottleFile, _majorMinor + " 0"); // 0 removes the rule
        }
        catch (IOException)
        {
        }
        Sh.Run("losetup -d " + Path, check: false);
    }
}
