namespace Ggaoed.Storage;

/// <summary>
/// One request of one device as the merge planner sees it: either still queued (<see cref="InFlight"/>
/// false, the planner may place it in an iocb) or already in the kernel (true, it only constrains
/// what may be submitted next). Sectors are AoE's 512-byte sectors.
/// </summary>
public readonly struct IoRequest
{
    public IoRequest(int slot, IoKind kind, ulong lba, int sectors, long sequence, bool inFlight = false)
    {
        Slot = slot;
        Kind = kind;
        Lba = lba;
        Sectors = sectors;
        Sequence = sequence;
        InFlight = inFlight;
    }

    /// <summary>The engine's queue slot; the plan lists slots, the engine maps them to buffers.</summary>
    public int Slot { get; }

    public IoKind Kind { get; }

    public ulong Lba { get; }

    public int Sectors { get; }

    /// <summary>Arrival order: a larger value arrived later. Unique per device.</summary>
    public long Sequence { get; }

    public bool InFlight { get; }

    public ulong EndLba => Lba + (uint)Sectors;
}

/// <summary>
/// One iocb of a plan: <see cref="SlotCount"/> requests, adjacent on disk, in LBA order starting at
/// <see cref="Offset"/>. One slot becomes PREAD/PWRITE, several PREADV/PWRITEV; a flush is FDSYNC.
/// </summary>
public readonly struct PlannedOp
{
    public PlannedOp(IoKind kind, long offset, long bytes, int firstSlot, int slotCount)
    {
        Kind = kind;
        Offset = offset;
        Bytes = bytes;
        FirstSlot = firstSlot;
        SlotCount = slotCount;
    }

    public IoKind Kind { get; }

    /// <summary>Byte offset in the backing store (LBA × 512).</summary>
    public long Offset { get; }

    /// <summary>Total bytes of all slots (0 for a flush).</summary>
    public long Bytes { get; }

    /// <summary>Index of the first slot in <see cref="RequestMerger.PlanSlots"/>.</summary>
    public int FirstSlot { get; }

    public int SlotCount { get; }
}

/// <summary>Caps on one merged iocb.</summary>
public readonly struct MergeLimits
{
    /// <summary>
    /// 64 iovecs by default, well under the kernel's IOV_MAX/UIO_MAXIOV of 1024. The Linux initiator
    /// keeps at most aoe_maxout = 64 requests outstanding per target, so 64 never splits a run that one
    /// initiator can produce; beyond 8 (UIO_FASTIOV) the kernel allocates the iovec copy anyway, so a
    /// larger cap only makes the first request of a long run wait for the last.
    /// </summary>
    public const int DefaultMaxIovecs = 64;

    /// <summary>
    /// 1 MiB by default: the block layer splits bigger bios at max_sectors_kb (typically 512 KiB to
    /// 1280 KiB) anyway, and every request in a merged iocb completes only when the whole iocb does.
    /// </summary>
    public const long DefaultMaxBytes = 1 << 20;

    /// <summary>The kernel refuses more iovecs than this in one call (IOV_MAX, UIO_MAXIOV).</summary>
    public const int IovMax = 1024;

    public MergeLimits(int maxIovecs, long maxBytes)
    {
        if (maxIovecs < 1 || maxIovecs > IovMax)
            throw new System.ArgumentOutOfRangeException(nameof(maxIovecs), maxIovecs, "must be 1.." + IovMax);
        if (maxBytes < Sector.Size)
            throw new System.ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "must be at least one sector");
        MaxIovecs = maxIovecs;
        MaxBytes = maxBytes;
    }

    public static MergeLimits Default => new(DefaultMaxIovecs, DefaultMaxBytes);

    /// <summary>Every request in its own iocb (merging off; used by the benchmark for comparison).</summary>
    public static MergeLimits NoMerging => new(1, DefaultMaxBytes);

    public int MaxIovecs { get; }

    public long MaxBytes { get; }
}
