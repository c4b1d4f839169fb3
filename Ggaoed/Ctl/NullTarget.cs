using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Ggaoed.Initiator;

namespace Ggaoed.Ctl;

/// <summary>
/// The benchmark ceiling: an AoE target that answers Query Config, IDENTIFY, reads (zeros) and writes
/// (discarded) without any storage I/O, from one thread with one recv() and one send() per request.
/// It shares nothing with the daemon's protocol engine, so "ggaoed / null" measures the daemon against
/// the cost of the packet path alone. It speaks the wire format itself (offsets per AoEr11) because it
/// is the other side of the initiator's codec.
/// </summary>
public sealed class NullTarget : IDisposable
{
    private const byte AtaStatusOk = 0x40;      // DRDY
    private const byte AtaStatusErr = 0x41;     // DRDY | ERR
    private const byte AtaErrAbort = 0x04;      // ABRT
    private const byte AtaErrIdNotFound = 0x10; // IDNF: LBA out of range

    private readonly PacketSocket _socket;
    private readonly ushort _shelf;
    private readonly byte _slot;
    private readonly ulong _sectors;
    private readonly byte[] _rx = new byte[65536];
    private readonly byte[] _tx;
    private byte[] _identify;
    private byte[] _config = [];
    private bool _dataDirty;
    private volatile bool _stop;
    private Thread? _thread;

    /// <summary>Takes ownership of <paramref name="socket"/>.</summary>
    public NullTarget(PacketSocket socket, ushort shelf, byte slot, ulong sectors)
    {
        if (shelf == 0xFFFF || slot == 0xFF)
            throw new ArgumentException("shelf 65535 and slot 255 are broadcast addresses");
        _socket = socket;
        _shelf = shelf;
        _slot = slot;
        _sectors = sectors;
        _tx = new byte[Math.Max(socket.Mtu + 14, 36 + 512)];
        _identify = BuildIdentify(sectors, shelf, slot);
    }

    /// <summary>Advertised buffer count (Linux uses min(bufcnt, 64) as its window and needs at least 2).</summary>
    public ushort BufferCount { get; set; } = 64;

    public ushort FirmwareVersion { get; set; } = 0x0200;

    /// <summary>
    /// Whether IDENTIFY advertises LBA48 (words 83/86 bit 10). Off, initiators must use the LBA28
    /// commands 0x20/0x30 and stay below 2^28 sectors. Set before <see cref="Start"/>.
    /// </summary>
    public bool Lba48
    {
        get => (_identify[86 * 2 + 1] & 0x04) != 0;
        set => _identify = BuildIdentify(_sectors, _shelf, _slot, value);
    }

    /// <summary>The last ATA request answered (command, LBA as decoded, sector count): lets tests see the wire.</summary>
    public (byte Command, ulong Lba, byte Sectors) LastAta { get; private set; }

    /// <summary>Drop this many ATA requests before answering any: exercises initiator retransmission.</summary>
    public int DropFirst { get; set; }

    public long Requests { get; private set; }
    public long Dropped { get; private set; }

    public string ConfigString
    {
        get => Encoding.ASCII.GetString(_config);
        set => _config = Encoding.ASCII.GetBytes(value);
    }

    /// <summary>Serves on a new background thread until <see cref="Stop"/>.</summary>
    public void Start()
    {
        _thread = new Thread(Serve) { IsBackground = true, Name = "null-target" };
        _thread.Start();
    }

    public void Stop()
    {
        _stop = true;
        _thread?.Join();
    }

    public void Dispose()
    {
        Stop();
        _socket.Dispose();
    }

    /// <summary>The loop: wakes at least every receive timeout to notice <see cref="Stop"/>.</summary>
    public void Serve()
    {
        _socket.SetReceiveTimeout(100_000);
        while (!_stop)
        {
            int n = _socket.Receive(_rx);
            if (n < 24)
                continue;
            int len = Handle(n);
            if (len > 0)
                _socket.Send(_tx.AsSpan(0, len));
        }
    }

