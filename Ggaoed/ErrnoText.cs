using System;
using System.Globalization;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed;

/// <summary>
/// The one way an errno becomes words in a log line, an exception or a reply to ggaoectl, for every
/// layer (storage, network, daemon, the tools): the C library's text and the symbolic name, e.g.
/// "No such file or directory (ENOENT)"; a value <see cref="Errno"/> does not name shows its number.
/// Only at the edges: the data path counts errors and never formats them per request.
/// </summary>
internal static class ErrnoText
{
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno) + " (" + Name(errno) + ")";

    /// <summary>"ENOENT", or "errno 1234" for a value the <see cref="Errno"/> enum does not list.</summary>
    public static string Name(int errno)
        => Enum.IsDefined((Errno)errno) ? ((Errno)errno).ToString() : "errno " + errno.ToString(CultureInfo.InvariantCulture);
}
