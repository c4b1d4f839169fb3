using System;
using System.IO;
using Ggaoed.Ctl;
using Ggaoed.Daemon;

namespace Ggaoed;

/// <summary>
/// One binary, two tools: invoked as <c>ggaoectl</c> (a symlink) or as <c>ggaoed ctl ...</c> it is the
/// control client; otherwise it is the daemon.
/// </summary>
internal static class Program
{
    public const string Version = "2.0.0";

    private static int Main(string[] args)
    {
        string invokedAs = Path.GetFileName(Environment.GetCommandLineArgs()[0]);
        if (invokedAs.StartsWith("ggaoectl", StringComparison.Ordinal))
            return CtlMain.Run(args);
        if (args.Length > 0 && args[0] == "ctl")
            return CtlMain.Run(args.AsSpan(1).ToArray());
        return DaemonMain.Run(args);
    }
}
