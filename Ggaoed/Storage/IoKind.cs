namespace Ggaoed.Storage;

/// <summary>
/// What a request asks the backing store to do: the one name for it from the parser
/// (<c>Protocol.AoeIoRequest.Kind</c>) through the device queue to the kernel op. It lives here, in the
/// lower layer, so the protocol engine names storage's vocabulary and storage knows nothing of AoE.
/// </summary>
public enum IoKind : byte
{
    Read,
    Write,

    /// <summary>ATA FLUSH CACHE (EXT): make every write completed before it durable (fdatasync, IOCB_CMD_FDSYNC).</summary>
    Flush,
}
