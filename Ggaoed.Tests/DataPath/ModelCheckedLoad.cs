using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using Ggaoed.Initiator;

namespace Ggaoed.Tests.DataPath;

/// <summary>One way to reach the device under test: a socket on an initiator interface and the target found through it.</summary>
internal sealed record TargetPath(PacketSocket Socket, DiscoveredTarget Target);

/// <summary>What a <see cref="ModelCheckedLoad"/> run saw.</summary>
internal sealed class ModelResult
{
    public long Reads;
    public long Writes;
    public long ReadBytesChecked;
    public long Retransmits;
    public long Unexpected;
    public long TimedOut;
    /// <summary>Requests still unanswered when the run was stopped (<see cref="ModelCheckedLoad.RequestStop"/>).</summary>
    public long Abandoned;
    public readonly List<string> Failures = new();

    public long Completed => Reads + Writes;

    public override string ToString()
        => $"{Reads} reads ({ReadBytesChecked} bytes checked), {Writes} writes, {Retransmits} retransmits, {Unexpected} unexpected answers, {TimedOut} timed out, {Abandoned} abandoned"
           + (Failures.Count > 0 ? "\n  " + string.Join("\n  ", Failures) : "");
}

/// <summary>
/// A pipelined initiator that keeps many reads and writes of random LBAs and sizes outstanding and checks
/// every byte read against an in-memory model of the disk. Writes are applied to the model when sent;
/// correctness needs no assumption about the order in which the target completes them because no two
/// conflicting requests are ever in flight together: a read never overlaps an in-flight write, and a
/// write never overlaps anything in flight.
/// </summary>
/// <remarks>
/// AoE has no way to tell a retransmitted write from a new one (AOE-NOTES 16): when a write times out and
/// is sent again, the first copy may still be queued in the target and land later. It carries the same
/// data, so it is harmless unless a newer write to those sectors follows; such sectors are therefore
/// never written again in this run ("quarantined"), though they are still read and checked.
/// </remarks>
internal sealed class ModelCheckedLoad
{
    private const int SlotBits = 10;

    private readonly TargetPath[] _paths;
    private readonly byte[] _model;
    private readonly int _depth;
    private readonly int[] _pathMaxSectors;
    private readonly int _sectorsOnDisk;
    private readonly Random _rng;
    private readonly byte[][] _frames;
    private readonly int[] _frameLength;
    private readonly uint[] _tags;
    private readonly int[] _path;
    private readonly long[] _lba;
    private readonly int[] _count;
    private readonly bool[] _write;
    private readonly bool[] _busy;
    private readonly long[] _deadline;
    private readonly int[] _attempts;
    private readonly int[] _readersOn;
    private readonly int[] _writersOn;
    private readonly bool[] _quarantined;
    private readonly byte[] _rx = new byte[65536];
    private readonly byte[][] _before;
    private volatile bool _stop;
    private long _cursor;
    private int _runLeft;
    private bool _runWrite;
    private readonly List<(long Lba, byte[] Before, byte[] After)> _abandonedWrites = new();

