using System;
using System.Collections.Generic;
using System.IO;
using Ggaoed.Daemon.Config;

namespace Ggaoed.Ctl;

/// <summary>ggaoectl(8): talks to a running ggaoed over its control socket, or runs a client-side tool
/// (discover, bench, null-target) that needs no daemon.</summary>
internal static class CtlMain
{
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitUsage = 2;
    public const int ExitUnreachable = 3;

    public const string Usage =
        "usage: ggaoectl [-c FILE] [-s SOCKET] [--json] COMMAND [ARGS]\n" +
        "Daemon commands (over the control socket):\n" +
        "  stats [NAME|PATTERN...]          counters per device and interface (names of either)\n" +
        "  monitor [SECONDS] [NAME|PATTERN...] [-i SECONDS] [-n COUNT]\n" +
        "                                   live rates per device and interface (like iostat -x)\n" +
        "  metrics [NAME|PATTERN...]        counters in Prometheus text format\n" +
        "  reload                           re-read the configuration file\n" +
        "  show-config [DEVICE|PATTERN...]  AoE config strings\n" +
        "  show-macmask [DEVICE|PATTERN...] AoE MAC mask lists\n" +
        "  show-reserve [DEVICE|PATTERN...] AoE reserve lists\n" +
        "  clear-stats [NAME|PATTERN...]    zero the counters of devices and interfaces\n" +
        "  clear-config DEVICE|PATTERN...\n" +
        "  clear-macmask DEVICE|PATTERN...\n" +
        "  clear-reserve DEVICE|PATTERN...\n" +
        "Network tools (no daemon needed; run as root):\n" +
        "  discover IFACE [--timeout S]     list every AoE target answering on IFACE\n" +
        "  bench IFACE --target S.L [...]   AoE load generator (see ggaoectl(8))\n" +
        "  null-target IFACE [...]          benchmark ceiling: answers without doing I/O\n" +
        "Options:\n" +
        "  -c FILE    configuration file to take control-socket from (default /etc/ggaoed.conf)\n" +
        "  -s SOCKET  control socket path (overrides -c)\n" +
        "  --json     machine-readable output for read commands\n";

    public static int Run(string[] args)
    {
        string configPath = "/etc/ggaoed.conf";
        string? socket = null;
        bool json = false;
        int i = 0;
        for (; i < args.Length; i++)
        {
            string a = args[i];
            if ((a == "-c" || a == "-s") && i + 1 < args.Length)
            {
                if (a == "-c")
                    configPath = args[++i];
                else
                    socket = args[++i];
            }
            else if (a == "--json")
                json = true;
            else if (a == "-h" || a == "--help")
            {
                Console.Out.Write(Usage);
                return ExitOk;
            }
            else if (a == "--version")
            {
                Console.Out.WriteLine("ggaoectl " + Program.Version);
                return ExitOk;
            }
            else if (a.StartsWith('-'))
            {
                Console.Error.Write($"ggaoectl: unknown option '{a}'\n{Usage}");
                return ExitUsage;
            }
            else
                break;
        }
        if (i >= args.Length)
        {
            Console.Error.Write("ggaoectl: no command given\n" + Usage);
            return ExitUsage;
        }
        string command = args[i];
        string[] rest = args.AsSpan(i + 1).ToArray();
        switch (command)
        {
            case "discover":
                return ToolCommands.Discover(Prepend(rest, json));
            case "bench":
                return ToolCommands.Bench(Prepend(rest, json));
            case "null-target":
                return ToolCommands.NullTarget(rest);
            case "help":
                Console.Out.Write(Usage);
                return ExitOk;
        }

        socket ??= SocketFromConfig(configPath);
        switch (command)
        {
            case "monitor":
                return MonitorCommand.Run(socket, rest);
            case "stats":
            case "metrics":
            case "reload":
            case "show-config":
            case "show-macmask":
            case "show-reserve":
            case "clear-stats":
            case "clear-config":
            case "clear-macmask":
            case "clear-reserve":
                break;
            default:
                Console.Error.Write($"ggaoectl: unknown command '{command}'\n{Usage}");
                return ExitUsage;
        }
        if (command.StartsWith("clear-", StringComparison.Ordinal) && command != "clear-stats" && rest.Length == 0)
        {
            Console.Error.WriteLine($"ggaoectl: {command} needs device names or patterns (use '*' for all)");
            return ExitUsage;
        }
        var words = new List<string> { command };
        if (json)
            words.Add("--json");
        words.AddRange(rest);
        if (!ControlClient.TryCall(socket, words.ToArray(), out bool ok, out string reply))
        {
            Console.Error.WriteLine("ggaoectl: " + reply);
            return ExitUnreachable;
        }
        (ok ? Console.Out : Console.Error).Write(ok ? reply : "ggaoectl: " + reply + (reply.EndsWith('\n') ? "" : "\n"));
        return ok ? ExitOk : ExitFailed;
    }

    private static string[] Prepend(string[] rest, bool json)
    {
        if (!json)
            return rest;
        var l = new List<string>(rest) { "--json" };
        return l.ToArray();
    }

    /// <summary>The control-socket key of the config file, without validating the rest of it (a client
    /// must work even when the file has an error the admin is about to fix and reload).</summary>
    internal static string SocketFromConfig(string configPath)
    {
        DefaultsConfig? defaults = ConfigLoader.LoadDefaults(configPath, out _);
        return defaults?.ControlSocket ?? new DefaultsConfig().ControlSocket;
    }
}