    /// <summary>Builds the answer to the request in <c>_rx[0..n)</c> in <c>_tx</c>; 0 = no answer.</summary>
    private int Handle(int n)
    {
        ReadOnlySpan<byte> rq = _rx.AsSpan(0, n);
        if (BinaryPrimitives.ReadUInt16BigEndian(rq.Slice(12)) != 0x88A2 || (rq[14] & 0x08) != 0)
            return 0; // not AoE, or a response (ours or another target's)
        ushort shelf = BinaryPrimitives.ReadUInt16BigEndian(rq.Slice(16));
        byte slot = rq[18];
        if ((shelf != _shelf && shelf != 0xFFFF) || (slot != _slot && slot != 0xFF))
            return 0;
        Span<byte> tx = _tx;
        rq.Slice(6, 6).CopyTo(tx);
        _socket.Mac.CopyTo(tx.Slice(6));
        tx[12] = 0x88;
        tx[13] = 0xA2;
        tx[14] = 0x10 | 0x08;
        tx[15] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(16), _shelf);
        tx[18] = _slot;
        tx[19] = rq[19];
        rq.Slice(20, 4).CopyTo(tx.Slice(20));
        Requests++;
        switch (rq[19])
        {
            case 0:
                return n < 36 ? 0 : Ata(rq, tx);
            case 1:
                return Config(rq, tx);
            default:
                if (rq[19] >= 0xF0)
                    return 0; // vendor-specific: nothing to say
                tx[14] |= 0x04;
                tx[15] = 1; // AoEr11 error 1: unrecognized command code
                return Pad(tx, 24);
        }
    }

    private int Ata(ReadOnlySpan<byte> rq, Span<byte> tx)
    {
        if (DropFirst > 0)
        {
            DropFirst--;
            Dropped++;
            return 0;
        }
        byte aflags = rq[24];
        byte scnt = rq[26];
        byte cmd = rq[27];
        tx[24] = aflags;
        tx[25] = 0;
        tx[26] = scnt;
        rq.Slice(28, 8).CopyTo(tx.Slice(28));
        ulong lba = 0;
        for (int i = 5; i >= 0; i--)
            lba = (lba << 8) | rq[28 + i];
        bool ext = cmd is 0x24 or 0x34;
        if (!ext)
            lba &= 0x0FFF_FFFF; // LBA28: lba3's top nibble is device-register junk
        int bytes = scnt * 512;
        LastAta = (cmd, lba, scnt);
        switch (cmd)
        {
            case 0xEC:
                tx[27] = AtaStatusOk;
                _identify.CopyTo(tx.Slice(36));
                _dataDirty = true;
                return 36 + 512;
            case 0x20:
            case 0x24:
                if (36 + bytes > tx.Length)
                    return AtaError(tx, AtaErrAbort);
                if (lba + scnt > _sectors)
                    return AtaError(tx, AtaErrIdNotFound);
                tx[27] = AtaStatusOk;
                if (_dataDirty)
                {
                    // Reads answer zeros straight from the send buffer; only IDENTIFY ever dirties it.
                    tx.Slice(36).Clear();
                    _dataDirty = false;
                }
                return Pad(tx, 36 + bytes);
            case 0x30:
            case 0x34:
                if (rq.Length < 36 + bytes)
                    return AtaError(tx, AtaErrAbort);
                if (lba + scnt > _sectors)
                    return AtaError(tx, AtaErrIdNotFound);
                tx[27] = AtaStatusOk;
                return Pad(tx, 36);
            case 0xE7:
            case 0xEA:
                tx[27] = AtaStatusOk;
                return Pad(tx, 36);
            default:
                return AtaError(tx, AtaErrAbort);
        }
    }

    private static int AtaError(Span<byte> tx, byte error)
    {
        tx[25] = error;
        tx[27] = AtaStatusErr;
        return Pad(tx, 36);
    }

    private static int Pad(Span<byte> tx, int length)
    {
        if (length >= 60)
            return length;
        tx.Slice(length, 60 - length).Clear();
        return 60;
    }

    private int Config(ReadOnlySpan<byte> rq, Span<byte> tx)
    {
        // Missing argument bytes count as zero (nmap sends a 24-byte query).
        byte ccmd = rq.Length > 29 ? (byte)(rq[29] & 0x0F) : (byte)0;
        int reqLen = rq.Length >= 32 ? BinaryPrimitives.ReadUInt16BigEndian(rq.Slice(30)) : 0;
        ReadOnlySpan<byte> reqStr = rq.Length > 32 ? rq.Slice(32, Math.Min(reqLen, rq.Length - 32)) : ReadOnlySpan<byte>.Empty;
        switch (ccmd)
        {
            case 0:
                break;
            case 1: // exact match
                if (!reqStr.SequenceEqual(_config))
                    return 0;
                break;
            case 2: // prefix match
                if (!_config.AsSpan().StartsWith(reqStr))
                    return 0;
                break;
            case 3: // set if unset
                if (_config.Length != 0 && !reqStr.SequenceEqual(_config))
                {
                    tx[14] |= 0x04;
                    tx[15] = 4; // config string present
                    return Pad(tx, 24);
                }
                _config = reqStr.ToArray();
                break;
            case 4: // force set
                _config = reqStr.ToArray();
                break;
            default:
                tx[14] |= 0x04;
                tx[15] = 2; // bad argument
                return Pad(tx, 24);
        }
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(24), BufferCount);
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(26), FirmwareVersion);
        tx[28] = (byte)Math.Min(255, Math.Max(0, (_socket.Mtu - 36) / 512));
        tx[29] = (byte)(0x10 | ccmd);
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(30), (ushort)_config.Length);
        _config.CopyTo(tx.Slice(32));
        _dataDirty = true;
        return Pad(tx, 32 + _config.Length);
    }

    /// <summary>512 bytes of IDENTIFY DEVICE data: LBA48 supported and enabled, capacity in both places.</summary>
    internal static byte[] BuildIdentify(ulong sectors, ushort shelf, byte slot, bool lba48 = true)
    {
        byte[] d = new byte[512];
        void W(int word, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(word * 2), v);
        void S(int word, int words, string text)
        {
            for (int i = 0; i < words * 2; i++)
            {
                // ATA strings: two characters per word, the first in the high byte; space padded.
                byte c = i < text.Length ? (byte)text[i] : (byte)' ';
                d[word * 2 + (i ^ 1)] = c;
            }
        }
        W(0, 0x0040); // fixed device
        W(1, 16383);
        W(3, 16);
        W(6, 63);
        S(10, 10, "NULL" + shelf + "." + slot);
        S(23, 4, "ggnull");
        S(27, 20, "ggaoed null target");
        W(47, 0x8001);
        W(49, 1 << 9); // LBA supported
        uint lba28 = (uint)Math.Min(sectors, 0x0FFF_FFFFUL);
        W(60, (ushort)lba28);
        W(61, (ushort)(lba28 >> 16));
        W(80, 0x00F0); // ATA-4..7
        if (lba48)
        {
            W(83, (1 << 14) | (1 << 10)); // valid, LBA48 supported
            W(86, 1 << 10); // LBA48 enabled
            BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(200), sectors);
        }
        else
        {
            W(83, 1 << 14);
        }
        return d;
    }

    /// <summary><c>ggaoectl null-target IFACE --shelf S --slot L --size-mib N [--drop-first N] [--bufcnt N]</c>: serves until SIGINT/SIGTERM.</summary>
    public static int Run(string[] args)
    {
        string? iface = null;
        ushort shelf = 0;
        byte slot = 0;
        ulong sizeMib = 1024;
        int dropFirst = 0;
        ushort bufcnt = 64;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--shelf": shelf = ushort.Parse(CtlArgs.Value(args, ref i)); break;
                    case "--slot": slot = byte.Parse(CtlArgs.Value(args, ref i)); break;
                    case "--size-mib": sizeMib = ulong.Parse(CtlArgs.Value(args, ref i)); break;
                    case "--drop-first": dropFirst = int.Parse(CtlArgs.Value(args, ref i)); break;
                    case "--bufcnt": bufcnt = ushort.Parse(CtlArgs.Value(args, ref i)); break;
                    case "-h":
                    case "--help":
                        Console.WriteLine("usage: ggaoectl null-target IFACE --shelf S --slot L [--size-mib N] [--drop-first N] [--bufcnt N]");
                        return 0;
                    default:
                        if (args[i].StartsWith('-') || iface != null)
                            throw new FormatException("unexpected argument " + args[i]);
                        iface = args[i];
                        break;
                }
            }
            if (iface == null)
                throw new FormatException("missing interface");
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            Console.Error.WriteLine("null-target: " + e.Message);
            return 2;
        }

        try
        {
            using var target = new NullTarget(PacketSocket.Open(iface), shelf, slot, sizeMib * 2048)
            {
                DropFirst = dropFirst,
                BufferCount = bufcnt,
            };
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; target._stop = true; });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; target._stop = true; });
            Console.WriteLine($"null target e{shelf}.{slot} on {iface} ({sizeMib} MiB, mtu {target._socket.Mtu}); Ctrl-C stops");
            target.Serve();
            Console.WriteLine($"null target: {target.Requests} requests");
            return 0;
        }
        catch (Exception e) when (e is System.IO.IOException or ArgumentException)
        {
            Console.Error.WriteLine("null-target: " + e.Message);
            return 1;
        }
    }
}
