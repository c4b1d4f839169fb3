using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace Ggaoed.Initiator;

/// <summary>
/// A synchronous AoE initiator on one interface: discovery, IDENTIFY, and ATA reads/writes with
/// timeouts and retransmission. One request in flight at a time; <see cref="AoePipeline"/> keeps many.
/// Not thread-safe.
/// </summary>
public sealed class AoeClient : IDisposable
{
    private readonly PacketSocket _socket;
    private readonly byte[] _tx;
    private readonly byte[] _rx;
    private uint _tagCounter;

    public AoeClient(string ifname) : this(PacketSocket.Open(ifname))
    {
    }

    /// <summary>Takes ownership of <paramref name="socket"/>.</summary>
    public AoeClient(PacketSocket socket)
    {
        _socket = socket;
        _tx = new byte[Math.Max(socket.Mtu + 14, 128)];
        _rx = new byte[65536];
        // A random start keeps two runs against the same target from reusing each other's tags.
        _tagCounter = (uint)Random.Shared.Next();
    }

    public PacketSocket Socket => _socket;
    public string Interface => _socket.Interface;
    public byte[] Mac => _socket.Mac;
    public int Mtu => _socket.Mtu;

    /// <summary>First attempt's timeout; each retransmit doubles it up to <see cref="MaxAttemptTimeout"/>.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMilliseconds(250);
    public TimeSpan MaxAttemptTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Attempts per request (the first send plus retransmits).</summary>
    public int MaxAttempts { get; set; } = 6;

    public long Retransmits { get; private set; }

    /// <summary>Responses whose tag matched no request in flight (e.g. the late answer to a retransmitted one).</summary>
    public long UnexpectedResponses { get; private set; }

    /// <summary>A fresh tag: bit 31 set, as userland AoE tools do (see <see cref="AoeWire.UserTagBit"/>).</summary>
    public uint NextTag() => AoeWire.UserTagBit | (++_tagCounter & 0x7FFF_FFFF);

