using System;
using System.Buffers.Binary;
using System.Diagnostics;

namespace Ggaoed.Initiator;

public enum BenchPattern
{
    RandRead,
    RandWrite,
    SeqRead,
    SeqWrite,
}

/// <summary>Totals of one <see cref="AoePipeline.Run"/>.</summary>
public struct PipelineResult
{
    public long Completed;
    /// <summary>Requests that failed: ATA status error, AoE error flag, short read data, or given up after retries.</summary>
    public long Errors;
    public long AtaErrors;
    public long AoeErrors;
    public long TimedOut;
    public long Retransmits;
    /// <summary>Answers whose tag matched nothing in flight (typically the late answer to a retransmitted tag).</summary>
    public long Unexpected;
    public long Bytes;
    public long ElapsedTicks;
    public byte FirstErrorStatus;
    public byte FirstErrorRegister;

    public readonly double Seconds => (double)ElapsedTicks / Stopwatch.Frequency;
}

/// <summary>
/// The load generator: keeps <c>depth</c> single-frame ATA requests outstanding against one target,
/// matches answers by tag, retransmits on timeout with a new tag, and records each request's latency.
/// Every buffer is allocated up front, so the steady-state loop allocates nothing.
/// </summary>
/// <remarks>
/// <para>Each pass of the loop costs two syscalls however many requests it carries: one recvmmsg takes every
/// answer queued (up to a batch), and one sendmmsg sends the requests that replace them plus any
/// retransmits. A generator that paid a recv() and a send() per request would be the slower side of
/// a fast target. recvmmsg rather than a PACKET_RX_RING keeps the copy of each answer on this thread's
/// CPU: with an RX ring the kernel copies into the ring in the sender's softirq, on a veth pair the
/// target's CPU, which would bill the target for the generator's work.</para>
/// <para>Tag layout: bit 31 set (userland tool convention), bits 10-30 a per-slot generation that changes on
/// every send, bits 0-9 the slot index. A response is matched by indexing the slot and comparing the
/// whole tag, so a late answer to a retransmitted request can't complete the new one.</para>
/// </remarks>
public sealed class AoePipeline
{
    public const int MaxDepth = 1024;
    private const int SlotBits = 10;

    /// <summary>
    /// A receive takes at most min(2 x depth, this) answers. At most depth answers (plus late ones to
    /// retransmitted tags) can be queued, so 2 x depth takes them all and still tells a drained queue (a
    /// short batch) from a full one; beyond 64 a bigger batch only saves one syscall per 64 frames.
    /// </summary>
    public const int MaxReceiveBatch = 64;

    /// <summary>Bytes kept of each answer: the Ethernet, AoE and ATA headers (36), in one cache line.</summary>
    private const int ReceiveKeep = 64;

    private readonly PacketSocket _socket;
    private readonly DiscoveredTarget _target;
    private readonly int _depth;
    private readonly int _sectors;
    private readonly BenchPattern _pattern;
    private readonly ulong _firstLba;
    private readonly ulong _blocks;
    private readonly byte[][] _frames;
    private readonly int[] _frameLength;
    private readonly uint[] _tags;
    private readonly long[] _sent;
    private readonly long[] _deadline;
    private readonly int[] _attempts;
    private readonly bool[] _busy;
    private readonly RxBatch _rx;
    private readonly TxBatch _tx;
    /// <summary>Slots issued in this pass: their send time is taken when the batch goes out.</summary>
    private readonly int[] _fresh;
    private int _freshCount;
    private ulong _rng;
    private ulong _cursor;

