using System;
using Ggaoed.Daemon.Config;

namespace Ggaoed.Daemon;

/// <summary>ggaoed(8): options, configuration check, detaching, and the exit status contract
/// (0 clean stop, 1 runtime failure, 2 bad usage or configuration).</summary>
internal static class DaemonMain
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitConfig = 2;

    public static int Run(string[] args)
    {
        InheritedSignals.Unignore();
        DaemonOptions? options = DaemonOptions.Parse(args, out string? usageError);
        if (options == null)
        {
            Console.Error.Write($"ggaoed: {usageError}\n{DaemonOptions.Usage}");
            return ExitConfig;
        }
        if (options.ShowHelp)
        {
            Console.Out.Write(DaemonOptions.Usage);
            return ExitOk;
        }
        if (options.ShowVersion)
        {
            Console.Out.WriteLine("ggaoed " + Program.Version);
            return ExitOk;
        }

        // A detached daemon leaves its starting directory (Daemonizer.DetachFromTerminal), so the file it
        // re-reads on reload must be named independently of it.
        if (options.Detaching)
            options.ConfigPath = System.IO.Path.GetFullPath(options.ConfigPath);
        ConfigLoadResult loaded = ConfigLoader.Load(options.ConfigPath);
        if (options.Strict)
            loaded = loaded.WithWarningsAsErrors();
        if (!loaded.Ok)
        {
            var text = new System.Text.StringBuilder();
            foreach (ConfigDiagnostic e in loaded.Errors)
                text.Append("ggaoed: ").Append(e).Append('\n');
            foreach (ConfigDiagnostic w in loaded.Warnings)
                text.Append("ggaoed: warning: ").Append(w).Append('\n');
            text.Append($"ggaoed: {loaded.Errors.Count} error(s) in {options.ConfigPath}; nothing was started\n");
            if (options.Detaching)
                options.ReportToParent("ERROR=" + text);
            else
                Console.Error.Write(text.ToString());
            return ExitConfig;
        }
        // A detaching child stays silent: its parent already printed the warnings, and the first use of
        // Console.Error makes the runtime dup() fd 2, a copy that outlives the dup2 to /dev/null and keeps
        // the caller's pipe open (`out=$(ggaoed)` would never finish).
        // A daemon in the foreground logs each unavailable store as "not exported" on this same stderr.
        if (!options.Detaching)
            foreach (ConfigDiagnostic w in loaded.Warnings)
                if (!(w.StoreUnavailable && options.Foreground && !options.CheckOnly))
                    Console.Error.WriteLine("ggaoed: warning: " + w);
        GgaoedConfig config = loaded.Config!;
        if (options.CheckOnly)
        {
            int unavailable = 0;
            foreach (DeviceConfig d in config.Devices)
                if (d.Unavailable != null)
                    unavailable++;
            string details = $"{config.Devices.Count} device(s)"
                + (unavailable > 0 ? $", {unavailable} unavailable" : "")
                + (loaded.Warnings.Count > 0 ? $", {loaded.Warnings.Count} warning(s)" : "");
            Console.Out.WriteLine($"{options.ConfigPath}: configuration OK ({details})");
            return ExitOk;
        }
        if (!options.Foreground)
            return Daemonizer.DetachAndWait(args);

        Log.Threshold = options.Debug ? LogLevel.Debug : LogLevel.Info;
        return TargetDaemon.Run(config, options);
    }
}
