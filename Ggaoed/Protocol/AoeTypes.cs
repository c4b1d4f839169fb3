using Ggaoed.Storage;

namespace Ggaoed.Protocol;

/// <summary>What to do with a received frame.</summary>
public enum AoeDecision : byte
{
    /// <summary>Not for this device, not allowed, or not worth an answer: send nothing.</summary>
    Drop,
    /// <summary>The reply frame is complete in the reply span; transmit replyLength bytes.</summary>
    Reply,
    /// <summary>Perform the I/O described by the request, then build the reply with <see cref="AoeEngine.WriteIoReply"/>.</summary>
    Io,
}

/// <summary>The interface a frame arrived on: replies go out from its MAC; its MTU bounds read sizes.</summary>
public readonly struct AoeInterface
{
    public AoeInterface(MacAddress mac, int mtu)
    {
        Mac = mac;
        Mtu = mtu;
        MaxSectors = AoeWire.MaxSectorsForMtu(mtu);
    }

    public MacAddress Mac { get; }
    /// <summary>Link MTU (Ethernet payload bytes, as in `ip link`).</summary>
    public int Mtu { get; }
    /// <summary>Most sectors per ATA request on this interface, (mtu - 36) / 512 like Linux.</summary>
    public int MaxSectors { get; }
    /// <summary>Largest frame (without FCS) we may send: MTU plus the Ethernet header.</summary>
    public int MaxFrameLength => Mtu + AoeWire.EthHeaderLength;
}

/// <summary>
/// A read, write or flush the engine accepted. Small and copyable: the data path queues it and later
/// hands it back to <see cref="AoeEngine.WriteIoReply"/>. Everything the reply echoes is inside.
/// </summary>
public readonly struct AoeIoRequest
{
    public AoeIoRequest(IoKind kind, ulong lba, int sectorCount, uint tag, MacAddress source,
        ushort shelf, byte slot, byte aflags, byte ataCommand, byte requestSectorCount, ulong rawLba,
        int payloadOffset, int payloadLength)
    {
        Kind = kind;
        Lba = lba;
        SectorCount = sectorCount;
        Tag = tag;
        Source = source;
        Shelf = shelf;
        Slot = slot;
        Aflags = aflags;
        AtaCommand = ataCommand;
        RequestSectorCount = requestSectorCount;
        RawLba = rawLba;
        PayloadOffset = payloadOffset;
        PayloadLength = payloadLength;
    }

    public IoKind Kind { get; }
    /// <summary>First 512-byte sector (already masked to 28 bits for LBA28 commands). 0 for Flush.</summary>
    public ulong Lba { get; }
    /// <summary>Number of 512-byte sectors, 1..255 for Read/Write; 0 for Flush.</summary>
    public int SectorCount { get; }
    public long ByteOffset => (long)(Lba * Sector.Size);
    public int ByteLength => SectorCount * Sector.Size;
    /// <summary>The request's tag, echoed unchanged.</summary>
    public uint Tag { get; }
    /// <summary>The initiator's MAC: the reply's destination.</summary>
    public MacAddress Source { get; }
    /// <summary>The device's own shelf/slot (not the request's, which may be broadcast).</summary>
    public ushort Shelf { get; }
    public byte Slot { get; }
    public byte Aflags { get; }
    public byte AtaCommand { get; }
    public byte RequestSectorCount { get; }
    /// <summary>The six LBA bytes as received (little-endian, unmasked), echoed in the reply.</summary>
    public ulong RawLba { get; }
    /// <summary>Write data location inside the received frame (Write only; 0/0 otherwise).</summary>
    public int PayloadOffset { get; }
    public int PayloadLength { get; }
}
