namespace Ggaoed.Native;

/// <summary>
/// struct aio_ring (fs/aio.c): the completion ring io_setup maps into the caller's address space; the
/// aio_context_t IS its address. Not in any uapi header, so the ABI test cannot check it; the kernel
/// marks the layout with <see cref="AIO_RING_MAGIC"/> and <see cref="incompat_features"/> = 0, and
/// readers must fall back to io_getevents when either differs. io_event records follow the header
/// (<see cref="header_length"/> bytes); the kernel writes an event, then <see cref="tail"/>; the
/// reader consumes from <see cref="head"/> and stores the new head (the kernel reads it to refill its
/// free-request count).
/// </summary>
public struct aio_ring
{
    public const uint AIO_RING_MAGIC = 0xa10a10a1;
    public const uint AIO_RING_INCOMPAT_FEATURES = 0;

    public uint id;
    public uint nr;
    public uint head;
    public uint tail;
    public uint magic;
    public uint compat_features;
    public uint incompat_features;
    public uint header_length;
}
