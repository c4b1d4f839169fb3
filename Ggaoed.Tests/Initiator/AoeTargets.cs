using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using Ggaoed.Tests.Support;

namespace Ggaoed.Tests.Initiator;

/// <summary>Which AoE target the VM's initiator talks to.</summary>
public enum TargetKind
{
    /// <summary>Debian's vblade, the reference target: proves the harness and the test expectations.</summary>
    Vblade,
    /// <summary>Our daemon, published (NativeAOT) and started as <c>ggaoed -f -c CONF</c>.</summary>
    Ggaoed,
}

/// <summary>One exported disk of the target under test.</summary>
public sealed record AoeExport(string Name, string BackingFile, ushort Shelf, byte Slot)
{
    public bool ReadOnly { get; init; }

    /// <summary>
    /// A MAC the export's ACL must refuse (the VM's), or null for no ACL. vblade has only an allow list
    /// (-m), so there it becomes "allow only <see cref="AoeTargets.ForeignMac"/>"; ggaoed gets <c>deny = MAC</c>.
    /// </summary>
    public string? DeniedMac { get; init; }

    /// <summary>More lines for the device's ggaoed section (e.g. "queue-length = 32"); vblade ignores them.</summary>
    public string? GgaoedExtra { get; init; }

    /// <summary>The initiator's name for it: e1.1 is /dev/etherd/e1.1.</summary>
    public string DeviceName => "e" + Shelf.ToString(CultureInfo.InvariantCulture) + "." + Slot.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A target running in the VM's namespace. Start/Stop can be repeated (restart tests).</summary>
public interface IAoeTarget : IDisposable
{
    void Start();

    /// <summary>Stops the target (SIGTERM, then SIGKILL after a grace period) and waits for it.</summary>
    void Stop();

    /// <summary>What the target printed so far, for failure messages.</summary>
    string Log { get; }
}

public static class AoeTargets
{
    /// <summary>A locally administered MAC that is nobody's: the only one allowed by vblade's "deny" stand-in.</summary>
    public const string ForeignMac = "02:00:00:00:00:01";

