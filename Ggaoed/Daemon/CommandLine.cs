using System;

namespace Ggaoed.Daemon;

/// <summary>The daemon's options (ggaoed(8)).</summary>
internal sealed class DaemonOptions
{
    public const string DefaultConfigPath = "/etc/ggaoed.conf";

    public string ConfigPath { get; set; } = DefaultConfigPath;
    public bool Foreground { get; set; }
    public bool Debug { get; set; }
    public bool CheckOnly { get; set; }
    /// <summary>-T: configuration warnings are errors (for -t, and for starting).</summary>
    public bool Strict { get; set; }
    public bool ShowVersion { get; set; }
    public bool ShowHelp { get; set; }

    /// <summary>Set in the re-executed child of a detaching daemon: the inherited pipe to report readiness on.</summary>
    public int? ReadyFd { get; set; }

    /// <summary>True in the re-executed child of a detaching daemon.</summary>
    public bool Detaching => ReadyFd != null;

    /// <summary>Tells the waiting parent of a detaching daemon (no-op in the foreground).</summary>
    public void ReportToParent(string message)
    {
        if (ReadyFd is int fd && !_reported)
        {
            _reported = true; // the pipe is closed after the one verdict
            Daemonizer.ReportToParent(fd, message);
        }
    }

    private bool _reported;

    /// <summary>Tests only: what to assume about io_uring instead of probing the kernel.</summary>
    public Ggaoed.Storage.UringSupport? UringSupport { get; set; }

    /// <summary>
    /// Tests only: called at each <see cref="FaultPoint"/> with the device's name; a test throws from it
    /// to see the fault contained (<see cref="HandlerFaults"/>). Null (always, outside tests): no call.
    /// </summary>
    internal Action<FaultPoint, string>? FaultInjector { get; set; }

    public const string Usage =
        "usage: ggaoed [-c FILE] [-f] [-d] [-t] [-T] [--version] [-h]\n" +
        "  -c, --config FILE   configuration file (default " + DefaultConfigPath + ")\n" +
        "  -f, --foreground    do not detach; log to stderr\n" +
        "  -d, --debug         debug logging (implies -f)\n" +
        "  -t, --check-config  check the configuration and exit (0 = valid, 2 = errors)\n" +
        "  -T, --strict        treat configuration warnings as errors\n" +
        "      --version       print the version and exit\n" +
        "  -h, --help          print this help and exit\n" +
        "Signals: SIGHUP reloads the configuration; SIGTERM, SIGINT and SIGQUIT stop gracefully.\n" +
        "The control client is ggaoectl (this binary under that name, or 'ggaoed ctl').\n";

    /// <summary>Parses argv; returns null with <paramref name="error"/> set on a usage error.</summary>
    public static DaemonOptions? Parse(string[] args, out string? error)
    {
        var o = new DaemonOptions();
        error = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            switch (a)
            {
                case "-c":
                case "--config":
                    if (i + 1 >= args.Length)
                    {
                        error = $"option {a} needs a file name";
                        return null;
                    }
                    o.ConfigPath = args[++i];
                    break;
                case "-f":
                case "--foreground":
                    o.Foreground = true;
                    break;
                case "-d":
                case "--debug":
                    o.Debug = true;
                    o.Foreground = true;
                    break;
                case "-t":
                case "--check-config":
                    o.CheckOnly = true;
                    break;
                case "-T":
                case "--strict":
                    o.Strict = true;
                    break;
                case "--version":
                case "-V":
                    o.ShowVersion = true;
                    break;
                case "-h":
                case "--help":
                    o.ShowHelp = true;
                    break;
                case "--ready-fd":
                    if (i + 1 >= args.Length || !int.TryParse(args[i + 1], System.Globalization.NumberStyles.None,
                            System.Globalization.CultureInfo.InvariantCulture, out int readyFd) || readyFd < 3)
                    {
                        error = "option --ready-fd needs a descriptor number (it is for ggaoed's own use when detaching)";
                        return null;
                    }
                    i++;
                    o.ReadyFd = readyFd;
                    o.Foreground = true;
                    break;
                default:
                    if (a.StartsWith("--config=", StringComparison.Ordinal))
                    {
                        o.ConfigPath = a.Substring("--config=".Length);
                        break;
                    }
                    error = $"unknown option '{a}'";
                    return null;
            }
        }
        return o;
    }
}
