using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Ggaoed.Initiator;
using Ggaoed.Native;
using Ggaoed.Network;

namespace Ggaoed.Ctl;

/// <summary>
/// The benchmark ceiling: an AoE target that answers Query Config, IDENTIFY, reads (zeros) and writes
/// (discarded) without any storage I/O. It shares nothing with the daemon's protocol engine, so
/// "ggaoed / null" measures the daemon against the cost of the packet path alone. It speaks the wire
/// format itself (offsets per AoEr11) because it is the other side of the initiator's codec.
/// <para>To be an honest ceiling it moves frames the cheapest way this machine offers, the same
/// transport the daemon uses: the TPACKET_V2 RX/TX rings of <see cref="PacketPort"/>. Each wake-up
/// drains every received frame, writes each answer straight into a TX ring frame (no staging copy),
/// and sends them all with one kick; then it sleeps in epoll_wait. A read's zeros cost nothing: ring
/// memory starts zeroed (the kernel allocates ring pages with __GFP_ZERO), and a TX frame's data
/// area is cleared only after IDENTIFY or Query Config wrote into it. So per request it makes
/// about one syscall per batch and touches only headers: whatever the daemon does beyond that (the
/// protocol engine, the AIO round trip, copying the payload) shows up as the gap to this.</para>
/// </summary>
public sealed unsafe class NullTarget : IDisposable
{
    private const byte AtaStatusOk = 0x40;      // DRDY
    private const byte AtaStatusErr = 0x41;     // DRDY | ERR
    private const byte AtaErrAbort = 0x04;      // ABRT
    private const byte AtaErrIdNotFound = 0x10; // IDNF: LBA out of range

    /// <summary>The epoll timeout: how soon the loop notices <see cref="Stop"/>.</summary>
    private const int StopCheckMs = 100;

    private readonly PacketPort _port;
    private readonly byte[] _mac = new byte[6];
    private readonly ushort _shelf;
    private readonly byte _slot;
    private readonly ulong _sectors;
    private readonly bool[] _txDirty; // per TX frame: its data area holds something other than zeros
    private readonly int _epfd;
    private byte[] _identify;
    private byte[] _config = [];
    private volatile bool _stop;
    private Thread? _thread;

    /// <summary>
    /// Serves on the interface <paramref name="socket"/> is bound to, in the calling thread's network
    /// namespace; the socket only names the interface and is disposed here (the target opens its own
    /// ring-mapped port).
    /// </summary>
    public NullTarget(PacketSocket socket, ushort shelf, byte slot, ulong sectors)
    {
        if (shelf == 0xFFFF || slot == 0xFF)
        {
            socket.Dispose();
            throw new ArgumentException("shelf 65535 and slot 255 are broadcast addresses");
        }
        string iface = socket.Interface;
        socket.Dispose();
        try
        {
            _port = PacketPort.Open(iface, new PacketPortOptions());
        }
        catch (NetworkException e)
        {
            throw new System.IO.IOException(e.Message, e);
        }
        _port.Interface.Mac.Write(_mac);
        _shelf = shelf;
        _slot = slot;
        _sectors = sectors;
        _txDirty = new bool[_port.TxFrameCount];
        _identify = BuildIdentify(sectors, shelf, slot);
        _epfd = Libc.epoll_create1(Libc.EPOLL_CLOEXEC);
        epoll_event ev = new() { events = Libc.EPOLLIN, data = 0 };
        if (_epfd < 0 || Libc.epoll_ctl(_epfd, Libc.EPOLL_CTL_ADD, _port.Fd, &ev) != 0)
        {
            int err = Marshal.GetLastPInvokeError();
            Dispose();
            throw new System.IO.IOException("epoll: " + ErrnoText.Describe(err));
        }
    }

    /// <summary>The interface MTU at open time.</summary>
    public int Mtu => _port.Mtu;

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
        if (_epfd >= 0)
            Libc.close(_epfd);
        _port?.Dispose();
    }

    /// <summary>Replies lost because no TX frame was free even after a kick.</summary>
    public long TxFullDrops { get; private set; }

    /// <summary>The loop: drain RX, answer into TX frames, one kick per batch, sleep in epoll.</summary>
    public void Serve()
    {
        epoll_event ev;
        while (!_stop)
        {
            while (_port.TryReceive(out int rx, out Span<byte> frame))
            {
                if (frame.Length >= 24)
                    Answer(frame);
                _port.ReleaseRx(rx);
            }
            _port.Kick();
            // Level-triggered EPOLLIN: a frame that arrived since the drain wakes us at once.
            Libc.epoll_wait(_epfd, &ev, 1, StopCheckMs);
        }
    }

    private void Answer(ReadOnlySpan<byte> rq)
    {
        if (!_port.TryGetTxBuffer(out int tx, out Span<byte> buffer))
        {
            // Every frame is queued for sending: send them, which on veth frees them synchronously.
            _port.Kick();
            if (!_port.TryGetTxBuffer(out tx, out buffer))
            {
                TxFullDrops++;
                return;
            }
        }
        int len = Handle(rq, buffer, ref _txDirty[tx]);
        if (len > 0)
            _port.CommitTx(tx, len);
        else
            _port.CancelTx(tx);
    }

    /// <summary>Builds the answer to <paramref name="rq"/> in <paramref name="tx"/>; 0 = no answer.</summary>
    private int Handle(ReadOnlySpan<byte> rq, Span<byte> tx, ref bool dirty)
    {
        if (BinaryPrimitives.ReadUInt16BigEndian(rq.Slice(12)) != 0x88A2 || (rq[14] & 0x08) != 0)
            return 0; // not AoE, or a response (ours or another target's)
        ushort shelf = BinaryPrimitives.ReadUInt16BigEndian(rq.Slice(16));
        byte slot = rq[18];
        if ((shelf != _shelf && shelf != 0xFFFF) || (slot != _slot && slot != 0xFF))
            return 0;
        rq.Slice(6, 6).CopyTo(tx);
        _mac.CopyTo(tx.Slice(6));
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
                return rq.Length < 36 ? 0 : Ata(rq, tx, ref dirty);
            case 1:
                dirty = true;
                return Config(rq, tx);
            default:
                if (rq[19] >= 0xF0)
                    return 0; // vendor-specific: nothing to say
                tx[14] |= 0x04;
                tx[15] = 1; // AoEr11 error 1: unrecognized command code
                return Pad(tx, 24);
        }
    }

    private int Ata(ReadOnlySpan<byte> rq, Span<byte> tx, ref bool dirty)
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
                dirty = true;
                return 36 + 512;
            case 0x20:
            case 0x24:
                if (36 + bytes > tx.Length)
                    return AtaError(tx, AtaErrAbort);
                if (lba + scnt > _sectors)
                    return AtaError(tx, AtaErrIdNotFound);
                tx[27] = AtaStatusOk;
                if (dirty)
                {
                    // Reads answer zeros straight from the TX frame; only IDENTIFY and Query Config
                    // write into a frame's data area (other replies end before byte 60 and Pad zeros).
                    tx.Slice(36).Clear();
                    dirty = false;
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
        tx[28] = (byte)Math.Min(255, Math.Max(0, (_port.Mtu - 36) / 512));
        tx[29] = (byte)(0x10 | ccmd);
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(30), (ushort)_config.Length);
        _config.CopyTo(tx.Slice(32));
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
                        CtlArgs.Interface(args[i], ref iface);
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
            Console.WriteLine($"null target e{shelf}.{slot} on {iface} ({sizeMib} MiB, mtu {target.Mtu}); Ctrl-C stops");
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
