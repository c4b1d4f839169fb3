using System.Diagnostics;

namespace Ggaoed.Protocol;

/// <summary>
/// Per-device protocol counters, bumped by <see cref="AoeEngine.Handle"/> on the owning thread. Counting
/// instead of logging keeps the receive path quiet under floods (a denied MAC hammering a device must
/// not fill the journal). Other threads may read them for status output; a slightly stale value is fine.
/// Frames for other shelf/slot addresses are not counted here.
/// </summary>
/// <remarks>
/// Plain fields, one per row of a status table. Every error reply is counted exactly once in one of
/// the error-kind fields (AoE error code, Mac Mask MError, ATA error bit); <see cref="AoeErrors"/> and
/// <see cref="AtaErrors"/> are their sums. Why a request was refused (<see cref="Oversized"/>,
/// <see cref="AdminRefused"/>, ...) is counted apart from the kind of reply it got.
/// </remarks>
public sealed class AoeTargetCounters
{
    /// <summary>Frames addressed to this device and visible to their sender.</summary>
    public long Requests;
    /// <summary>Frames dropped by the deny list, the accept list or the Mac Mask List.</summary>
    public long Denied;
    /// <summary>ATA commands addressed to a broadcast shelf/slot: never served, not answered.</summary>
    public long BroadcastIgnored;
    /// <summary>
    /// State changes (Mac Mask edit, Reserve set/force set, Query Config set/force set) addressed to
    /// a broadcast shelf/slot: not applied, not answered.
    /// </summary>
    public long AdminBroadcastRefused;
    /// <summary>State changes (those above, and SET FEATURES write cache) from a MAC outside admin-accept: refused with an error.</summary>
    public long AdminRefused;
    /// <summary>
    /// READ/WRITE refused with ATA ABRT before any I/O because they ask for more sectors than the
    /// interface carries, than a write's frame holds, or for 0 (256 or 65536 in ATA).
    /// </summary>
    public long Oversized;
    /// <summary>Accepted requests that got no reply: config test mismatch, or a reply that does not fit.</summary>
    public long Unanswered;
    public long Replies;
    /// <summary>Read, write and flush requests handed to the data path.</summary>
    public long IoRequests;

    // Error replies by kind. AoE error 3 (device unavailable) is never sent, so it has no field.
    /// <summary>AoE error 1: unknown AoE command.</summary>
    public long AoeErrorUnrecognizedCommand;
    /// <summary>AoE error 2: argument too short or out of range, unknown sub-command, Reserve set on a shared device.</summary>
    public long AoeErrorBadArgument;
    /// <summary>AoE error 4: config set refused (string present, or requester outside admin-accept).</summary>
    public long AoeErrorConfigStringPresent;
    /// <summary>AoE error 5: AoE version other than 1.</summary>
    public long AoeErrorUnsupportedVersion;
    /// <summary>AoE error 6: ATA or Reserve set refused by a reservation or the admin-accept list.</summary>
    public long AoeErrorTargetReserved;
    /// <summary>Mac Mask replies carrying an MError (unknown MCmd, bad directive, list full, not admin).</summary>
    public long MaskErrors;
    /// <summary>ATA error ABRT: command aborted (unsupported, read-only, oversized, refused, failed write).</summary>
    public long AtaErrorAbrt;
    /// <summary>ATA error IDNF: sectors beyond the device, or a short transfer from the backing store.</summary>
    public long AtaErrorIdnf;
    /// <summary>ATA error UNC: a read the backing store failed with EIO.</summary>
    public long AtaErrorUnc;
    /// <summary>ATA error replies with any other error register value.</summary>
    public long AtaErrorOther;

    /// <summary>Replies with the AoE Error flag: the sum of the AoeError* fields.</summary>
    public long AoeErrors => AoeErrorUnrecognizedCommand + AoeErrorBadArgument + AoeErrorConfigStringPresent
        + AoeErrorUnsupportedVersion + AoeErrorTargetReserved;

    /// <summary>ATA replies with ERR set: the sum of the AtaError* fields.</summary>
    public long AtaErrors => AtaErrorAbrt + AtaErrorIdnf + AtaErrorUnc + AtaErrorOther;

    /// <summary>
    /// Counts one ATA error reply by its error register. The engine calls it for the errors it
    /// decides; the daemon calls it for each reply it builds after failed I/O (the error from
    /// <see cref="AoeEngine.MapIoError"/>), so the two are counted alike.
    /// </summary>
    public void CountAtaError(byte ataError)
    {
        switch (ataError)
        {
            case Ata.ErrorAbrt: AtaErrorAbrt++; break;
            case Ata.ErrorIdnf: AtaErrorIdnf++; break;
            case Ata.ErrorUnc: AtaErrorUnc++; break;
            default: AtaErrorOther++; break;
        }
    }

    internal void CountAoeError(byte code)
    {
        switch (code)
        {
            case AoeWire.ErrUnrecognizedCommand: AoeErrorUnrecognizedCommand++; break;
            case AoeWire.ErrBadArgument: AoeErrorBadArgument++; break;
            case AoeWire.ErrConfigStringPresent: AoeErrorConfigStringPresent++; break;
            case AoeWire.ErrUnsupportedVersion: AoeErrorUnsupportedVersion++; break;
            case AoeWire.ErrTargetReserved: AoeErrorTargetReserved++; break;
            default: Debug.Fail("the engine wrote AoE error " + code + ", which has no counter"); break;
        }
    }

    public void Reset()
    {
        Requests = Denied = BroadcastIgnored = AdminBroadcastRefused = AdminRefused = Oversized = 0;
        Unanswered = Replies = IoRequests = 0;
        AoeErrorUnrecognizedCommand = AoeErrorBadArgument = AoeErrorConfigStringPresent = 0;
        AoeErrorUnsupportedVersion = AoeErrorTargetReserved = MaskErrors = 0;
        AtaErrorAbrt = AtaErrorIdnf = AtaErrorUnc = AtaErrorOther = 0;
    }
}