    /// <param name="firstLba">Start of the region to exercise.</param>
    /// <param name="lbaCount">Size of the region in sectors; requests never cross its end.</param>
    public AoePipeline(PacketSocket socket, DiscoveredTarget target, int depth, int sectors, BenchPattern pattern, ulong firstLba, ulong lbaCount, ulong seed = 0x9E3779B97F4A7C15)
    {
        if (depth < 1 || depth > MaxDepth)
            throw new ArgumentOutOfRangeException(nameof(depth), $"depth must be 1..{MaxDepth}");
        if (sectors < 1 || sectors > 255 || AoeWire.AtaHeaderLength + sectors * AoeWire.SectorSize > socket.Mtu + 14)
            throw new ArgumentOutOfRangeException(nameof(sectors), $"{sectors} sectors don't fit a frame on MTU {socket.Mtu}");
        if (lbaCount < (ulong)sectors)
            throw new ArgumentOutOfRangeException(nameof(lbaCount), "region smaller than one request");
        _socket = socket;
        _target = target;
        _depth = depth;
        _sectors = sectors;
        _pattern = pattern;
        _firstLba = firstLba;
        _blocks = lbaCount / (ulong)sectors;
        _rng = seed == 0 ? 1 : seed;
        int frameSize = AoeWire.AtaHeaderLength + sectors * AoeWire.SectorSize;
        _frames = new byte[depth][];
        for (int i = 0; i < depth; i++)
        {
            // Pinned: sendmmsg reads them through the pointers queued in _tx.
            _frames[i] = GC.AllocateArray<byte>(Math.Max(frameSize, AoeWire.MinFrame), pinned: true);
            // Non-zero write data, so a target that "writes" zeros by mistake is visible.
            for (int j = AoeWire.AtaHeaderLength; j < frameSize; j++)
                _frames[i][j] = (byte)(j * 7 + i);
        }
        _frameLength = new int[depth];
        _tags = new uint[depth];
        _sent = new long[depth];
        _deadline = new long[depth];
        _attempts = new int[depth];
        _busy = new bool[depth];
        // Only the headers are read (the ATA header ends at byte 36); the kernel reports each answer's
        // full length, which is all the read data check needs, and skips copying the data.
        _rx = new RxBatch(Math.Min(MaxReceiveBatch, 2 * depth), ReceiveKeep);
        // Each slot is queued at most once per pass (a request issued in a pass can't time out in it).
        _tx = new TxBatch(depth);
        _fresh = new int[depth];
    }

    public LatencyHistogram Histogram { get; } = new();

