namespace Ggaoed.Protocol;

/// <summary>
/// Per-device protocol counters, bumped by <see cref="AoeEngine.Handle"/> on the owning thread. Counting
/// instead of logging keeps the receive path quiet under floods (a denied MAC hammering a device must
/// not fill the journal). Other threads may read them for status output; a slightly stale value is fine.
/// Frames for other shelf/slot addresses are not counted here.
/// </summary>
public sealed class AoeTargetCounters
{
    /// <summary>Frames addressed to this device and visible to their sender.</summary>
    public long Requests;
    /// <summary>Frames dropped by the deny list, the accept list or the Mac Mask List.</summary>
    public long Denied;
    /// <summary>Broadcast ATA commands ignored because the device does not allow them.</summary>
    public long BroadcastIgnored;
    /// <summary>Accepted requests that got no reply: config test mismatch, or a reply that does not fit.</summary>
    public long Unanswered;
    public long Replies;
    /// <summary>Replies carrying the AoE Error flag (bad version, unknown command, bad argument, reserved, ...).</summary>
    public long AoeErrors;
    /// <summary>ATA replies with ERR set, decided without I/O (bounds, read-only, unsupported command).</summary>
    public long AtaErrors;
    /// <summary>Read, write and flush requests handed to the data path.</summary>
    public long IoRequests;

    public void Reset()
    {
        Requests = Denied = BroadcastIgnored = Unanswered = Replies = AoeErrors = AtaErrors = IoRequests = 0;
    }
}
