using System;

namespace Ggaoed.Network;

/// <summary>
/// The shape of one TPACKET_V2 ring (RX and TX use the same shape): what goes into
/// <c>struct tpacket_req</c>. Computed by <see cref="Compute"/>, a pure function, so the arithmetic is
/// unit-tested without a kernel.
/// </summary>
internal readonly record struct RingGeometry(int BlockSize, int BlockCount, int FrameSize, int FramesPerBlock)
{
    /// <summary>TPACKET_ALIGNMENT (linux/if_packet.h).</summary>
    public const int Alignment = 16;

    /// <summary>sizeof(struct tpacket2_hdr).</summary>
    public const int HeaderSize = 32;

    /// <summary>sizeof(struct sockaddr_ll).</summary>
    public const int SockaddrLlSize = 20;

    /// <summary>TPACKET2_HDRLEN = TPACKET_ALIGN(sizeof(tpacket2_hdr)) + sizeof(sockaddr_ll) = 52.</summary>
    public const int Tpacket2HdrLen = 32 + SockaddrLlSize;

    /// <summary>
    /// Where the kernel puts the network header of a received Ethernet frame:
    /// tpacket_rcv() uses netoff = TPACKET_ALIGN(tp_hdrlen + max(maclen, 16)) + tp_reserve = 80, and the
    /// 14-byte MAC header right before it (tp_mac = 66). A frame therefore needs 80 + MTU bytes; sizing
    /// it as TPACKET2_HDRLEN + 14 + MTU (= 66 + MTU) would silently truncate full-size frames by 14 bytes.
    /// </summary>
    public const int RxNetworkOffset = 80;

    /// <summary>
    /// Where a TX frame's data starts without PACKET_TX_HAS_OFF: tpacket_parse_header() uses
    /// tp_hdrlen - sizeof(sockaddr_ll) = TPACKET_ALIGN(sizeof(tpacket2_hdr)) = 32.
    /// </summary>
    public const int TxDataOffset = 32;

    /// <summary>The block sizes tried in order: 64 KiB first, smaller when the kernel cannot allocate it.</summary>
    public static ReadOnlySpan<int> BlockSizes => [64 * 1024, 32 * 1024, 16 * 1024, 8 * 1024];

    public int FrameCount => BlockCount * FramesPerBlock;

    /// <summary>Bytes of one ring: BlockSize × BlockCount.</summary>
    public long RingBytes => (long)BlockSize * BlockCount;

    /// <summary>Bytes at the end of every block that no frame uses (frames never straddle blocks).</summary>
    public int WastePerBlock => BlockSize - FramesPerBlock * FrameSize;

    /// <summary>Largest Ethernet frame (header + payload) an RX frame holds without truncation.</summary>
    public int MaxRxFrameLength => FrameSize - (RxNetworkOffset - 14);

    /// <summary>Largest Ethernet frame a TX frame holds.</summary>
    public int MaxTxFrameLength => FrameSize - TxDataOffset;

    public static int Align(int n) => (n + Alignment - 1) & ~(Alignment - 1);

    /// <summary>Frame size for an MTU: a full-size frame (14-byte header + MTU) fits whole.</summary>
    public static int FrameSizeFor(int mtu) => Align(RxNetworkOffset + mtu);

    /// <summary>
    /// The geometry of one ring for <paramref name="ringBytes"/> per ring (ring-buffer-size is for both
    /// rings together; the caller halves it) at a given block size. Returns null when one frame does
    /// not fit in a block (MTU 9000 in 8 KiB blocks) or the block size is not a whole number of pages.
    /// </summary>
    /// <param name="maxBlocks">
    /// At most pagesize / sizeof(void*) blocks per ring (512 on x86-64): the limit the kernel's block
    /// vector historically had to fit in one page.
    /// </param>
    public static RingGeometry? Compute(long ringBytes, int mtu, int blockSize, int pageSize, int maxBlocks)
    {
        if (mtu <= 0 || blockSize <= 0 || pageSize <= 0 || blockSize % pageSize != 0 || maxBlocks <= 0)
            return null;
        int frameSize = FrameSizeFor(mtu);
        int framesPerBlock = blockSize / frameSize;
        if (framesPerBlock == 0)
            return null;
        // At least one block, even if ring-buffer-size is smaller than a block: a ring of zero frames
        // is not a ring, and the caller asked for rings.
        long blocks = Math.Clamp(ringBytes / blockSize, 1, maxBlocks);
        return new RingGeometry(blockSize, (int)blocks, frameSize, framesPerBlock);
    }

    /// <summary>
    /// The geometries to try, in order: one per block size in <see cref="BlockSizes"/> that holds a
    /// frame. The caller sets up the first; when the kernel answers ENOMEM (no contiguous block that
    /// large) it tries the next. Returns how many were written.
    /// </summary>
    public static int Candidates(long ringBytes, int mtu, int pageSize, int maxBlocks, Span<RingGeometry> into)
    {
        int count = 0;
        foreach (int blockSize in BlockSizes)
        {
            if (count < into.Length && Compute(ringBytes, mtu, blockSize, pageSize, maxBlocks) is RingGeometry g)
                into[count++] = g;
        }
        return count;
    }

    /// <summary>The maximum block count for this machine (pagesize / sizeof(void*)).</summary>
    public static int MaxBlocksForThisMachine => Environment.SystemPageSize / IntPtr.Size;
}
