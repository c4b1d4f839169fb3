using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using Ggaoed.Daemon;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.DataPath;

/// <summary>
/// Retransmits of a request still held by the daemon (AOE-NOTES 16): a write waits in the queue for
/// merge-delay (1 s here, the most the config allows, standing in for a slow disk), and the
/// "initiator" sends it again with a new tag the way Linux does after a timeout. In the data-path
/// collection: whether a duplicate counts as a retransmit depends on how far apart the daemon sees the
/// two frames, so nothing CPU-heavy may run beside it.
/// </summary>
[Collection(DataPathCollection.Name)]
public class RetransmitFoldingTests(ITestOutputHelper output)
{
    // Wide enough that a stalled test thread or reactor cannot push the duplicate out of it: the
    // daemon folds a duplicate that comes between 10 ms and this long after the original.
    private const double MergeDelaySeconds = 1;
    private const int DiskSectors = 4096;
    private const byte Sectors = 2;

    private sealed record Fixture(VethPair Veth, Scratch Scratch, InProcessTarget Target, AoeClient Client, DiscoveredTarget T, string Disk) : IDisposable
    {
        public void Dispose()
        {
            Client.Dispose();
            Target.Dispose();
            Scratch.Dispose();
            Veth.Dispose();
        }
    }

    private static Fixture Start(string tag)
    {
        var veth = new VethPair(tag);
        var scratch = new Scratch("fold" + tag);
        string disk = scratch.CreateDisk("d.img", DiskSectors, seed: 90);
        InProcessTarget target = DataPathTests.Start(veth, scratch, veth.TargetIf, $"max-delay = {MergeDelaySeconds}",
            new TestDevice("d", disk, 7, 1) { MergeDelay = MergeDelaySeconds });
        AoeClient client = Initiator.Client(veth.InitiatorNs, veth.InitiatorIf);
        DiscoveredTarget t = Initiator.Find(Initiator.Discover(client, 1), 7, 1);
        return new Fixture(veth, scratch, target, client, t, disk);
    }

    private static byte[] WriteFrame(Fixture f, uint tag, ulong lba, byte fill)
    {
        var frame = new byte[AoeWire.AtaHeaderLength + Sectors * 512];
        int n = AoeWire.BuildReadWrite(frame, f.T.Mac, f.Client.Socket.Mac, f.T.Shelf, f.T.Slot, tag, write: true, f.T.Lba48, Sectors, lba);
        frame.AsSpan(AoeWire.AtaHeaderLength, Sectors * 512).Fill(fill);
        return frame.AsSpan(0, n).ToArray();
    }

    /// <summary>Tags of the ATA answers: <paramref name="expected"/> of them, and any too many.</summary>
    private static List<uint> AnswerTags(Fixture f, int expected) =>
        Answers.Collect(f.Client.Socket,
            frame => AoeWire.TryParseResponse(frame, out AoeResponseHeader h) && h.Command == AoeWire.CommandAta,
            expected, TimeSpan.FromMilliseconds(300))
        .ConvertAll(frame => BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(20)));

    [RootFact]
    public void AWriteRetransmittedWhileQueued_IsDoneOnce_AndAnsweredWithTheNewTag()
    {
        using Fixture f = Start("rfa");
        f.Client.Socket.Send(WriteFrame(f, 0x8000_0101, 64, 0x5A));
        Thread.Sleep(200); // past the 10 ms a duplicate needs to count as a retransmit, well inside merge-delay
        f.Client.Socket.Send(WriteFrame(f, 0x8000_0202, 64, 0x5A));

        List<uint> tags = AnswerTags(f, expected: 1);
        f.Target.Stop();
        ExportedDevice d = f.Target.Device("d");
        output.WriteLine($"answers {string.Join(", ", tags.ConvertAll(t => t.ToString("x8")))}; writes {d.Engine.Counters.WriteRequests}, folded {d.Counters.FoldedRetransmits}");
        Assert.Equal(new List<uint> { 0x8000_0202 }, tags);
        Assert.Equal(1, d.Engine.Counters.WriteRequests);
        Assert.Equal(1, d.Counters.FoldedRetransmits);
        byte[] disk = File.ReadAllBytes(f.Disk);
        Assert.All(disk.AsSpan(64 * 512, Sectors * 512).ToArray(), b => Assert.Equal(0x5A, b));
    }

    [RootFact]
    public void ADuplicateThatComesAtOnce_OrCarriesOtherData_IsASecondRequest()
    {
        using Fixture f = Start("rfb");
        // Back to back: two concurrent requests for the same sectors, not a retransmit. One sendmmsg
        // puts them on the wire microseconds apart, so no pause of the test thread can come between.
        byte[] first = GC.AllocateArray<byte>(WriteFrame(f, 0, 128, 0).Length, pinned: true);
        byte[] second = GC.AllocateArray<byte>(first.Length, pinned: true);
        WriteFrame(f, 0x8000_0301, 128, 0x11).CopyTo(first, 0);
        WriteFrame(f, 0x8000_0302, 128, 0x11).CopyTo(second, 0);
        var batch = new TxBatch(2);
        batch.Add(first);
        batch.Add(second);
        Assert.Equal(0, f.Client.Socket.Send(batch));
        GC.KeepAlive(first); // the batch holds only their addresses
        GC.KeepAlive(second);
        // Same sectors, later, but other data: a new write, never folded.
        Thread.Sleep(200);
        f.Client.Socket.Send(WriteFrame(f, 0x8000_0303, 128, 0x22));

        List<uint> tags = AnswerTags(f, expected: 3);
        f.Target.Stop();
        ExportedDevice d = f.Target.Device("d");
        tags.Sort();
        Assert.Equal(new List<uint> { 0x8000_0301, 0x8000_0302, 0x8000_0303 }, tags);
        Assert.Equal(0, d.Counters.FoldedRetransmits);
        Assert.Equal(3, d.Engine.Counters.WriteRequests);
    }
}