    /// <param name="model">The disk's content as the test knows it; updated as writes are sent.</param>
    /// <param name="maxSectors">Largest request; each request picks 1..maxSectors, capped by what its path allows.</param>
    public ModelCheckedLoad(TargetPath[] paths, byte[] model, int depth, int maxSectors, int seed)
    {
        if (depth < 1 || depth > 1 << SlotBits)
            throw new ArgumentOutOfRangeException(nameof(depth));
        _paths = paths;
        _model = model;
        _depth = depth;
        _pathMaxSectors = new int[paths.Length];
        int largest = 1;
        for (int i = 0; i < paths.Length; i++)
        {
            _pathMaxSectors[i] = Math.Min(maxSectors, paths[i].Target.MaxSectorsPerFrame(paths[i].Socket.Mtu));
            largest = Math.Max(largest, _pathMaxSectors[i]);
        }
        maxSectors = largest;
        _sectorsOnDisk = model.Length / 512;
        _rng = new Random(seed);
        int frameBytes = 14 + 65536;
        _frames = new byte[depth][];
        _before = new byte[depth][];
        for (int i = 0; i < depth; i++)
        {
            _frames[i] = new byte[Math.Min(frameBytes, AoeWire.AtaHeaderLength + maxSectors * 512 + 64)];
            _before[i] = new byte[maxSectors * 512];
        }
        _frameLength = new int[depth];
        _tags = new uint[depth];
        // Distinct generations per load, so loads sharing an interface don't reuse each other's tags.
        for (int i = 0; i < depth; i++)
            _tags[i] = (uint)_rng.Next(0, 1 << 20) << SlotBits;
        _path = new int[depth];
        _lba = new long[depth];
        _count = new int[depth];
        _write = new bool[depth];
        _busy = new bool[depth];
        _deadline = new long[depth];
        _attempts = new int[depth];
        _readersOn = new int[_sectorsOnDisk];
        _writersOn = new int[_sectorsOnDisk];
        _quarantined = new bool[_sectorsOnDisk];
        if (paths.Length > 1)
            foreach (TargetPath p in paths)
                p.Socket.SetReceiveTimeout(500);
    }

    /// <summary>Share of requests that are writes.</summary>
    public double WriteFraction { get; init; } = 0.5;

    /// <summary>
    /// 0: random LBAs. Otherwise requests go sequentially through the disk in runs of this many
    /// requests of one direction (chosen by <see cref="WriteFraction"/>).
    /// </summary>
    public int SequentialRunLength { get; init; }

    public TimeSpan RetransmitTimeout { get; init; } = TimeSpan.FromMilliseconds(400);
    public int MaxAttempts { get; init; } = 12;

    /// <summary>
    /// From any thread: issue nothing more, wait <see cref="AbandonAfter"/> for answers still on their
    /// way, then return; what is still unanswered is counted as abandoned, not as a failure.
    /// </summary>
    public void RequestStop() => _stop = true;

    public TimeSpan AbandonAfter { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Writes that were never answered because the run was stopped: each sector of such a range may
    /// hold the data from before the write or the data written (the target may or may not have done it).
    /// </summary>
    public IReadOnlyList<(long Lba, byte[] Before, byte[] After)> AbandonedWrites => _abandonedWrites;

    /// <summary>Issues <paramref name="requests"/> requests and waits for all of them; gives up after <paramref name="limit"/>.</summary>
    public ModelResult Run(int requests, TimeSpan limit)
    {
        var r = new ModelResult();
        long freq = Stopwatch.Frequency;
        long rto = (long)(RetransmitTimeout.TotalSeconds * freq);
        long end = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * freq);
        long nextScan = 0;
        int issued = 0;
        int inflight = 0;
        int pathTurn = 0;
        long abandonAt = long.MaxValue;

        while (issued < requests || inflight > 0)
        {
            long now = Stopwatch.GetTimestamp();
            if (_stop)
            {
                if (abandonAt == long.MaxValue)
                    abandonAt = now + (long)(AbandonAfter.TotalSeconds * freq);
                requests = issued;
                if (now > abandonAt)
                {
                    Abandon(r);
                    break;
                }
            }
            if (now > end)
            {
                r.Failures.Add($"gave up after {limit.TotalSeconds} s with {inflight} request(s) unanswered and {requests - issued} not issued");
                break;
            }
            for (int s = 0; s < _depth && issued < requests; s++)
            {
                if (_busy[s] || !TryIssue(s, now, rto))
                    continue;
                issued++;
                inflight++;
            }

            // One receive per path per round: with several paths each socket has a short timeout.
            TargetPath path = _paths[pathTurn];
            pathTurn = (pathTurn + 1) % _paths.Length;
            int n = path.Socket.Receive(_rx);
            if (n > 0 && Complete(_rx.AsSpan(0, n), r))
                inflight--;

            now = Stopwatch.GetTimestamp();
            if (now >= nextScan)
            {
                nextScan = now + rto / 8;
                for (int s = 0; s < _depth; s++)
                {
                    if (!_busy[s] || now < _deadline[s])
                        continue;
                    if (_attempts[s] >= MaxAttempts)
                    {
                        r.TimedOut++;
                        r.Failures.Add($"{Describe(s)}: no answer after {MaxAttempts} attempts");
                        Release(s);
                        inflight--;
                        continue;
                    }
                    // A new tag per attempt, as Linux does; the old tag's late answer counts as unexpected.
                    if (_write[s])
                        for (long i = _lba[s]; i < _lba[s] + _count[s]; i++)
                            _quarantined[i] = true;
                    NewTag(s);
                    BinaryPrimitives.WriteUInt32BigEndian(_frames[s].AsSpan(20), _tags[s]);
                    _attempts[s]++;
                    _deadline[s] = now + (rto << Math.Min(_attempts[s] - 1, 3));
                    r.Retransmits++;
                    _paths[_path[s]].Socket.Send(_frames[s].AsSpan(0, _frameLength[s]));
                }
            }
        }
        return r;
    }