    /// <summary>
    /// Broadcasts Query Config (shelf 0xFFFF, slot 0xFF unless given) and collects every answer until
    /// <paramref name="timeout"/>, then sends IDENTIFY to each target found. Sorted by shelf.slot, then MAC.
    /// </summary>
    public List<DiscoveredTarget> Discover(TimeSpan timeout, ushort shelf = AoeWire.BroadcastShelf, byte slot = AoeWire.BroadcastSlot, bool identify = true)
    {
        uint tag = NextTag();
        int len = AoeWire.BuildConfigQuery(_tx, AoeWire.BroadcastMac, _socket.Mac, shelf, slot, tag);
        var found = new List<DiscoveredTarget>();
        if (!_socket.Send(_tx.AsSpan(0, len)))
            return found;
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            int n = _socket.Receive(_rx);
            if (n == 0)
                continue;
            ReadOnlySpan<byte> frame = _rx.AsSpan(0, n);
            if (!AoeWire.TryParseResponse(frame, out AoeResponseHeader h) || h.Command != AoeWire.CommandConfig)
                continue;
            if (h.Tag != tag)
            {
                UnexpectedResponses++;
                continue;
            }
            // Linux rejects these too: a target must answer with its own address, never the broadcast one.
            if (h.IsError || h.Shelf == AoeWire.BroadcastShelf || h.Slot == AoeWire.BroadcastSlot)
                continue;
            byte[] mac = frame.Slice(6, 6).ToArray();
            bool dup = false;
            foreach (DiscoveredTarget t in found)
                if (t.Shelf == h.Shelf && t.Slot == h.Slot && t.Mac.AsSpan().SequenceEqual(mac))
                    dup = true;
            if (!dup)
                found.Add(new DiscoveredTarget(h.Shelf, h.Slot, mac, AoeWire.ParseConfig(frame)));
        }
        found.Sort(static (a, b) =>
        {
            int c = a.Shelf.CompareTo(b.Shelf);
            if (c == 0)
                c = a.Slot.CompareTo(b.Slot);
            return c != 0 ? c : a.Mac.AsSpan().SequenceCompareTo(b.Mac);
        });
        if (identify)
        {
            foreach (DiscoveredTarget t in found)
            {
                try
                {
                    t.Identify = Identify(t);
                }
                catch (AoeException)
                {
                    // Listed without a size; the caller shows it as unknown.
                }
            }
        }
        return found;
    }

    /// <summary>Sends IDENTIFY DEVICE and decodes the answer.</summary>
    public IdentifyInfo Identify(DiscoveredTarget target)
    {
        byte[] data = new byte[512];
        Execute(target, AoeWire.AtaIdentify, write: false, lba: 0, sectors: 1, ReadOnlySpan<byte>.Empty, data);
        return IdentifyInfo.Parse(data);
    }

    /// <summary>Reads <paramref name="destination"/>.Length / 512 sectors from <paramref name="lba"/>, one frame at a time.</summary>
    public void Read(DiscoveredTarget target, ulong lba, Span<byte> destination)
    {
        int total = CheckLength(destination.Length);
        int per = PerFrame(target);
        for (int done = 0; done < total;)
        {
            int n = Math.Min(per, total - done);
            Execute(target, 0, write: false, lba + (ulong)done, n, ReadOnlySpan<byte>.Empty,
                destination.Slice(done * AoeWire.SectorSize, n * AoeWire.SectorSize));
            done += n;
        }
    }

    /// <summary>Writes <paramref name="source"/> (a whole number of sectors) at <paramref name="lba"/>, one frame at a time.</summary>
    public void Write(DiscoveredTarget target, ulong lba, ReadOnlySpan<byte> source)
    {
        int total = CheckLength(source.Length);
        int per = PerFrame(target);
        for (int done = 0; done < total;)
        {
            int n = Math.Min(per, total - done);
            Execute(target, 0, write: true, lba + (ulong)done, n,
                source.Slice(done * AoeWire.SectorSize, n * AoeWire.SectorSize), Span<byte>.Empty);
            done += n;
        }
    }

    private int PerFrame(DiscoveredTarget target)
    {
        int per = target.MaxSectorsPerFrame(_socket.Mtu);
        if (per < 1)
            throw new InvalidOperationException($"MTU {_socket.Mtu} of {Interface} is too small for one sector per frame");
        return per;
    }

    private static int CheckLength(int bytes)
    {
        if (bytes % AoeWire.SectorSize != 0)
            throw new ArgumentException("length must be a multiple of 512 bytes");
        return bytes / AoeWire.SectorSize;
    }

    /// <summary>
    /// One ATA request in one frame, retransmitted with a new tag on each timeout (as Linux does; a late
    /// answer to an old tag is ignored and counted in <see cref="UnexpectedResponses"/>).
    /// </summary>
    /// <param name="command">0 for read/write (chosen by LBA48 support), or an explicit ATA command such as IDENTIFY.</param>
    /// <exception cref="AtaErrorException">The status has BSY, DF, DRQ or ERR set.</exception>
    /// <exception cref="AoeErrorException">The target answered with the AoE Error flag.</exception>
    /// <exception cref="AoeTimeoutException">No answer after <see cref="MaxAttempts"/> attempts.</exception>
    public AtaResponse Execute(DiscoveredTarget target, byte command, bool write, ulong lba, int sectors, ReadOnlySpan<byte> writeData, Span<byte> readDestination)
    {
        if (sectors < 0 || sectors > 255)
            throw new ArgumentOutOfRangeException(nameof(sectors));
        if (AoeWire.AtaHeaderLength + writeData.Length > _tx.Length)
            throw new ArgumentException("write data does not fit one frame");
        writeData.CopyTo(_tx.AsSpan(AoeWire.AtaHeaderLength));
        long attemptTicks = (long)(RequestTimeout.TotalSeconds * Stopwatch.Frequency);
        long maxTicks = (long)(MaxAttemptTimeout.TotalSeconds * Stopwatch.Frequency);
        uint firstTag = 0;
        for (int attempt = 0; attempt < MaxAttempts; attempt++)
        {
            uint tag = NextTag();
            if (attempt == 0)
                firstTag = tag;
            else
                Retransmits++;
            int len = command == AoeWire.AtaIdentify
                ? AoeWire.BuildIdentify(_tx, target.Mac, _socket.Mac, target.Shelf, target.Slot, tag)
                : command != 0
                    ? AoeWire.BuildAta(_tx, target.Mac, _socket.Mac, target.Shelf, target.Slot, tag,
                        (byte)((target.Lba48 ? AoeWire.AFlagExtended : 0) | (write ? AoeWire.AFlagWrite : 0)), command, (byte)sectors, lba, writeData.Length)
                    : AoeWire.BuildReadWrite(_tx, target.Mac, _socket.Mac, target.Shelf, target.Slot, tag, write, target.Lba48, (byte)sectors, lba);
            _socket.Send(_tx.AsSpan(0, len));
            long deadline = Stopwatch.GetTimestamp() + attemptTicks;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                int n = _socket.Receive(_rx);
                if (n == 0)
                    continue;
                ReadOnlySpan<byte> frame = _rx.AsSpan(0, n);
                if (!AoeWire.TryParseResponse(frame, out AoeResponseHeader h) || h.Command != AoeWire.CommandAta
                    || h.Shelf != target.Shelf || h.Slot != target.Slot)
                    continue;
                if (h.Tag != tag)
                {
                    UnexpectedResponses++;
                    continue;
                }
                if (h.IsError)
                    throw new AoeErrorException(target, h.Error);
                if (n < AoeWire.AtaHeaderLength)
                    continue;
                AtaResponse ata = AoeWire.ParseAta(frame);
                if (ata.Failed)
                    throw new AtaErrorException(target, ata.Status, ata.Error, lba);
                if (readDestination.Length > 0)
                {
                    // Linux: "runt data size" when a read answer carries less than was asked for.
                    if (n - AoeWire.AtaHeaderLength < readDestination.Length)
                        throw new AoeException($"{target.Address}: short read response ({n - AoeWire.AtaHeaderLength} of {readDestination.Length} bytes)");
                    frame.Slice(AoeWire.AtaHeaderLength, readDestination.Length).CopyTo(readDestination);
                }
                return ata;
            }
            attemptTicks = Math.Min(attemptTicks * 2, maxTicks);
        }
        throw new AoeTimeoutException($"{target.Address}: no answer to tag 0x{firstTag:x8} after {MaxAttempts} attempts");
    }

    public void Dispose() => _socket.Dispose();
}

public class AoeException : Exception
{
    public AoeException(string message) : base(message)
    {
    }
}

public sealed class AoeTimeoutException : AoeException
{
    public AoeTimeoutException(string message) : base(message)
    {
    }
}

/// <summary>The AoE Error flag was set in the response (AoEr11 error codes 1-8).</summary>
public sealed class AoeErrorException : AoeException
{
    public AoeErrorException(DiscoveredTarget target, byte code) : base($"{target.Address}: AoE error {code}")
    {
        Code = code;
    }

    public byte Code { get; }
}

/// <summary>The ATA status reported failure (status &amp; 0xA9 != 0); <see cref="Error"/> is the ATA error register.</summary>
public sealed class AtaErrorException : AoeException
{
    public AtaErrorException(DiscoveredTarget target, byte status, byte error, ulong lba)
        : base($"{target.Address}: ATA error at LBA {lba}: status 0x{status:x2} error 0x{error:x2}")
    {
        Status = status;
        Error = error;
    }

    public byte Status { get; }
    public byte Error { get; }
}
