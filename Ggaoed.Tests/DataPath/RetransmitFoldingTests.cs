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
/// Repeats of a request still held by the daemon (AOE-NOTES 16): the request waits in the queue for
/// merge-delay (1 s here, the most the config allows, standing in for a slow disk), and the
/// "initiator" sends it again with a new tag the way Linux does after a timeout. The rule: a frame that
/// is byte for byte the same request (source, command, LBA, count and, for a write, the data) while
/// the first is still queued or at the disk is folded into it, however soon it comes; the one I/O
/// answers every tag (a read's each with the data); a flush never folds; a request takes at most
/// <see cref="ExportedDevice.MaxRecipients"/> frames, and one more is served on its own. In the
/// data-path collection: merge-delay must hold while the test sends, so nothing CPU-heavy may run beside it.
/// </summary>
[Collection(DataPathCollection.Name)]
public class RetransmitFoldingTests(ITestOutputHelper output)
{
    // Wide enough that a stalled test thread or reactor cannot let the first request complete before
    // the repeats arrive.
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

    private static byte[] ReadFrame(Fixture f, uint tag, ulong lba)
    {
        var frame = new byte[AoeWire.MinFrame];
        int n = AoeWire.BuildReadWrite(frame, f.T.Mac, f.Client.Socket.Mac, f.T.Shelf, f.T.Slot, tag, write: false, f.T.Lba48, Sectors, lba);
        return frame.AsSpan(0, n).ToArray();
    }

    private static byte[] FlushFrame(Fixture f, uint tag)
    {
        var frame = new byte[AoeWire.MinFrame];
        int n = AoeWire.BuildAta(frame, f.T.Mac, f.Client.Socket.Mac, f.T.Shelf, f.T.Slot, tag, AoeWire.AFlagExtended, FlushCacheExt, 0, 0, 0);
        return frame.AsSpan(0, n).ToArray();
    }

    private const byte FlushCacheExt = 0xEA;

    /// <summary>The ATA answers: <paramref name="expected"/> of them, and any too many.</summary>
    private static List<byte[]> AtaAnswers(Fixture f, int expected) =>
        Answers.Collect(f.Client.Socket,
            frame => AoeWire.TryParseResponse(frame, out AoeResponseHeader h) && h.Command == AoeWire.CommandAta,
            expected, TimeSpan.FromMilliseconds(300));

