using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Json;
using System.Threading;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// One ggaoed of a multipath VM test: the published daemon in the foreground, in a namespace and on
/// interfaces of the test's choosing (both taps of a <see cref="VmNetwork"/>, or one bridge port), with
/// a work directory of its own (configuration, pid file, control socket, state directory), so that
/// several gateways can run side by side. <see cref="Kill"/> is SIGKILL, a gateway that crashes;
/// <see cref="Start"/> again restarts it with the same configuration, over its stale pid file and socket.
/// </summary>
internal sealed class VmGateway : IDisposable
{
    /// <summary>Start-up under load (a 2-core host building in parallel) takes seconds, not minutes.</summary>
    private static readonly TimeSpan s_startLimit = TimeSpan.FromSeconds(60);

    private readonly string _netns;
    private readonly IReadOnlyList<string> _interfaces;
    private readonly IReadOnlyList<AoeExport> _exports;
    private readonly string _workDir;
    private readonly StringBuilder _log = new();
    private NetnsProcess? _process;

    public VmGateway(string netns, IReadOnlyList<string> interfaces, IReadOnlyList<AoeExport> exports, string workDir)
    {
        _netns = netns;
        _interfaces = interfaces;
        _exports = exports;
        _workDir = workDir;
        Directory.CreateDirectory(workDir);
    }

    public string StateDirectory => Path.Combine(_workDir, "state");

    private string ControlSocket => Path.Combine(_workDir, "ggaoed.sock");

    private string PidFile => Path.Combine(_workDir, "ggaoed.pid");

    /// <summary>What the daemon printed so far, over all its starts.</summary>
    public string Log
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    /// <summary>Writes the configuration, starts the daemon and returns once it serves every interface.</summary>
    public void Start()
    {
        string conf = GgaoedTestConfig.Write(string.Join(", ", _interfaces), _exports, _workDir);
        lock (_log)
            _log.Append("--- start ").Append(DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)).Append('\n');
        _process = new NetnsProcess(_log);
        _process.Start(_netns, AoeTargets.GgaoedBinary, ["-f", "-c", conf]);
        foreach (string name in _interfaces)
            WaitServing(name, s_startLimit);
    }

    /// <summary>SIGKILL, as a crash would end it: no shutdown, in-flight requests unanswered.</summary>
    public void Kill()
    {
        // Through cat: the daemon holds an exclusive flock on its pid file, and .NET's own file open
        // takes a shared flock (its FileShare emulation), which that lock refuses.
        string pid = VmProcess.Run("cat", [PidFile]).Trim();
        VmProcess.Run("kill", ["-KILL", pid]);
        lock (_log)
            _log.Append("--- killed (SIGKILL) pid ").Append(pid).Append('\n');
        _process?.Stop();   // reaps it (it is gone already; the SIGTERM of Stop finds nobody)
        _process = null;
    }

    /// <summary>SIGTERM, the clean shutdown.</summary>
    public void Stop()
    {
        _process?.Stop();
        _process = null;
    }

    /// <summary><c>ggaoed ctl -s SOCKET ARGS</c>; throws when it fails.</summary>
    public string Ctl(params string[] args)
    {
        var all = new List<string> { "ctl", "-s", ControlSocket };
        all.AddRange(args);
        return VmProcess.Run(AoeTargets.GgaoedBinary, all);
    }

    /// <summary>
    /// AoE frames received on each interface the daemon serves now (an interface it detached, link
    /// down, is missing; its counters start again from 0 when it is attached again).
    /// </summary>
    public Dictionary<string, long> FramesIn()
    {
        var frames = new Dictionary<string, long>(StringComparer.Ordinal);
        using JsonDocument doc = JsonDocument.Parse(Ctl("--json", "stats"));
        foreach (JsonElement i in doc.RootElement.GetProperty("interfaces").EnumerateArray())
            frames[i.GetProperty("name").GetString()!] = i.GetProperty("frames_in").GetInt64();
        return frames;
    }

    /// <summary>Frames received on <paramref name="name"/> since it was attached; -1 while it is not served.</summary>
    public long FramesIn(string name) => FramesIn().TryGetValue(name, out long n) ? n : -1;

    /// <summary>Waits until the daemon answers on its control socket and serves <paramref name="name"/>.</summary>
    public TimeSpan WaitServing(string name, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process is { IsRunning: false })
                throw new InvalidOperationException("ggaoed exited while starting:\n" + Log);
            try
            {
                if (FramesIn(name) >= 0)
                    return clock.Elapsed;
            }
            catch (InvalidOperationException)
            {
                // Not listening yet (ggaoectl exits 3), or in the middle of a restart.
            }
            if (clock.Elapsed > limit)
                throw new TimeoutException($"ggaoed did not serve {name} within {limit.TotalSeconds} s:\n" + Log);
            Thread.Sleep(50);
        }
    }

    /// <summary>
    /// Waits until <paramref name="name"/> has received <paramref name="frames"/> more frames than
    /// <paramref name="since"/> (from <see cref="FramesIn(string)"/>); returns the count then.
    /// </summary>
    public long WaitFramesIn(string name, long since, long frames, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            long now = FramesIn(name);
            if (now >= since + frames)
                return now;
            if (clock.Elapsed > limit)
                throw new TimeoutException($"{name} received {now - since} of {frames} frames within {limit.TotalSeconds} s");
            Thread.Sleep(50);
        }
    }

    public void Dispose() => Stop();
}
