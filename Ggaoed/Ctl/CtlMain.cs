using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
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
        "  stats [DEVICE|PATTERN...]        counters per device and interface\n" +
        "  monitor [-i SECONDS] [-n COUNT]  live per-second rates (like iostat)\n" +
        "  metrics                          counters in Prometheus text format\n" +
        "  reload                           re-read the configuration file\n" +
        "  show-config [DEVICE|PATTERN...]  AoE config strings\n" +
        "  show-macmask [DEVICE|PATTERN...] AoE MAC mask lists\n" +
        "  show-reserve [DEVICE|PATTERN...] AoE reserve lists\n" +
        "  clear-stats [DEVICE|PATTERN...]\n" +
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
                return Monitor.Run(socket, rest);
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

/// <summary>ggaoectl monitor: polls "stats --raw" and prints per-second rates.</summary>
internal static class Monitor
{
    public static int Run(string socket, string[] args)
    {
        double interval = 1;
        long count = long.MaxValue;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "-i" && i + 1 < args.Length && double.TryParse(args[++i], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double s) && s > 0)
                interval = s;
            else if (args[i] == "-n" && i + 1 < args.Length && long.TryParse(args[++i], out long n) && n > 0)
                count = n;
            else
            {
                Console.Error.WriteLine($"ggaoectl monitor: bad argument '{args[i]}' (use -i SECONDS, -n COUNT)");
                return CtlMain.ExitUsage;
            }
        }
        Dictionary<string, long>? previous = null;
        long previousTicks = 0;
        for (long round = 0; round <= count; round++)
        {
            if (!ControlClient.TryCall(socket, new[] { "stats", "--raw" }, out bool ok, out string reply) || !ok)
            {
                Console.Error.WriteLine("ggaoectl: " + reply);
                return CtlMain.ExitUnreachable;
            }
            long now = Environment.TickCount64;
            Dictionary<string, long> current = RawStats.Parse(reply);
            if (previous != null)
            {
                double seconds = Math.Max(0.001, (now - previousTicks) / 1000.0);
                Console.Out.Write(RawStats.FormatRates(previous, current, seconds));
                Console.Out.Flush();
            }
            previous = current;
            previousTicks = now;
            if (round < count)
                Thread.Sleep(TimeSpan.FromSeconds(interval));
        }
        return CtlMain.ExitOk;
    }
}

/// <summary>The "stats --raw" format: one "scope.name.counter value" per line, for monitor.</summary>
internal static class RawStats
{
    public static Dictionary<string, long> Parse(string text)
    {
        var d = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int sp = line.LastIndexOf(' ');
            if (sp > 0 && long.TryParse(line.AsSpan(sp + 1), out long v))
                d[line.Substring(0, sp)] = v;
        }
        return d;
    }

    /// <summary>One line per device/interface with per-second rates of its counters.</summary>
    public static string FormatRates(Dictionary<string, long> before, Dictionary<string, long> after, double seconds)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(DateTime.Now.ToString("HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        string? currentScope = null;
        foreach (KeyValuePair<string, long> kv in Sorted(after))
        {
            int lastDot = kv.Key.LastIndexOf('.');
            if (lastDot < 0)
                continue;
            string scope = kv.Key.Substring(0, lastDot);
            string counter = kv.Key.Substring(lastDot + 1);
            if (scope != currentScope)
            {
                if (currentScope != null)
                    sb.Append('\n');
                sb.Append("  ").Append(scope.PadRight(24));
                currentScope = scope;
            }
            before.TryGetValue(kv.Key, out long old);
            // queue_depth is a gauge: its value, not a rate.
            if (counter == "queue_depth")
                sb.Append(' ').Append(counter).Append('=').Append(kv.Value);
            else
            {
                double rate = (kv.Value - old) / seconds;
                sb.Append(' ').Append(counter).Append('=').Append(rate.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)).Append("/s");
            }
        }
        sb.Append('\n');
        return sb.ToString();
    }

    private static List<KeyValuePair<string, long>> Sorted(Dictionary<string, long> d)
    {
        var l = new List<KeyValuePair<string, long>>(d);
        l.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return l;
    }
}
