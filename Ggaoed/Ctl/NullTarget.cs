using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Ggaoed.Native;
using Ggaoed.Network;
using Ggaoed.Protocol;
using Ggaoed.Storage;
using PacketSocket = Ggaoed.Initiator.PacketSocket;

namespace Ggaoed.Ctl;

/// <summary>
/// The benchmark ceiling: an AoE target that answers Query Config, IDENTIFY, reads (zeros) and writes
/// (discarded) without any storage I/O. It does not run the daemon's protocol engine (no access lists,
/// masks or reservations, no queue), so "ggaoed / null" measures the daemon against the cost of the
/// packet path alone; it shares only the wire vocabulary (<see cref="AoeWire"/>, <see cref="Ata"/>) and
/// the IDENTIFY block (<see cref="AtaIdentify"/>), so both describe a target the same way.
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
    /// <summary>IDENTIFY's model string (words 27-46), so a test or an admin sees what answered.</summary>
    public const string Model = "ggaoed null target";

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
    private bool _lba48 = true;
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
        if (shelf == AoeWire.BroadcastShelf || slot == AoeWire.BroadcastSlot)
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
    public ushort BufferCount { get; set; } = AoeTarget.DefaultBufferCount;

    public ushort FirmwareVersion { get; set; } = AoeTarget.DefaultFirmwareVersion;

    /// <summary>
    /// Whether IDENTIFY advertises LBA48 (words 83/86 bit 10). Off, initiators must use the LBA28
    /// commands 0x20/0x30 and stay below 2^28 sectors. Set before <see cref="Start"/>.
    /// </summary>
    public bool Lba48
    {
        get => _lba48;
        set
        {
            _lba48 = value;
            _identify = BuildIdentify(_sectors, _shelf, _slot, value);
        }
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
                if (frame.Length >= AoeWire.ArgOffset)
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
        if (BinaryPrimitives.ReadUInt16BigEndian(rq.Slice(AoeWire.EthTypeOffset)) != AoeWire.EtherType || (rq[AoeWire.VerFlagsOffset] & AoeWire.FlagResponse) != 0)
            return 0; // not AoE, or a response (ours or another target's)
        ushort shelf = BinaryPrimitives.ReadUInt16BigEndian(rq.Slice(AoeWire.MajorOffset));
        byte slot = rq[AoeWire.MinorOffset];
        if ((shelf != _shelf && shelf != AoeWire.BroadcastShelf) || (slot != _slot && slot != AoeWire.BroadcastSlot))
            return 0;
        byte command = rq[AoeWire.CommandOffset];
        rq.Slice(AoeWire.EthSourceOffset, 6).CopyTo(tx.Slice(AoeWire.EthDestinationOffset));
        _mac.CopyTo(tx.Slice(AoeWire.EthSourceOffset));
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(AoeWire.EthTypeOffset), AoeWire.EtherType);
        tx[AoeWire.VerFlagsOffset] = AoeWire.ReplyVerFlags;
        tx[AoeWire.ErrorOffset] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(AoeWire.MajorOffset), _shelf);
        tx[AoeWire.MinorOffset] = _slot;
        tx[AoeWire.CommandOffset] = command;
        rq.Slice(AoeWire.TagOffset, 4).CopyTo(tx.Slice(AoeWire.TagOffset));
        Requests++;
        switch (command)
        {
            case AoeWire.CmdAta:
                return rq.Length < AoeWire.AtaPayloadOffset ? 0 : AnswerAta(rq, tx, ref dirty);
            case AoeWire.CmdQueryConfig:
                dirty = true;
                return AnswerConfig(rq, tx);
            default:
                if (command >= VendorCommands)
                    return 0; // vendor-specific: nothing to say
                return AoeError(tx, AoeWire.ErrUnrecognizedCommand);
        }
    }

    /// <summary>AoE commands 0xF0-0xFF are vendor-specific (AoEr11 section 2.4): not ours to answer.</summary>
    private const byte VendorCommands = 0xF0;

    private static int AoeError(Span<byte> tx, byte code)
    {
        tx[AoeWire.VerFlagsOffset] |= AoeWire.FlagError;
        tx[AoeWire.ErrorOffset] = code;
        return Pad(tx, AoeWire.ArgOffset);
    }

    private int AnswerAta(ReadOnlySpan<byte> rq, Span<byte> tx, ref bool dirty)
    {
        if (DropFirst > 0)
        {
            DropFirst--;
            Dropped++;
            return 0;
        }
        byte aflags = rq[AoeWire.AtaAflagsOffset];
        byte scnt = rq[AoeWire.AtaSectorCountOffset];
        byte cmd = rq[AoeWire.AtaCmdStatusOffset];
        tx[AoeWire.AtaAflagsOffset] = aflags;
        tx[AoeWire.AtaErrFeatureOffset] = 0;
        tx[AoeWire.AtaSectorCountOffset] = scnt;
        rq.Slice(AoeWire.AtaLbaOffset, 8).CopyTo(tx.Slice(AoeWire.AtaLbaOffset)); // six LBA bytes and two reserved
        ulong lba = 0;
        for (int i = 5; i >= 0; i--)
            lba = (lba << 8) | rq[AoeWire.AtaLbaOffset + i]; // little-endian (AOE-NOTES 0.1)
        bool ext = cmd is Ata.CmdReadSectorsExt or Ata.CmdWriteSectorsExt;
        if (!ext)
            lba &= AtaIdentify.MaxLba28Capacity; // LBA28: lba3's top nibble is device-register junk
        int bytes = scnt * Sector.Size;
        LastAta = (cmd, lba, scnt);
        switch (cmd)
        {
            case Ata.CmdIdentify:
                tx[AoeWire.AtaCmdStatusOffset] = Ata.StatusOk;
                _identify.CopyTo(tx.Slice(AoeWire.AtaPayloadOffset));
                dirty = true;
                return AoeWire.AtaPayloadOffset + AtaIdentify.BlockLength;
            case Ata.CmdReadSectors:
            case Ata.CmdReadSectorsExt:
                if (AoeWire.AtaPayloadOffset + bytes > tx.Length)
                    return AtaError(tx, Ata.ErrorAbrt);
                if (lba + scnt > _sectors)
                    return AtaError(tx, Ata.ErrorIdnf);
                tx[AoeWire.AtaCmdStatusOffset] = Ata.StatusOk;
                if (dirty)
                {
                    // Reads answer zeros straight from the TX frame; only IDENTIFY and Query Config
                    // write into a frame's data area (other replies end before byte 60 and Pad zeros).
                    tx.Slice(AoeWire.AtaPayloadOffset).Clear();
                    dirty = false;
                }
                return Pad(tx, AoeWire.AtaPayloadOffset + bytes);
            case Ata.CmdWriteSectors:
            case Ata.CmdWriteSectorsExt:
                if (rq.Length < AoeWire.AtaPayloadOffset + bytes)
                    return AtaError(tx, Ata.ErrorAbrt);
                if (lba + scnt > _sectors)
                    return AtaError(tx, Ata.ErrorIdnf);
                tx[AoeWire.AtaCmdStatusOffset] = Ata.StatusOk;
                return Pad(tx, AoeWire.AtaPayloadOffset);
            case Ata.CmdFlushCache:
            case Ata.CmdFlushCacheExt:
                tx[AoeWire.AtaCmdStatusOffset] = Ata.StatusOk;
                return Pad(tx, AoeWire.AtaPayloadOffset);
            default:
                return AtaError(tx, Ata.ErrorAbrt);
        }
    }

    private static int AtaError(Span<byte> tx, byte error)
    {
        tx[AoeWire.AtaErrFeatureOffset] = error;
        tx[AoeWire.AtaCmdStatusOffset] = Ata.StatusFailed;
        return Pad(tx, AoeWire.AtaPayloadOffset);
    }

    private static int Pad(Span<byte> tx, int length)
    {
        if (length >= AoeWire.MinFrameLength)
            return length;
        tx.Slice(length, AoeWire.MinFrameLength - length).Clear();
        return AoeWire.MinFrameLength;
    }

    private int AnswerConfig(ReadOnlySpan<byte> rq, Span<byte> tx)
    {
        // Missing argument bytes count as zero (nmap sends a 24-byte query).
        byte ccmd = rq.Length > AoeWire.CfgVerCmdOffset ? (byte)(rq[AoeWire.CfgVerCmdOffset] & 0x0F) : (byte)0;
        int reqLen = rq.Length >= AoeWire.CfgStringOffset ? BinaryPrimitives.ReadUInt16BigEndian(rq.Slice(AoeWire.CfgLengthOffset)) : 0;
        ReadOnlySpan<byte> reqStr = rq.Length > AoeWire.CfgStringOffset
            ? rq.Slice(AoeWire.CfgStringOffset, Math.Min(reqLen, rq.Length - AoeWire.CfgStringOffset))
            : ReadOnlySpan<byte>.Empty;
        switch (ccmd)
        {
            case AoeWire.CCmdRead:
                break;
            case AoeWire.CCmdTestExact:
                if (!reqStr.SequenceEqual(_config))
                    return 0;
                break;
            case AoeWire.CCmdTestPrefix:
                if (!_config.AsSpan().StartsWith(reqStr))
                    return 0;
                break;
            case AoeWire.CCmdSetIfEmpty:
                if (_config.Length != 0 && !reqStr.SequenceEqual(_config))
                    return AoeError(tx, AoeWire.ErrConfigStringPresent);
                _config = reqStr.ToArray();
                break;
            case AoeWire.CCmdForceSet:
                _config = reqStr.ToArray();
                break;
            default:
                return AoeError(tx, AoeWire.ErrBadArgument);
        }
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(AoeWire.CfgBufferCountOffset), BufferCount);
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(AoeWire.CfgFirmwareOffset), FirmwareVersion);
        tx[AoeWire.CfgSectorCountOffset] = (byte)AoeWire.MaxSectorsForMtu(_port.Mtu);
        tx[AoeWire.CfgVerCmdOffset] = (byte)((AoeWire.Version << 4) | ccmd);
        BinaryPrimitives.WriteUInt16BigEndian(tx.Slice(AoeWire.CfgLengthOffset), (ushort)_config.Length);
        _config.CopyTo(tx.Slice(AoeWire.CfgStringOffset));
        return Pad(tx, AoeWire.CfgStringOffset + _config.Length);
    }

    /// <summary>
    /// The IDENTIFY DEVICE block the null target answers with: the protocol's own builder
    /// (<see cref="AtaIdentify"/>) for a target "NULLshelf.slot" of <paramref name="sectors"/> sectors.
    /// </summary>
    internal static byte[] BuildIdentify(ulong sectors, ushort shelf, byte slot, bool lba48 = true)
    {
        var target = new AoeTarget(shelf, slot, sectors) { Name = "NULL" + shelf + "." + slot, Model = Model };
        byte[] block = new byte[AtaIdentify.BlockLength];
        AtaIdentify.Build(block, target, lba48);
        return block;
    }

    /// <summary><c>ggaoectl null-target IFACE --shelf S --slot L --size-mib N [--drop-first N] [--bufcnt N]</c>: serves until SIGINT/SIGTERM.</summary>
    public static int Run(string[] args)
    {
        string? iface = null;
        ushort shelf = 0;
        byte slot = 0;
        ulong sizeMib = 1024;
        int dropFirst = 0;
        ushort bufcnt = AoeTarget.DefaultBufferCount;
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
            using var target = new NullTarget(PacketSocket.Open(iface), shelf, slot, sizeMib * ((1 << 20) / Sector.Size))
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
