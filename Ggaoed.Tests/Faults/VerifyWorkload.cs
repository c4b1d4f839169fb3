using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using Ggaoed.Initiator;

namespace Ggaoed.Tests.Faults;

/// <summary>
/// A verify workload that survives the path breaking under it: one request at a time (random reads and
/// writes of 1..max sectors), every read checked against an in-memory model of the disk, retransmitted
/// every <see cref="RetransmitTicks"/> with a new tag until answered (no give-up: the test decides when
/// it has waited long enough). When the socket fails (the interface went down or was deleted and
/// re-created) it reopens it and finds the target again by a unicast-addressed config query, as an
/// initiator whose NIC came back would. Each success is time-stamped, so a test can tell how long the
/// target took to answer again after the link returned.
/// </summary>
/// <remarks>
/// AoE cannot tell a retransmitted write from a new one (AOE-NOTES 16): the first copy may still land
/// after the retransmit. Both carry the same data, so the sectors of any retransmitted write are never
/// written again ("quarantined") and stay correct whatever the order.
/// </remarks>
internal sealed class VerifyWorkload : IDisposable
{
    private const int SlotTagMask = 0x7FFF_FFFF;

    private readonly string _netns;
    private readonly string _ifname;
    private readonly ushort _shelf;
    private readonly byte _slot;
    private readonly byte[] _model;
    private readonly bool[] _quarantined;
    private readonly int _sectors;
    private readonly Random _rng;
    private readonly byte[] _tx = new byte[9100];
    private readonly byte[] _rx = new byte[65536];
    private readonly byte[] _data = new byte[255 * 512];
    private readonly List<long> _successTicks = new();
    private readonly Thread _thread;
    private PacketSocket? _socket;
    private byte[] _targetMac = new byte[6];
    private int _maxSectors;
    private uint _tag = (uint)Random.Shared.Next();
    private volatile bool _stop;
    private Exception? _crash;

    /// <param name="model">The disk as the test knows it (the backing file's content); updated as writes are sent.</param>
    public VerifyWorkload(string netns, string ifname, ushort shelf, byte slot, byte[] model, int seed)
    {
        _netns = netns;
        _ifname = ifname;
        _shelf = shelf;
        _slot = slot;
        _model = model;
        _sectors = model.Length / 512;
        _quarantined = new bool[_sectors];
        _rng = new Random(seed);
        _thread = new Thread(Body) { Name = "fault verify workload", IsBackground = true };
    }

    public long RetransmitTicks { get; init; } = Stopwatch.Frequency / 10;

    public long Reads;
    public long Writes;
    public long Retransmits;
    public long FramesSent;
    public long Reopens;
    public readonly List<string> Failures = new();

    public void Start() => _thread.Start();

    /// <summary>The first success at or after <paramref name="ticks"/> (Stopwatch), or -1.</summary>
    public long FirstSuccessAtOrAfter(long ticks)
    {
        lock (_successTicks)
        {
            foreach (long t in _successTicks)
                if (t >= ticks)
                    return t;
        }
        return -1;
    }

    public long Successes
    {
        get
        {
            lock (_successTicks)
                return _successTicks.Count;
        }
    }