    private bool TryIssue(int s, long now, long rto)
    {
        bool write;
        if (SequentialRunLength > 0)
        {
            // Runs of requests in one direction, each starting where the previous one ended: adjacent
            // requests arrive together, so the target merges them into one PREADV/PWRITEV.
            if (_runLeft == 0)
            {
                _runWrite = _rng.NextDouble() < WriteFraction;
                _runLeft = SequentialRunLength;
            }
            write = _runWrite;
        }
        else
        {
            write = _rng.NextDouble() < WriteFraction;
        }
        // A few tries to find a range that conflicts with nothing in flight; otherwise wait for completions.
        for (int attempt = 0; attempt < 8; attempt++)
        {
            int p = _rng.Next(_paths.Length);
            int count = _rng.Next(1, _pathMaxSectors[p] + 1);
            long lba;
            if (SequentialRunLength > 0)
            {
                lba = _cursor + count <= _sectorsOnDisk ? _cursor : 0;
                _cursor = lba + count;
                // Step over a busy or quarantined range rather than wait: a quarantined one never frees.
                if (!IsFree(lba, count, write))
                    continue;
                _runLeft--;
            }
            else
            {
                lba = _rng.NextInt64(0, _sectorsOnDisk - count + 1);
                if (!IsFree(lba, count, write))
                    continue;
            }
            TargetPath path = _paths[p];
            byte[] frame = _frames[s];
            NewTag(s);
            if (write)
            {
                Span<byte> data = frame.AsSpan(AoeWire.AtaHeaderLength, count * 512);
                _rng.NextBytes(data);
                _model.AsSpan((int)(lba * 512), count * 512).CopyTo(_before[s]);
                data.CopyTo(_model.AsSpan((int)(lba * 512), count * 512));
                for (long i = lba; i < lba + count; i++)
                    _writersOn[i]++;
            }
            else
            {
                for (long i = lba; i < lba + count; i++)
                    _readersOn[i]++;
            }
            _frameLength[s] = AoeWire.BuildReadWrite(frame, path.Target.Mac, path.Socket.Mac, path.Target.Shelf, path.Target.Slot,
                _tags[s], write, path.Target.Lba48, (byte)count, (ulong)lba);
            _path[s] = p;
            _lba[s] = lba;
            _count[s] = count;
            _write[s] = write;
            _busy[s] = true;
            _attempts[s] = 1;
            _deadline[s] = now + rto;
            path.Socket.Send(frame.AsSpan(0, _frameLength[s]));
            return true;
        }
        return false;
    }