    /// <summary>First retransmit after this long; doubles per retry up to 8x.</summary>
    public TimeSpan RetransmitTimeout { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Sends per request before it counts as timed out.</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>How long to wait for stragglers after the duration ends.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Busy-poll: receive with MSG_DONTWAIT instead of sleeping until an answer comes. Trades a whole
    /// CPU for the wake-up latency; off by default.
    /// </summary>
    public bool Spin { get; set; }

    private bool IsWrite => _pattern is BenchPattern.RandWrite or BenchPattern.SeqWrite;

    /// <summary>
    /// Runs until <paramref name="duration"/> has passed or <paramref name="maxRequests"/> requests were
    /// issued, then waits for the ones in flight. Latencies go to <see cref="Histogram"/> (not reset).
    /// </summary>
    public PipelineResult Run(TimeSpan duration, long maxRequests = long.MaxValue)
    {
        PipelineResult r = default;
        long freq = Stopwatch.Frequency;
        long rto = (long)(RetransmitTimeout.TotalSeconds * freq);
        long scanEvery = Math.Max(rto / 8, freq / 1000);
        long start = Stopwatch.GetTimestamp();
        long end = duration == TimeSpan.MaxValue ? long.MaxValue : start + (long)(duration.TotalSeconds * freq);
        long drainEnd = long.MaxValue;
        long issued = 0;
        int inflight = 0;
        long lastDone = start;
        long nextScan = start + scanEvery;
        int postponed = 0;
        int bytesPer = _sectors * AoeWire.SectorSize;
        bool write = IsWrite;
        bool wait = !Spin;
        Array.Clear(_busy);
        _tx.Clear();
        _freshCount = 0;

        for (int s = 0; s < _depth && issued < maxRequests; s++)
        {
            Issue(s, start);
            issued++;
            inflight++;
        }
        Flush();

        while (inflight > 0)
        {
            int received = _socket.Receive(_rx, wait);
            long now = Stopwatch.GetTimestamp();
            for (int i = 0; i < received; i++)
            {
                ReadOnlySpan<byte> frame = _rx[i];
                int n = _rx.WireLength(i);
                if (n < AoeWire.HeaderLength)
                    continue;
                if (AoeWire.TryParseResponse(frame, out AoeResponseHeader h) && h.Command == AoeWire.CommandAta
                    && h.Shelf == _target.Shelf && h.Slot == _target.Slot)
                {
                    int s = (int)(h.Tag & (MaxDepth - 1));
                    if (s >= _depth || !_busy[s] || _tags[s] != h.Tag)
                    {
                        r.Unexpected++;
                    }
                    else
                    {
                        bool ok = true;
                        if (h.IsError)
                        {
                            r.AoeErrors++;
                            ok = false;
                        }
                        else if (n < AoeWire.AtaHeaderLength)
                        {
                            ok = false;
                        }
                        else
                        {
                            byte status = frame[27];
                            if (AoeWire.IsAtaFailure(status))
                            {
                                if (r.AtaErrors++ == 0)
                                {
                                    r.FirstErrorStatus = status;
                                    r.FirstErrorRegister = frame[25];
                                }
                                ok = false;
                            }
                            else if (!write && n - AoeWire.AtaHeaderLength < bytesPer)
                            {
                                ok = false; // runt read data
                            }
                        }
                        if (ok)
                        {
                            r.Completed++;
                            r.Bytes += bytesPer;
                            Histogram.Record(now - _sent[s]);
                        }
                        else
                        {
                            r.Errors++;
                        }
                        _busy[s] = false;
                        inflight--;
                        lastDone = now;
                        if (now < end && issued < maxRequests)
                        {
                            Issue(s, now);
                            issued++;
                            inflight++;
                        }
                    }
                }
            }

            // Scan for timeouts only once the answers already queued in the socket are read: after the
            // generator itself was descheduled for longer than the RTO (a busy or virtualised host),
            // every other slot's answer is sitting in the queue, and scanning first would "retransmit"
            // the whole window at once and count every real answer as unexpected. A batch that came
            // back full may have left frames queued; a shorter one means recvmmsg found the queue empty.
            // A queue that never empties postpones the scan by at most 2 x depth frames (the window's
            // answers plus as many new ones), not by time: a time limit would expire during the very
            // pause it is for.
            if (now >= nextScan && postponed < 2 * _depth && received == _rx.Capacity)
            {
                postponed += received;
            }
            else if (now >= nextScan)
            {
                postponed = 0;
                nextScan = now + scanEvery;
                for (int s = 0; s < _depth; s++)
                {
                    if (!_busy[s] || now < _deadline[s])
                        continue;
                    if (_attempts[s] >= MaxAttempts)
                    {
                        _busy[s] = false;
                        inflight--;
                        r.TimedOut++;
                        r.Errors++;
                        if (now < end && issued < maxRequests)
                        {
                            Issue(s, now);
                            issued++;
                            inflight++;
                        }
                        continue;
                    }
                    // Retransmit with a new tag, like Linux: the old tag's answer, if it comes, is unexpected.
                    uint tag = NewTag(s);
                    BinaryPrimitives.WriteUInt32BigEndian(_frames[s].AsSpan(20), tag);
                    _attempts[s]++;
                    _deadline[s] = now + (rto << Math.Min(_attempts[s] - 1, 3));
                    r.Retransmits++;
                    Queue(s);
                }
            }

            Flush();

            if (now >= end || issued >= maxRequests)
            {
                if (drainEnd == long.MaxValue)
                    drainEnd = now + (long)(DrainTimeout.TotalSeconds * freq);
                else if (now >= drainEnd)
                    break;
            }
        }
        r.ElapsedTicks = lastDone - start;
        return r;
    }

    private uint NewTag(int slot)
    {
        uint gen = ((_tags[slot] >> SlotBits) + 1) & 0x1F_FFFF;
        uint tag = AoeWire.UserTagBit | (gen << SlotBits) | (uint)slot;
        _tags[slot] = tag;
        return tag;
    }

    private void Issue(int slot, long now)
    {
        ulong lba;
        if (_pattern is BenchPattern.RandRead or BenchPattern.RandWrite)
        {
            // xorshift64*: cheap, allocation-free, and the same sequence for the same seed.
            _rng ^= _rng >> 12;
            _rng ^= _rng << 25;
            _rng ^= _rng >> 27;
            lba = _firstLba + (_rng * 0x2545F4914F6CDD1DUL >> 11) % _blocks * (ulong)_sectors;
        }
        else
        {
            lba = _firstLba + _cursor * (ulong)_sectors;
            _cursor = _cursor + 1 >= _blocks ? 0 : _cursor + 1;
        }
        byte[] frame = _frames[slot];
        uint tag = NewTag(slot);
        _frameLength[slot] = AoeWire.BuildReadWrite(frame, _target.Mac, _socket.Mac, _target.Shelf, _target.Slot, tag,
            IsWrite, _target.Lba48, (byte)_sectors, lba);
        _sent[slot] = now;
        _deadline[slot] = now + (long)(RetransmitTimeout.TotalSeconds * Stopwatch.Frequency);
        _attempts[slot] = 1;
        _busy[slot] = true;
        Queue(slot);
        _fresh[_freshCount++] = slot;
    }

    private void Queue(int slot)
    {
        if (_tx.IsFull)
            Flush();
        _tx.Add(_frames[slot].AsSpan(0, _frameLength[slot]));
    }

    /// <summary>
    /// Sends the pass's frames in one sendmmsg. A new request's latency starts here, not when it was
    /// built: a request prepared early in a long batch has not left yet. Frames the kernel drops are
    /// left to the retransmit timer, as a lost frame on the wire would be.
    /// </summary>
    private void Flush()
    {
        if (_tx.Count == 0)
            return;
        long t = Stopwatch.GetTimestamp();
        for (int i = 0; i < _freshCount; i++)
            _sent[_fresh[i]] = t;
        _freshCount = 0;
        _socket.Send(_tx);
    }
}