    /// <summary>Starts the target of <paramref name="kind"/> for <paramref name="exports"/> on the VM's tap.</summary>
    public static IAoeTarget Start(TargetKind kind, VmNetwork network, IReadOnlyList<AoeExport> exports, string workDir)
    {
        IAoeTarget target = kind switch
        {
            TargetKind.Vblade => new VbladeTarget(network, exports),
            TargetKind.Ggaoed => new GgaoedTarget(network, exports, workDir),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        target.Start();
        return target;
    }

    /// <summary>The published daemon: $GGAOED_BIN, else the test run's one shared publish.</summary>
    public static string GgaoedBinary =>
        Environment.GetEnvironmentVariable("GGAOED_BIN") is { Length: > 0 } bin
            ? bin
            : Ggaoed.Tests.Build.PublishedBinary.Get().BinaryPath;
}

/// <summary>
/// Writes the ggaoed configuration for a VM test: everything exported on the tap only, and the pid file,
/// control socket and state directory inside the test's work directory (never the system's).
/// </summary>
public static class GgaoedTestConfig
{
    public static string Render(string tap, IReadOnlyList<AoeExport> exports, string workDir)
    {
        var sb = new StringBuilder();
        sb.Append("# Written by Ggaoed.Tests.Initiator for one VM test.\n");
        sb.Append("[defaults]\n");
        sb.Append("interfaces = ").Append(tap).Append('\n');
        sb.Append("pid-file = ").Append(Path.Combine(workDir, "ggaoed.pid")).Append('\n');
        sb.Append("control-socket = ").Append(Path.Combine(workDir, "ggaoed.sock")).Append('\n');
        sb.Append("state-directory = ").Append(Path.Combine(workDir, "state")).Append('\n');
        foreach (AoeExport e in exports)
        {
            sb.Append('\n').Append('[').Append(e.Name).Append("]\n");
            sb.Append("path = ").Append(e.BackingFile).Append('\n');
            sb.Append("shelf = ").Append(e.Shelf.ToString(CultureInfo.InvariantCulture)).Append('\n');
            sb.Append("slot = ").Append(e.Slot.ToString(CultureInfo.InvariantCulture)).Append('\n');
            if (e.ReadOnly)
                sb.Append("read-only = true\n");
            if (e.DeniedMac != null)
                sb.Append("deny = ").Append(e.DeniedMac).Append('\n');
            if (e.GgaoedExtra != null)
                sb.Append(e.GgaoedExtra).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Writes <see cref="Render"/> to WORKDIR/ggaoed.conf and returns its path.</summary>
    public static string Write(string tap, IReadOnlyList<AoeExport> exports, string workDir)
    {
        Directory.CreateDirectory(Path.Combine(workDir, "state"));
        string path = Path.Combine(workDir, "ggaoed.conf");
        File.WriteAllText(path, Render(tap, exports, workDir));
        return path;
    }
}

/// <summary>A process started with <c>ip netns exec NS ...</c> (which execs it: the pid is the target's).</summary>
internal sealed class NetnsProcess : IDisposable
{
    private readonly StringBuilder _log;
    private Process? _process;

    public NetnsProcess(StringBuilder log) => _log = log;

    public bool IsRunning => _process is { HasExited: false };

    public void Start(string netns, string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("netns");
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(netns);
        psi.ArgumentList.Add(file);
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        Process p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _process = p;
    }

    private void Append(string? line)
    {
        if (line != null)
            lock (_log)
                _log.Append(line).Append('\n');
    }

    public void Stop(int graceMs = 5000)
    {
        Process? p = _process;
        if (p == null)
            return;
        _process = null;
        if (!p.HasExited)
        {
            // SIGTERM first: ggaoed must get the chance to shut down the way it would in production.
            VmProcess.Run("kill", ["-TERM", p.Id.ToString(CultureInfo.InvariantCulture)], check: false);
            if (!p.WaitForExit(graceMs))
                p.Kill();
        }
        p.WaitForExit();
        p.Dispose();
    }

    public void Dispose() => Stop();
}

/// <summary>vblade serves one export per process: one process per export, all on the same tap (same MAC).</summary>
internal sealed class VbladeTarget : IAoeTarget
{
    private readonly VmNetwork _network;
    private readonly IReadOnlyList<AoeExport> _exports;
    private readonly List<NetnsProcess> _processes = new();
    private readonly StringBuilder _log = new();

    public VbladeTarget(VmNetwork network, IReadOnlyList<AoeExport> exports)
    {
        _network = network;
        _exports = exports;
    }

    public string Log
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    public void Start()
    {
        foreach (AoeExport e in _exports)
        {
            var args = new List<string>();
            if (e.ReadOnly)
                args.Add("-r");
            if (e.DeniedMac != null)
            {
                args.Add("-m");
                args.Add(AoeTargets.ForeignMac);
            }
            args.Add(e.Shelf.ToString(CultureInfo.InvariantCulture));
            args.Add(e.Slot.ToString(CultureInfo.InvariantCulture));
            args.Add(_network.Tap);
            args.Add(e.BackingFile);
            var p = new NetnsProcess(_log);
            p.Start(_network.Namespace, VmPrerequisites.FindOnPath("vblade") ?? "vblade", args);
            _processes.Add(p);
        }
    }

    public void Stop()
    {
        foreach (NetnsProcess p in _processes)
            p.Stop();
        _processes.Clear();
    }

    public void Dispose() => Stop();
}

/// <summary>The published ggaoed in the foreground (-f) with a generated configuration.</summary>
internal sealed class GgaoedTarget : IAoeTarget
{
    private readonly VmNetwork _network;
    private readonly IReadOnlyList<AoeExport> _exports;
    private readonly string _workDir;
    private readonly StringBuilder _log = new();
    private NetnsProcess? _process;

    public GgaoedTarget(VmNetwork network, IReadOnlyList<AoeExport> exports, string workDir)
    {
        _network = network;
        _exports = exports;
        _workDir = workDir;
    }

    public string Log
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    public void Start()
    {
        string bin = AoeTargets.GgaoedBinary;
        if (!File.Exists(bin))
            throw new InvalidOperationException(bin + " missing (GGAOED_BIN points at no file)");
        string conf = GgaoedTestConfig.Write(_network.Tap, _exports, _workDir);
        _process = new NetnsProcess(_log);
        _process.Start(_network.Namespace, bin, ["-f", "-c", conf]);
    }

    public void Stop()
    {
        _process?.Stop();
        _process = null;
    }

    public string ControlSocket => Path.Combine(_workDir, "ggaoed.sock");

    /// <summary>Rewrites the configuration with <paramref name="exports"/> and runs <c>ggaoectl reload</c>; returns its report.</summary>
    public string Reload(IReadOnlyList<AoeExport> exports)
    {
        GgaoedTestConfig.Write(_network.Tap, exports, _workDir);
        return Ctl("reload");
    }

    /// <summary><c>ggaoed ctl -s SOCKET ARGS</c> (the same binary is ggaoectl); throws when it fails.</summary>
    public string Ctl(params string[] args)
    {
        var all = new List<string> { "ctl", "-s", ControlSocket };
        all.AddRange(args);
        return VmProcess.Run(AoeTargets.GgaoedBinary, all);
    }

    public void Dispose() => Stop();
}
