using System.Globalization;

namespace Ggaoed.Daemon.Config;

/// <summary>
/// One configuration problem, printed as <c>file:line: key: what is wrong and what to do</c>.
/// <see cref="Subject"/> is the key, or <c>[group]</c> for a problem with a whole group; it is null for
/// plain syntax errors. <see cref="Line"/> is 0 when the problem is about the file itself.
/// </summary>
public sealed record ConfigDiagnostic(string File, int Line, string? Subject, string Message)
{
    /// <summary>
    /// A warning that a device's backing store is missing or unusable for now (the device is not
    /// exported). A running daemon logs that device's "not exported" line itself, with the same
    /// reason, so it skips this warning instead of saying it twice; <c>ggaoed -t</c> prints it.
    /// </summary>
    public bool StoreUnavailable { get; init; }

    public override string ToString()
    {
        string where = Line > 0 ? File + ":" + Line.ToString(CultureInfo.InvariantCulture) : File;
        return Subject == null ? where + ": " + Message : where + ": " + Subject + ": " + Message;
    }
}