    /// <summary>Waits for a success after <paramref name="ticks"/>; returns its time or -1 after <paramref name="timeout"/>.</summary>
    public long WaitForSuccessAfter(long ticks, TimeSpan timeout)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            long t = FirstSuccessAtOrAfter(ticks);
            if (t >= 0)
                return t;
            if (_crash != null)
                throw new InvalidOperationException("the workload crashed", _crash);
            Thread.Sleep(5);
        }
        return -1;
    }

    /// <summary>Stops after the request in flight is answered (or 30 s), then reads every sector and checks it against the model.</summary>
    public void StopAndVerifyAll()
    {
        _stop = true;
        if (!_thread.Join(TimeSpan.FromSeconds(30)))
            throw new TimeoutException("the workload did not stop within 30 s");
        if (_crash != null)
            throw new InvalidOperationException("the workload crashed", _crash);
        // The verify pass runs here; the socket works from any thread once opened.
        long deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        for (int lba = 0; lba < _sectors;)
        {
            int n = Math.Min(_maxSectors, _sectors - lba);
            if (!Execute(write: false, lba, n, deadline))
            {
                Failures.Add($"verify pass: no answer for LBA {lba}");
                return;
            }
            int diff = _rx.AsSpan(AoeWire.AtaHeaderLength, n * 512).CommonPrefixLength(_model.AsSpan(lba * 512, n * 512));
            if (diff < n * 512)
                Failures.Add($"verify pass: LBA {lba + diff / 512} differs from the model");
            lba += n;
        }
    }

    private void Body()
    {
        try
        {
            using (var ns = File.OpenHandle("/var/run/netns/" + _netns))
                if (Ggaoed.Native.Libc.setns((int)ns.DangerousGetHandle(), Ggaoed.Native.Libc.CLONE_NEWNET) != 0)
                    throw new InvalidOperationException("setns failed: errno " + Marshal.GetLastPInvokeError());
            Connect(Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency);
            if (_maxSectors == 0)
                throw new InvalidOperationException($"e{_shelf}.{_slot} did not answer a config query on {_ifname}");
            while (!_stop)
                OneRequest();
        }
        catch (Exception e)
        {
            _crash = e;
        }
    }

    private void OneRequest()
    {
        bool write = _rng.Next(2) == 0;
        int count = _rng.Next(1, _maxSectors + 1);
        int lba = _rng.Next(0, _sectors - count + 1);
        if (write)
        {
            for (int i = lba; i < lba + count; i++)
                if (_quarantined[i])
                {
                    write = false;
                    break;
                }
        }
        if (write)
        {
            _rng.NextBytes(_data.AsSpan(0, count * 512));
            _data.AsSpan(0, count * 512).CopyTo(_model.AsSpan(lba * 512));
        }
        long attemptsBefore = Retransmits;
        // No give-up inside the outages the tests make (seconds); 30 s without an answer is a failure.
        if (!Execute(write, lba, count, Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency))
        {
            lock (Failures)
                Failures.Add($"{(write ? "write" : "read")} of {count} at LBA {lba}: no answer within 30 s");
            _stop = true;
            return;
        }
        if (write && Retransmits != attemptsBefore)
            for (int i = lba; i < lba + count; i++)
                _quarantined[i] = true;
        if (write)
        {
            Writes++;
        }
        else
        {
            int diff = _rx.AsSpan(AoeWire.AtaHeaderLength, count * 512).CommonPrefixLength(_model.AsSpan(lba * 512, count * 512));
            if (diff < count * 512)
                lock (Failures)
                    Failures.Add($"read of {count} at LBA {lba}: sector {lba + diff / 512} differs from the model");
            Reads++;
        }
        lock (_successTicks)
            _successTicks.Add(Stopwatch.GetTimestamp());
    }

    /// <summary>Sends until answered; the answer is in _rx. False when stopped first (or past <paramref name="deadline"/>).</summary>
    private bool Execute(bool write, int lba, int count, long deadline)
    {
        while (true)
        {
            if (Stopwatch.GetTimestamp() > deadline)
                return false;
            try
            {
                uint tag = AoeWire.UserTagBit | (++_tag & SlotTagMask);
                if (write)
                    _data.AsSpan(0, count * 512).CopyTo(_tx.AsSpan(AoeWire.AtaHeaderLength));
                int len = AoeWire.BuildReadWrite(_tx, _targetMac, _socket!.Mac, _shelf, _slot, tag, write, lba48: true, (byte)count, (ulong)lba);
                _socket.Send(_tx.AsSpan(0, len));
                Interlocked.Increment(ref FramesSent);
                long until = Stopwatch.GetTimestamp() + RetransmitTicks;
                while (Stopwatch.GetTimestamp() < until)
                {
                    int n = _socket.Receive(_rx);
                    if (n < AoeWire.AtaHeaderLength || !AoeWire.TryParseResponse(_rx.AsSpan(0, n), out AoeResponseHeader h)
                        || h.Command != AoeWire.CommandAta || h.Tag != tag)
                        continue;
                    if (h.IsError)
                        throw new InvalidOperationException($"AoE error {h.Error} for {(write ? "write" : "read")} at LBA {lba}");
                    if (AoeWire.IsAtaFailure(_rx[27]))
                        throw new InvalidOperationException($"ATA status 0x{_rx[27]:x2} for {(write ? "write" : "read")} at LBA {lba}");
                    if (!write && n - AoeWire.AtaHeaderLength < count * 512)
                        throw new InvalidOperationException($"runt read answer ({n} bytes) at LBA {lba}");
                    return true;
                }
                Retransmits++;
            }
            catch (IOException)
            {
                // The interface went down or away under the socket (ENETDOWN, ENXIO): reopen when it is back.
                Connect(deadline);
            }
        }
    }

    /// <summary>(Re)opens the socket and learns the target's MAC and frame size from its config answer.</summary>
    private void Connect(long deadline)
    {
        _socket?.Dispose();
        _socket = null;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            try
            {
                _socket ??= PacketSocket.Open(_ifname, receiveTimeoutUs: 5_000);
                uint tag = AoeWire.UserTagBit | (++_tag & SlotTagMask);
                int len = AoeWire.BuildConfigQuery(_tx, AoeWire.BroadcastMac, _socket.Mac, _shelf, _slot, tag);
                _socket.Send(_tx.AsSpan(0, len));
                Interlocked.Increment(ref FramesSent);
                long until = Stopwatch.GetTimestamp() + RetransmitTicks;
                while (Stopwatch.GetTimestamp() < until)
                {
                    int n = _socket.Receive(_rx);
                    if (n == 0 || !AoeWire.TryParseResponse(_rx.AsSpan(0, n), out AoeResponseHeader h)
                        || h.Command != AoeWire.CommandConfig || h.Tag != tag || h.IsError)
                        continue;
                    _targetMac = _rx.AsSpan(6, 6).ToArray();
                    var target = new DiscoveredTarget(_shelf, _slot, _targetMac, AoeWire.ParseConfig(_rx.AsSpan(0, n)));
                    _maxSectors = target.MaxSectorsPerFrame(_socket.Mtu);
                    Reopens++;
                    return;
                }
            }
            catch (IOException)
            {
                _socket?.Dispose();
                _socket = null;
                Thread.Sleep(10);
            }
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join(TimeSpan.FromSeconds(30));
        _socket?.Dispose();
    }
}
