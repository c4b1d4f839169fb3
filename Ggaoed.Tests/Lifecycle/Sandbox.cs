using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Threading;
using Ggaoed.Ctl;
using Ggaoed.Initiator;
using Ggaoed.Tests.Daemon;
using Ggaoed.Native;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Everything one lifecycle test needs around the real published binary: a temp directory holding the
/// configuration, pid file, control socket, state directory and backing files; optionally a veth pair
/// between a target and an initiator namespace (the daemon runs in the target one). Dispose kills every
/// daemon the test started (also detached ones, found by their pid file) and removes it all.
/// </summary>
internal sealed class Sandbox : IDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    private readonly List<DaemonProcess> _daemons = new();

    public Sandbox(bool network, int mtu = 1500)
    {
        // $GGAOED_BIN (as the fault and VM tests take it) runs a test against another build, such as
        // the code before a fix.
        Binary = Ggaoed.Tests.Initiator.AoeTargets.GgaoedBinary;
        Dir = Path.Combine(Path.GetTempPath(), "gg-lc-" + Guid.NewGuid().ToString("N").Substring(0, 12));
        Directory.CreateDirectory(Dir);
        if (network)
            Net = new VethPair("lc", mtu);
    }

    public string Binary { get; }
    public string Dir { get; }
    public VethPair? Net { get; }
    public string ConfigPath => Path.Combine(Dir, "ggaoed.conf");
    public string PidFile => Path.Combine(Dir, "ggaoed.pid");
    public string ControlSocket => Path.Combine(Dir, "ctl.sock");
    public string StateDir => Path.Combine(Dir, "state");

    /// <summary>
    /// When set, every daemon <see cref="Launch"/> starts sees this directory as its /etc (a bind mount
    /// in a private mount namespace of its own, made by unshare(1) just before the exec), so a test can
    /// give it an /etc/ethers of its choosing, or break it, without touching the host's /etc.
    /// </summary>
    public string? PrivateEtc { get; set; }

    /// <summary>The interface pattern the daemon serves: the target end of the veth, or a name that exists nowhere.</summary>
    public string Interfaces => Net?.TargetIf ?? "gglcnone0";

    /// <summary>A backing file of <paramref name="mib"/> MiB (sparse, reads as zeros).</summary>
    public string CreateImage(string name, int mib)
    {
        string path = Path.Combine(Dir, name + ".img");
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write);
        f.SetLength((long)mib << 20);
        return path;
    }

    /// <summary>Writes ggaoed.conf: a [defaults] group pointing everything into the sandbox, then the given groups.</summary>
    public void WriteConfig(string groups, string extraDefaults = "", string? interfaces = null)
    {
        var sb = new StringBuilder();
        sb.Append("# written by a lifecycle test\n");
        sb.Append("[defaults]\n");
        sb.Append("interfaces = ").Append(interfaces ?? Interfaces).Append('\n');
        sb.Append("pid-file = ").Append(PidFile).Append('\n');
        sb.Append("control-socket = ").Append(ControlSocket).Append('\n');
        sb.Append("state-directory = ").Append(StateDir).Append('\n');
        sb.Append(extraDefaults);
        sb.Append('\n').Append(groups);
        File.WriteAllText(ConfigPath, sb.ToString());
    }

    public static string Device(string name, string path, int shelf, int slot, string extra = "")
        => $"[{name}]\npath = {path}\nshelf = {shelf}\nslot = {slot}\n{extra}\n";

    private (string File, List<string> Args) InTargetNs(IEnumerable<string> args, string? privateEtc = null, string? ignoredSignals = null)
    {
        var list = new List<string>();
        if (privateEtc != null)
        {
            // unshare without --fork and the shell's exec keep the pid the daemon's.
            list.AddRange(new[] { "unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", "mount --bind \"$0\" /etc && exec \"$@\"", privateEtc });
        }
        // A signal ignored by trap '' stays ignored across exec, as nohup leaves SIGHUP.
        if (ignoredSignals != null)
            list.AddRange(new[] { "/bin/sh", "-c", "trap '' " + ignoredSignals + "; exec \"$@\"", "sh" });
        list.Add(Binary);
        list.AddRange(args);
        if (Net == null)
            return (list[0], list.GetRange(1, list.Count - 1));
        // `ip netns exec` execs the command in place (no fork), so the pid we see is the daemon's, and it
        // remounts /sys so /sys/class/net lists the namespace's own links.
        list.InsertRange(0, new[] { "netns", "exec", Net.TargetNs });
        return ("ip", list);
    }

    /// <summary>Starts `ggaoed -f -c CONFIG` (plus <paramref name="extraArgs"/>) without waiting for anything.</summary>
    /// <param name="ignoredSignals">Signals the daemon inherits as ignored (shell names, e.g. "HUP INT").</param>
    public DaemonProcess Launch(IEnumerable<string>? extraArgs = null, IReadOnlyDictionary<string, string?>? environment = null, bool foreground = true,
        string? ignoredSignals = null)
    {
        var args = new List<string>();
        if (foreground)
            args.Add("-f");
        args.Add("-c");
        args.Add(ConfigPath);
        if (extraArgs != null)
            args.AddRange(extraArgs);
        (string file, List<string> full) = InTargetNs(args, PrivateEtc, ignoredSignals);
        var d = new DaemonProcess(file, full, environment);
        _daemons.Add(d);
        return d;
    }

    /// <summary>Starts a foreground daemon and waits until its control socket answers.</summary>
    public DaemonProcess StartForeground(IEnumerable<string>? extraArgs = null, IReadOnlyDictionary<string, string?>? environment = null,
        string? ignoredSignals = null)
    {
        DaemonProcess d = Launch(extraArgs, environment, ignoredSignals: ignoredSignals);
        WaitUntilServing(d);
        return d;
    }

    public void WaitUntilServing(DaemonProcess? d)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartTimeout)
        {
            if (d != null && d.HasExited)
                Assert.Fail($"ggaoed exited with status {d.WaitForExit(StopTimeout)} before serving:\n{d.Output}");
            if (File.Exists(ControlSocket) && ControlClient.TryCall(ControlSocket, new[] { "stats" }, out bool ok, out _) && ok)
                return;
            Thread.Sleep(50);
        }
        Assert.Fail($"ggaoed did not answer on {ControlSocket} within {StartTimeout}:\n{d?.Output}");
    }

    /// <summary>Stops a daemon the way init does (SIGTERM) and asserts a clean exit (status 0).</summary>
    public static void Stop(DaemonProcess daemon)
    {
        daemon.Signal(Libc.SIGTERM);
        int status = daemon.WaitForExit(StopTimeout);
        Assert.True(status == 0, $"exit {status} on SIGTERM:\n{daemon.Output}");
    }

    /// <summary>Runs the binary to completion with the given arguments (in the target namespace if any).</summary>
    public ToolResult RunBinary(params string[] args)
    {
        (string file, List<string> full) = InTargetNs(args);
        return ToolProcess.Run(file, full, timeout: TimeSpan.FromSeconds(120));
    }

    /// <summary>`ggaoed ctl -s SOCKET ARGS`.</summary>
    public ToolResult Ctl(params string[] args)
    {
        var full = new List<string> { "ctl", "-s", ControlSocket };
        full.AddRange(args);
        return ToolProcess.Run(Binary, full, timeout: TimeSpan.FromSeconds(60));
    }

    /// <summary>`ggaoectl` run in the initiator namespace (discover, bench).</summary>
    public ToolResult CtlInInitiatorNs(params string[] args)
    {
        var full = new List<string> { "netns", "exec", Net!.InitiatorNs, Binary, "ctl" };
        full.AddRange(args);
        return ToolProcess.Run("ip", full, timeout: TimeSpan.FromSeconds(60));
    }

    /// <summary>An initiator on the initiator end of the veth, opened in its namespace (the socket works from any thread).</summary>
    public AoeClient Client()
    {
        VethPair net = Net ?? throw new InvalidOperationException("this sandbox has no network");
        return InNetNs.Run(net.InitiatorNs, () => new AoeClient(net.InitiatorIf));
    }

    /// <summary>
    /// One device counter or gauge as `ggaoectl stats` prints it, asserting that `stats --json` and
    /// `metrics` show the same value (they are read one after the other: only for a value that is not moving).
    /// </summary>
    public long Counter(string device, string counter)
    {
        long text = CounterFormats.FromText(CtlOk("stats").StdOut, "device " + device)[counter];
        using (JsonDocument json = JsonDocument.Parse(CtlOk("stats", "--json").StdOut))
            Assert.True(text == CounterFormats.JsonOwner(json.RootElement, "devices", device).GetProperty(counter).GetInt64(),
                $"{device}.{counter}: stats says {text}, stats --json differs");
        long metric = CounterFormats.FromMetrics(CtlOk("metrics").StdOut, "device", "device", device)[counter];
        Assert.True(text == metric, $"{device}.{counter}: stats says {text}, metrics {metric}");
        return text;
    }

    /// <summary>`ggaoed ctl -s SOCKET ARGS`, asserting exit status 0.</summary>
    public ToolResult CtlOk(params string[] args)
    {
        ToolResult r = Ctl(args);
        Assert.True(r.ExitCode == 0, $"ggaoectl {string.Join(' ', args)}: exit {r.ExitCode}:\n{r.Output}");
        return r;
    }

    /// <summary>True while the process exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            // Field 3, after the parenthesised command name (which may contain blanks).
            return stat[(stat.LastIndexOf(')') + 2)..][0] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static bool WaitForExitOf(int pid, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (!IsAlive(pid))
                return true;
            Thread.Sleep(50);
        }
        return !IsAlive(pid);
    }

    /// <summary>The daemon pid from the pid file, or 0.</summary>
    public int ReadPidFile()
    {
        // Not File.ReadAllText: .NET takes a shared flock() on files it opens, which the daemon's
        // exclusive lock refuses, so read it the way an init script does.
        if (!File.Exists(PidFile))
            return 0;
        return int.TryParse(Sh.Run("cat " + PidFile, check: false).Trim(), out int pid) ? pid : 0;
    }

    public void Dispose()
    {
        foreach (DaemonProcess d in _daemons)
            d.Dispose();
        // A detached daemon is nobody's child here: find it by this sandbox's pid file, and only kill it if
        // it really is a ggaoed (the config path on its command line may be relative).
        int pid = ReadPidFile();
        if (pid > 0 && IsAlive(pid))
        {
            try
            {
                string cmdline = File.ReadAllText($"/proc/{pid}/cmdline");
                if (cmdline.Contains("ggaoed", StringComparison.Ordinal) && cmdline.Contains("ggaoed.conf", StringComparison.Ordinal))
                {
                    Libc.kill(pid, Libc.SIGKILL);
                    WaitForExitOf(pid, StopTimeout);
                }
            }
            catch (IOException)
            {
            }
        }
        Net?.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