    private static uint TagOf(byte[] frame) => BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(20));

    private static List<uint> SortedTags(List<byte[]> answers)
    {
        List<uint> tags = answers.ConvertAll(TagOf);
        tags.Sort();
        return tags;
    }

    /// <summary>Sends the frames with one sendmmsg: microseconds apart, no pause of the test thread between them.</summary>
    private static void SendBackToBack(Fixture f, params byte[][] frames)
    {
        var pinned = new byte[frames.Length][];
        var batch = new TxBatch(frames.Length);
        for (int i = 0; i < frames.Length; i++)
        {
            pinned[i] = GC.AllocateArray<byte>(frames[i].Length, pinned: true);
            frames[i].CopyTo(pinned[i], 0);
            batch.Add(pinned[i]);
        }
        Assert.Equal(0, f.Client.Socket.Send(batch));
        GC.KeepAlive(pinned); // the batch holds only their addresses
    }

    [RootFact]
    public void AWriteRetransmittedWhileQueued_IsDoneOnce_AndBothTagsAreAnswered()
    {
        using Fixture f = Start("rfa");
        f.Client.Socket.Send(WriteFrame(f, 0x8000_0101, 64, 0x5A));
        Thread.Sleep(200); // a retransmit after a timeout, well inside merge-delay
        f.Client.Socket.Send(WriteFrame(f, 0x8000_0202, 64, 0x5A));

        List<byte[]> answers = AtaAnswers(f, expected: 2);
        f.Target.Stop();
        ExportedDevice d = f.Target.Device("d");
        List<uint> tags = SortedTags(answers);
        output.WriteLine($"answers {string.Join(", ", tags.ConvertAll(t => t.ToString("x8")))}; writes {d.Engine.Counters.WriteRequests}, folded {d.Counters.FoldedRetransmits}");
        // Before: only the new tag was answered; the first initiator frame waited for an answer that never came.
        Assert.Equal(new List<uint> { 0x8000_0101, 0x8000_0202 }, tags);
        Assert.All(answers, a => Assert.False(AoeWire.ParseAta(a).Failed));
        Assert.Equal(1, d.Engine.Counters.WriteRequests);
        Assert.Equal(1, d.Counters.FoldedRetransmits);
        byte[] disk = File.ReadAllBytes(f.Disk);
        Assert.All(disk.AsSpan(64 * 512, Sectors * 512).ToArray(), b => Assert.Equal(0x5A, b));
    }

    [RootFact]
    public void ADuplicateThatComesAtOnce_IsFoldedToo_ButOtherDataIsASecondRequest()
    {
        using Fixture f = Start("rfb");
        // Back to back: no time floor any more; the same request twice is one I/O with two answers.
        SendBackToBack(f, WriteFrame(f, 0x8000_0301, 128, 0x11), WriteFrame(f, 0x8000_0302, 128, 0x11));
        // Same sectors, later, but other data: a new write, never folded.
        Thread.Sleep(200);
        f.Client.Socket.Send(WriteFrame(f, 0x8000_0303, 128, 0x22));

        List<uint> tags = SortedTags(AtaAnswers(f, expected: 3));
        f.Target.Stop();
        ExportedDevice d = f.Target.Device("d");
        Assert.Equal(new List<uint> { 0x8000_0301, 0x8000_0302, 0x8000_0303 }, tags);
        Assert.Equal(1, d.Counters.FoldedRetransmits);
        Assert.Equal(2, d.Engine.Counters.WriteRequests);
        byte[] disk = File.ReadAllBytes(f.Disk);
        Assert.All(disk.AsSpan(128 * 512, Sectors * 512).ToArray(), b => Assert.Equal(0x22, b));
    }

    [RootFact]
    public void AReadRepeatedFourTimes_IsReadTwice_AndEveryAnswerCarriesTheData()
    {
        using Fixture f = Start("rfc");
        byte[] expected = File.ReadAllBytes(f.Disk).AsSpan(256 * 512, Sectors * 512).ToArray();
        // The first frame and two repeats share one read; the third repeat finds that request full
        // (MaxRecipients) and is read on its own.
        SendBackToBack(f, ReadFrame(f, 0x8000_0401, 256), ReadFrame(f, 0x8000_0402, 256), ReadFrame(f, 0x8000_0403, 256), ReadFrame(f, 0x8000_0404, 256));

        List<byte[]> answers = AtaAnswers(f, expected: 4);
        f.Target.Stop();
        ExportedDevice d = f.Target.Device("d");
        Assert.Equal(new List<uint> { 0x8000_0401, 0x8000_0402, 0x8000_0403, 0x8000_0404 }, SortedTags(answers));
        foreach (byte[] a in answers)
        {
            Assert.False(AoeWire.ParseAta(a).Failed);
            Assert.True(a.AsSpan(AoeWire.AtaHeaderLength, Sectors * 512).SequenceEqual(expected), $"tag {TagOf(a):x8} carried other data");
        }
        Assert.Equal(2, d.Counters.FoldedRetransmits);
        Assert.Equal(2, d.Engine.Counters.ReadRequests);
    }

    [RootFact]
    public void TwoIdenticalFlushes_AreNeverFolded_AndBothAreAnswered()
    {
        using Fixture f = Start("rfd");
        // A flush covers the writes answered before it: the second must do its own fdatasync.
        SendBackToBack(f, FlushFrame(f, 0x8000_0501), FlushFrame(f, 0x8000_0502));

        List<byte[]> answers = AtaAnswers(f, expected: 2);
        f.Target.Stop();
        ExportedDevice d = f.Target.Device("d");
        Assert.Equal(new List<uint> { 0x8000_0501, 0x8000_0502 }, SortedTags(answers));
        Assert.All(answers, a => Assert.False(AoeWire.ParseAta(a).Failed));
        Assert.Equal(0, d.Counters.FoldedRetransmits);
        Assert.Equal(2, d.Engine.Counters.Flushes);
    }
}
