using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Ggaoed.Daemon;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.DataPath;

/// <summary>
/// trace-io (ggaoed 1.1's per-request log): every command a traced device receives is one Info line
/// with its result: ATA I/O with its completion, IDENTIFY, FLUSH, Query Config, Mac Mask, Reserve,
/// unknown commands, and requests left unanswered. -d traces every device. In the data-path
/// collection: it watches the process-wide log (<see cref="Log.Observer"/>).
/// </summary>
[Collection(DataPathCollection.Name)]
public class TraceIoTests(ITestOutputHelper output)
{
    private const int DiskSectors = 1024;

    private sealed class LogLines : IDisposable
    {
        private readonly List<string> _lines = new();

        public LogLines() => Log.Observer = (level, message) =>
        {
            if (level == LogLevel.Info)
                lock (_lines)
                    _lines.Add(message);
        };

        public List<string> Of(string device)
        {
            lock (_lines)
                return _lines.Where(l => l.StartsWith(device + ": ", StringComparison.Ordinal)).ToList();
        }

        public void Dispose() => Log.Observer = null;
    }

    private static byte[] Frame(AoeClient client, DiscoveredTarget t, byte command, uint tag, params byte[] argument)
    {
        var frame = new byte[AoeWire.MinFrame];
        AoeWire.WriteHeader(frame, t.Mac, client.Socket.Mac, t.Shelf, t.Slot, command, tag);
        argument.CopyTo(frame, AoeWire.HeaderLength);
        return frame;
    }

    /// <summary>Sends a frame and waits for its answer (a frame with its tag), or a moment for none.</summary>
    private static void Exchange(AoeClient client, byte[] frame, bool answered)
    {
        uint tag = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(20));
        client.Socket.Send(frame);
        List<byte[]> got = Answers.Collect(client.Socket,
            f => AoeWire.TryParseResponse(f, out AoeResponseHeader h) && h.Tag == tag, answered ? 1 : 0, TimeSpan.FromMilliseconds(200));
        Assert.Equal(answered ? 1 : 0, got.Count);
    }

    /// <summary>Waits until <paramref name="lines"/> has a line containing every part (log lines of completions may lag a little).</summary>
    private static string Line(LogLines lines, string device, params string[] parts)
    {
        for (int i = 0; i < 100; i++)
        {
            string? hit = lines.Of(device).FirstOrDefault(l => parts.All(p => l.Contains(p, StringComparison.Ordinal)));
            if (hit != null)
                return hit;
            System.Threading.Thread.Sleep(20);
        }
        throw new Xunit.Sdk.XunitException($"no trace line of {device} with [{string.Join("] [", parts)}] in:\n{string.Join("\n", lines.Of(device))}");
    }

    [RootFact]
    public void TraceIo_LogsEveryCommand_WithItsResult_OneLineEach()
    {
        using var veth = new VethPair("dtr");
        using var scratch = new Scratch("trace");
        using var lines = new LogLines();
        string traced = scratch.CreateDisk("t.img", DiskSectors, seed: 1);
        string quiet = scratch.CreateDisk("q.img", DiskSectors, seed: 2);
        using var target = DataPathTests.Start(veth, scratch, veth.TargetIf,
            new TestDevice("traced", traced, 21, 1) { TraceIo = true }, new TestDevice("quiet", quiet, 21, 2));
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        List<DiscoveredTarget> found = Initiator.Discover(client, 2);
        DiscoveredTarget t = Initiator.Find(found, 21, 1);
        DiscoveredTarget q = Initiator.Find(found, 21, 2);

        byte[] data = Scratch.Pattern(1024, seed: 3);
        client.Write(t, 10, data);
        client.Read(t, 10, new byte[1024]);
        client.Execute(t, 0xEA, write: false, 0, 0, ReadOnlySpan<byte>.Empty, Span<byte>.Empty); // FLUSH CACHE EXT
        Assert.Throws<AtaErrorException>(() => client.Read(t, DiskSectors + 5, new byte[1024]));
        Exchange(client, Frame(client, t, 2, 0x71), answered: true);               // Mac Mask read
        Exchange(client, Frame(client, t, 3, 0x72), answered: true);               // Reserve/Release read
        Exchange(client, Frame(client, t, 7, 0x73), answered: true);               // no such AoE command
        Exchange(client, Frame(client, t, 1, 0x74, 0, 0, 0, 0, 0, 0x11, 0, 1, (byte)'x'), answered: false); // config test: no match
        client.Write(q, 10, data);
        client.Read(q, 10, new byte[1024]);

        Line(lines, "traced", "Query Config read", "answered");
        Line(lines, "traced", "IDENTIFY DEVICE", "ATA status 0x40 (ok)");
        Line(lines, "traced", "WRITE SECTORS", "lba 10 sectors 2", ": ok");
        Line(lines, "traced", "READ SECTORS", "lba 10 sectors 2", ": ok");
        Line(lines, "traced", "FLUSH CACHE EXT", ": ok");
        Line(lines, "traced", "READ SECTORS", $"lba {DiskSectors + 5}", "ATA status 0x41 error 0x10 (IDNF)");
        Line(lines, "traced", "Mac Mask read", "tag 0x00000071", "answered");
        Line(lines, "traced", "Reserve/Release read", "tag 0x00000072", "answered");
        Line(lines, "traced", "AoE command 0x07", "tag 0x00000073", "AoE error 1 (unrecognized command)");
        Line(lines, "traced", "Query Config test", "tag 0x00000074", "no answer");
        target.Stop();
        foreach (string l in lines.Of("traced"))
            output.WriteLine(l);
        // One line per command: the write, say, is logged once, with its result.
        Assert.Single(lines.Of("traced"), l => l.Contains("WRITE SECTORS", StringComparison.Ordinal));
        // Without trace-io (and without -d) a device logs nothing per command.
        Assert.DoesNotContain(lines.Of("quiet"), l => l.Contains(" tag 0x", StringComparison.Ordinal));
    }

    [RootFact]
    public void DashD_TracesEveryDevice()
    {
        using var veth = new VethPair("dtd");
        using var scratch = new Scratch("traced");
        using var lines = new LogLines();
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 4);
        string file = scratch.PathOf("ggaoed.conf");
        string text = TestConfig.Text(scratch, veth.TargetIf, [new TestDevice("plain", disk, 22, 1)]);
        File.WriteAllText(file, text);
        using var target = new InProcessTarget(veth.TargetNs, TestConfig.Load(text, file), options: o => o.Debug = true);
        using AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 22, 1);

        client.Read(t, 3, new byte[1024]);
        Line(lines, "plain", "READ SECTORS", "lba 3 sectors 2", ": ok");
        Line(lines, "plain", "IDENTIFY DEVICE", "(ok)");
        target.Stop();
    }
}
