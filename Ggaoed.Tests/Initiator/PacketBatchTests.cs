using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;
using Ggaoed.Initiator;
using Ggaoed.Native;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// recvmmsg/sendmmsg batches of <see cref="PacketSocket"/> over a veth pair, and the load generator
/// against a target that answers in bursts.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed unsafe class PacketBatchTests
{
    /// <summary>Two packet sockets, one at each end of a fresh veth pair.</summary>
    private sealed class Link : IDisposable
    {
        public readonly VethPair Pair;
        public readonly PacketSocket Local;
        public readonly PacketSocket Peer;

        public Link(int mtu = 1500)
        {
            Pair = new VethPair("ib", mtu);
            try
            {
                string iif = Pair.InitiatorIf;
                string tif = Pair.TargetIf;
                Local = InNetNs.Run(Pair.InitiatorNs, () => PacketSocket.Open(iif));
                Peer = InNetNs.Run(Pair.TargetNs, () => PacketSocket.Open(tif));
            }
            catch
            {
                Local?.Dispose();
                Pair.Dispose();
                throw;
            }
        }

        /// <summary>An AoE-typed frame from <paramref name="from"/> to <paramref name="to"/>, its marker at byte 20.</summary>
        public static byte[] Frame(PacketSocket from, PacketSocket to, int length, uint marker)
        {
            byte[] f = GC.AllocateArray<byte>(length, pinned: true);
            to.Mac.CopyTo(f, 0);
            from.Mac.CopyTo(f, 6);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), AoeWire.EtherType);
            BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(20), marker);
            for (int i = 24; i < length; i++)
                f[i] = (byte)(marker + i);
            return f;
        }

        public void Dispose()
        {
            Local.Dispose();
            Peer.Dispose();
            Pair.Dispose();
        }
    }

    /// <summary>
    /// Waits until the kernel has queued <paramref name="count"/> frames on the socket, by its own count
    /// (PACKET_STATISTICS, reset on read), so a receive after it sees them all.
    /// </summary>
    private static void WaitQueued(PacketSocket s, int count)
    {
        long seen = 0;
        var clock = Stopwatch.StartNew();
        while (seen < count)
        {
            tpacket_stats st;
            uint len = (uint)sizeof(tpacket_stats);
            Assert.Equal(0, Libc.getsockopt(s.Fd, Packet.SOL_PACKET, Packet.PACKET_STATISTICS, &st, &len));
            Assert.Equal(0u, st.tp_drops);
            seen += st.tp_packets;
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"only {seen} of {count} frames arrived");
            if (seen < count)
                Thread.Sleep(1);
        }
    }

    [Fact]
    public void RxBatch_ReadingPastTheReceivedCount_Throws()
    {
        var rx = new RxBatch(4, 1514);
        Assert.Equal(0, rx.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => rx[0].Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RxBatch(0, 1514));
        Assert.Throws<ArgumentOutOfRangeException>(() => rx.WireLength(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RxBatch(4, 10));
    }

    [Fact]
    public void TxBatch_AddingBeyondCapacity_Throws_AndClearEmptiesIt()
    {
        var tx = new TxBatch(2);
        byte[] f = GC.AllocateArray<byte>(60, pinned: true);
        tx.Add(f);
        tx.Add(f);
        Assert.True(tx.IsFull);
        Assert.Throws<InvalidOperationException>(() => tx.Add(f));
        tx.Clear();
        Assert.Equal(0, tx.Count);
        Assert.False(tx.IsFull);
    }

    [RootFact]
    public void Receive_TakesEveryQueuedFrame_UpToTheCapacity_InArrivalOrder()
    {
        using var link = new Link();
        int[] lengths = [60, 1514, 200, 61, 999];
        for (int i = 0; i < lengths.Length; i++)
            Assert.True(link.Peer.Send(Link.Frame(link.Peer, link.Local, lengths[i], (uint)i)));
        WaitQueued(link.Local, lengths.Length);

        var rx = new RxBatch(3, 1518);
        Assert.Equal(3, link.Local.Receive(rx));      // a full batch: more may be queued
        Assert.Equal(3, rx.Count);
        var got = new List<(uint, int)>();
        for (int i = 0; i < rx.Count; i++)
            got.Add((BinaryPrimitives.ReadUInt32BigEndian(rx[i][20..]), rx[i].Length));
        Assert.Equal(2, link.Local.Receive(rx));      // a short batch: the queue is drained
        for (int i = 0; i < rx.Count; i++)
            got.Add((BinaryPrimitives.ReadUInt32BigEndian(rx[i][20..]), rx[i].Length));
        Assert.Equal([(0u, 60), (1u, 1514), (2u, 200), (3u, 61), (4u, 999)], got);
        Assert.False(rx.IsTruncated(1));
        Assert.Equal(Link.Frame(link.Peer, link.Local, 999, 4), rx[1].ToArray());
        Assert.Equal(0, link.Local.Receive(rx, wait: false));
        Assert.Equal(0, rx.Count);
    }

    [RootFact]
    public void Receive_WithNothingQueued_ReturnsZero_AfterTheReceiveTimeout()
    {
        using var link = new Link();
        var rx = new RxBatch(8, 1518);
        var clock = Stopwatch.StartNew();
        Assert.Equal(0, link.Local.Receive(rx)); // SO_RCVTIMEO: 10 ms by default
        Assert.True(clock.ElapsedMilliseconds >= 5, "a waiting receive returned before its timeout");
        Assert.Equal(0, link.Local.Receive(rx, wait: false));
    }

    [RootFact]
    public void Receive_WaitingForTheFirstFrame_ReturnsAsSoonAsOneArrives()
    {
        using var link = new Link();
        link.Local.SetReceiveTimeout(10_000_000); // 10 s: the frame, not the timeout, must end the wait
        var rx = new RxBatch(16, 1518);
        using var sender = new Timer(_ => link.Peer.Send(Link.Frame(link.Peer, link.Local, 60, 42)), null, 50, Timeout.Infinite);
        var clock = Stopwatch.StartNew();
        Assert.Equal(1, link.Local.Receive(rx));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        Assert.Equal(42u, BinaryPrimitives.ReadUInt32BigEndian(rx[0][20..]));
    }

    [RootFact]
    public void Receive_FrameLongerThanTheBuffer_KeepsItsHead_AndReportsItsWholeLength()
    {
        using var link = new Link();
        link.Peer.Send(Link.Frame(link.Peer, link.Local, 600, 1));
        link.Peer.Send(Link.Frame(link.Peer, link.Local, 100, 2));
        WaitQueued(link.Local, 2);
        var rx = new RxBatch(4, 100);
        Assert.Equal(2, link.Local.Receive(rx));
        Assert.Equal(100, rx[0].Length);
        Assert.Equal(600, rx.WireLength(0));
        Assert.True(rx.IsTruncated(0));
        Assert.Equal(Link.Frame(link.Peer, link.Local, 600, 1).AsSpan(0, 100).ToArray(), rx[0].ToArray());
        Assert.Equal(100, rx[1].Length);
        Assert.Equal(100, rx.WireLength(1));
        Assert.False(rx.IsTruncated(1));
    }

    [RootFact]
    public void SendBatch_SendsEveryFrameInOrder_WithItsOwnLength_AndEmptiesTheBatch()
    {
        using var link = new Link(mtu: 9000);
        var tx = new TxBatch(40);
        var frames = new List<byte[]>();
        for (int i = 0; i < 40; i++)
        {
            byte[] f = Link.Frame(link.Local, link.Peer, 60 + i * 223, (uint)(1000 + i));
            frames.Add(f);
            tx.Add(f);
        }
        Assert.Equal(0, link.Local.Send(tx));
        Assert.Equal(0, tx.Count);
        WaitQueued(link.Peer, 40);

        var rx = new RxBatch(64, 9018);
        Assert.Equal(40, link.Peer.Receive(rx));
        for (int i = 0; i < 40; i++)
            Assert.Equal(frames[i], rx[i].ToArray());
    }

    /// <summary>
    /// A target that holds the requests it gets and answers them all at once, in reverse order, with one
    /// sendmmsg: the generator sees answers in bursts, out of order, more than one per receive. With
    /// <see cref="Duplicate"/> every answer goes out twice.
    /// </summary>
    private sealed class BurstTarget : IDisposable
    {
        public const ushort Shelf = 4;
        public const byte Slot = 2;

        private readonly PacketSocket _socket;
        private readonly int _burst;
        private readonly Thread _thread;
        private volatile bool _stop;

        public BurstTarget(PacketSocket socket, int burst)
        {
            _socket = socket;
            _burst = burst;
            _socket.SetReceiveTimeout(2_000);
            _thread = new Thread(Serve) { IsBackground = true, Name = "burst-target" };
        }

        public bool Duplicate { get; init; }

        /// <summary>Answer reads with this many fewer data bytes than asked for.</summary>
        public int ShortReadBy { get; init; }
        public long Requests;
        public long Bursts;
        public int LargestBurst;

        public void Start() => _thread.Start();

        private void Serve()
        {
            var rx = new RxBatch(64, _socket.Mtu + 14);
            var tx = new TxBatch(128);
            var held = new List<byte[]>();
            long lastArrival = Stopwatch.GetTimestamp();
            while (!_stop)
            {
                int n = _socket.Receive(rx);
                for (int i = 0; i < n; i++)
                {
                    ReadOnlySpan<byte> req = rx[i];
                    if (req.Length < AoeWire.AtaHeaderLength || (req[14] & AoeWire.FlagResponse) != 0 || req[19] != AoeWire.CommandAta)
                        continue;
                    held.Add(Answer(req));
                    Requests++;
                    lastArrival = Stopwatch.GetTimestamp();
                }
                // Answer when the burst is complete, or when no more requests came for 5 ms (the tail of a run).
                if (held.Count >= _burst || (held.Count > 0 && Stopwatch.GetElapsedTime(lastArrival) > TimeSpan.FromMilliseconds(5)))
                {
                    for (int i = held.Count - 1; i >= 0; i--)
                    {
                        tx.Add(held[i]);
                        if (Duplicate)
                            tx.Add(held[i]);
                    }
                    LargestBurst = Math.Max(LargestBurst, held.Count);
                    Bursts++;
                    _socket.Send(tx);
                    held.Clear();
                }
            }
        }

        /// <summary>The answer to an ATA read or write: status DRDY, and for a read the sectors asked for (zeros).</summary>
        private byte[] Answer(ReadOnlySpan<byte> req)
        {
            bool write = (req[24] & AoeWire.AFlagWrite) != 0;
            int sectors = req[26];
            int len = Math.Max(AoeWire.MinFrame, AoeWire.AtaHeaderLength + (write ? 0 : sectors * AoeWire.SectorSize - ShortReadBy));
            byte[] a = GC.AllocateArray<byte>(len, pinned: true);
            req[6..12].CopyTo(a);
            _socket.Mac.CopyTo(a, 6);
            req[12..AoeWire.AtaHeaderLength].CopyTo(a.AsSpan(12));
            a[14] |= AoeWire.FlagResponse;
            a[25] = 0;
            a[27] = AoeWire.AtaStatusReady;
            return a;
        }

        public void Dispose()
        {
            _stop = true;
            if (_thread.IsAlive)
                _thread.Join();
            _socket.Dispose();
        }
    }

    /// <summary>
    /// For tests that assert no retransmits: the burst target is a thread of this process and holds
    /// requests on purpose, so on a loaded machine an answer may take longer than the 200 ms default.
    /// </summary>
    private static readonly TimeSpan NoRetransmitTimeout = TimeSpan.FromSeconds(5);

    private static DiscoveredTarget TargetAt(PacketSocket target) =>
        new(BurstTarget.Shelf, BurstTarget.Slot, target.Mac, new ConfigInfo(64, 1, 2, 1, 0, []))
        {
            Identify = new IdentifyInfo(1 << 20, true, "burst", "1", "1"),
        };

    [RootTheory]
    [InlineData(BenchPattern.RandRead, false)]
    [InlineData(BenchPattern.SeqWrite, false)]
    [InlineData(BenchPattern.RandRead, true)]
    public void Pipeline_AnswersInBurstsAndOutOfOrder_CompleteEveryRequestOnce_WithoutRetransmits(BenchPattern pattern, bool spin)
    {
        using var link = new Link();
        using var target = new BurstTarget(link.Peer, burst: 24);
        target.Start();
        var pipe = new AoePipeline(link.Local, TargetAt(link.Peer), depth: 32, sectors: 2, pattern, 0, 1 << 20)
        {
            Spin = spin,
            RetransmitTimeout = NoRetransmitTimeout,
        };
        PipelineResult r = pipe.Run(TimeSpan.FromSeconds(60), maxRequests: 3_000);
        Assert.Equal(3_000, r.Completed);
        Assert.Equal(0, r.Errors);
        Assert.Equal(0, r.Retransmits);
        Assert.Equal(0, r.Unexpected);
        Assert.Equal(3_000L * 1024, r.Bytes);
        Assert.Equal(3_000, pipe.Histogram.Count);
        Assert.Equal(3_000, Interlocked.Read(ref target.Requests));
        Assert.True(target.LargestBurst >= 24, $"the target never held a full burst (largest {target.LargestBurst})");
    }

    [RootFact]
    public void Pipeline_EveryAnswerTwice_CompletesEachRequestOnce_AndCountsTheCopiesAsUnexpected()
    {
        using var link = new Link();
        using var target = new BurstTarget(link.Peer, burst: 8) { Duplicate = true };
        target.Start();
        var pipe = new AoePipeline(link.Local, TargetAt(link.Peer), depth: 8, sectors: 2, BenchPattern.RandRead, 0, 1 << 20)
        {
            RetransmitTimeout = NoRetransmitTimeout,
        };
        PipelineResult r = pipe.Run(TimeSpan.FromSeconds(60), maxRequests: 1_000);
        Assert.Equal(1_000, r.Completed);
        Assert.Equal(0, r.Errors);
        Assert.Equal(0, r.Retransmits);
        // Copies that arrive after the last request completed are never read.
        Assert.InRange(r.Unexpected, 1_000 - 8, 1_000);
        Assert.Equal(1_000, pipe.Histogram.Count);
    }

    [RootFact]
    public void Pipeline_ReadAnswerShortOfItsData_IsAnError_ThoughOnlyItsHeaderIsRead()
    {
        using var link = new Link();
        using var target = new BurstTarget(link.Peer, burst: 4) { ShortReadBy = 1 };
        target.Start();
        var pipe = new AoePipeline(link.Local, TargetAt(link.Peer), depth: 4, sectors: 2, BenchPattern.SeqRead, 0, 1 << 20)
        {
            RetransmitTimeout = NoRetransmitTimeout,
        };
        PipelineResult r = pipe.Run(TimeSpan.FromSeconds(60), maxRequests: 100);
        Assert.Equal(0, r.Completed);
        Assert.Equal(100, r.Errors);
        Assert.Equal(0, r.AtaErrors);
        Assert.Equal(0, r.Retransmits);
    }

    [RootFact]
    public void Pipeline_SilentTarget_RetransmitsInBatches_ThenTimesOutEveryRequest()
    {
        using var link = new Link();
        var pipe = new AoePipeline(link.Local, TargetAt(link.Peer), depth: 16, sectors: 2, BenchPattern.RandRead, 0, 1 << 20)
        {
            RetransmitTimeout = TimeSpan.FromMilliseconds(5),
            MaxAttempts = 3,
        };
        PipelineResult r = pipe.Run(TimeSpan.FromSeconds(60), maxRequests: 16);
        Assert.Equal(0, r.Completed);
        Assert.Equal(16, r.TimedOut);
        Assert.Equal(16, r.Errors);
        Assert.Equal(16 * 2, r.Retransmits);
        // Every send reached the wire: the first 16 and two retransmits each, new tags every time.
        WaitQueued(link.Peer, 48);
        var rx = new RxBatch(64, 1518);
        var tags = new HashSet<uint>();
        while (link.Peer.Receive(rx, wait: false) > 0)
            for (int i = 0; i < rx.Count; i++)
                Assert.True(tags.Add(BinaryPrimitives.ReadUInt32BigEndian(rx[i][20..])));
        Assert.Equal(48, tags.Count);
    }
}