    private bool IsFree(long lba, int count, bool write)
    {
        for (long i = lba; i < lba + count; i++)
        {
            if (_writersOn[i] != 0)
                return false;
            if (write && (_readersOn[i] != 0 || _quarantined[i]))
                return false;
        }
        return true;
    }

    private void NewTag(int s)
    {
        uint gen = ((_tags[s] >> SlotBits) + 1) & 0x1F_FFFF;
        _tags[s] = AoeWire.UserTagBit | (gen << SlotBits) | (uint)s;
    }

    /// <summary>Handles one received frame; true when it finished a request.</summary>
    private bool Complete(ReadOnlySpan<byte> frame, ModelResult r)
    {
        if (!AoeWire.TryParseResponse(frame, out AoeResponseHeader h) || h.Command != AoeWire.CommandAta || !IsOurs(h))
            return false;
        int s = (int)(h.Tag & ((1u << SlotBits) - 1));
        if (s >= _depth || !_busy[s] || _tags[s] != h.Tag)
        {
            r.Unexpected++;
            return false;
        }
        DiscoveredTarget target = _paths[_path[s]].Target;
        if (h.Shelf != target.Shelf || h.Slot != target.Slot)
            r.Failures.Add($"{Describe(s)}: answered as e{h.Shelf}.{h.Slot}");
        else if (h.IsError)
            r.Failures.Add($"{Describe(s)}: AoE error {h.Error}");
        else if (frame.Length < AoeWire.AtaHeaderLength)
            r.Failures.Add($"{Describe(s)}: {frame.Length}-byte answer");
        else if (AoeWire.IsAtaFailure(frame[27]))
            r.Failures.Add($"{Describe(s)}: ATA status 0x{frame[27]:x2} error 0x{frame[25]:x2}");
        else if (_write[s])
            r.Writes++;
        else
        {
            int bytes = _count[s] * 512;
            if (frame.Length - AoeWire.AtaHeaderLength < bytes)
            {
                r.Failures.Add($"{Describe(s)}: runt read answer of {frame.Length} bytes");
            }
            else
            {
                ReadOnlySpan<byte> got = frame.Slice(AoeWire.AtaHeaderLength, bytes);
                ReadOnlySpan<byte> want = _model.AsSpan((int)(_lba[s] * 512), bytes);
                int diff = got.CommonPrefixLength(want);
                if (diff < bytes)
                    r.Failures.Add($"{Describe(s)}: data differs from the model at byte {diff} (LBA {_lba[s] + diff / 512})");
                else
                {
                    r.Reads++;
                    r.ReadBytesChecked += bytes;
                }
            }
        }
        Release(s);
        return true;
    }

    /// <summary>Other loads may run against other devices on the same interface: their answers are not ours.</summary>
    private bool IsOurs(in AoeResponseHeader h)
    {
        foreach (TargetPath p in _paths)
            if (p.Target.Shelf == h.Shelf && p.Target.Slot == h.Slot)
                return true;
        return false;
    }

    private void Abandon(ModelResult r)
    {
        for (int s = 0; s < _depth; s++)
        {
            if (!_busy[s])
                continue;
            r.Abandoned++;
            if (_write[s])
            {
                int bytes = _count[s] * 512;
                _abandonedWrites.Add((_lba[s], _before[s].AsSpan(0, bytes).ToArray(), _model.AsSpan((int)(_lba[s] * 512), bytes).ToArray()));
            }
            Release(s);
        }
    }

    private void Release(int s)
    {
        for (long i = _lba[s]; i < _lba[s] + _count[s]; i++)
        {
            if (_write[s])
                _writersOn[i]--;
            else
                _readersOn[i]--;
        }
        _busy[s] = false;
    }

    private string Describe(int s)
        => $"{(_write[s] ? "write" : "read")} of {_count[s]} sector(s) at LBA {_lba[s]} via {_paths[_path[s]].Socket.Interface}";
}
