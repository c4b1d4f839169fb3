using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Ggaoed.Daemon;
using Ggaoed.Daemon.Config;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;

namespace Ggaoed.Tests.DataPath;

/// <summary>
/// A scratch directory for one test: backing files, the generated config, pid file, control socket and
/// state directory. It lives under /var/tmp, not /tmp: the devices are opened with O_DIRECT, which
/// tmpfs refuses (the daemon would silently fall back to buffered I/O and the test would not cover it).
/// </summary>
internal sealed class Scratch : IDisposable
{
    private static int s_counter;

    public Scratch(string tag)
    {
        Dir = Path.Combine("/var/tmp", $"ggaoed-dp-{tag}-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}");
        if (Directory.Exists(Dir))
            Directory.Delete(Dir, recursive: true);
        Directory.CreateDirectory(Dir);
    }

    public string Dir { get; }

    public string PathOf(string name) => Path.Combine(Dir, name);

    /// <summary>Creates a backing file of <paramref name="sectors"/> sectors filled with a pattern unique to <paramref name="seed"/>.</summary>
    public string CreateDisk(string name, int sectors, int seed)
    {
        byte[] data = Pattern(sectors * 512, seed);
        string path = PathOf(name);
        File.WriteAllBytes(path, data);
        return path;
    }

    /// <summary>Deterministic, non-repeating-per-sector content: each byte depends on its offset and the seed.</summary>
    public static byte[] Pattern(int bytes, int seed)
    {
        byte[] data = new byte[bytes];
        new Random(seed).NextBytes(data);
        return data;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One exported device in a generated configuration.</summary>
internal sealed record TestDevice(string Name, string Path, ushort Shelf, byte Slot)
{
    public string Interfaces { get; init; } = "";
    public int? QueueLength { get; init; }
    public bool ReadOnly { get; init; }
    public double? MergeDelay { get; init; }
    public bool? DirectIo { get; init; }
    /// <summary>The io-engine key ("aio", "io_uring", "auto"); null leaves it to [defaults].</summary>
    public string? IoEngine { get; init; }
    public bool TraceIo { get; init; }
    /// <summary>The write-cache key ("true", "false"); null leaves it unset (the initiator's to change).</summary>
    public string? WriteCache { get; init; }
}

/// <summary>Writes a ggaoed.conf for a test: everything the daemon writes goes into the scratch directory.</summary>
internal static class TestConfig
{
    /// <param name="extraDefaults">More <c>[defaults]</c> lines, e.g. "ring-buffer-size = 0".</param>
    public static string Text(Scratch scratch, string interfaces, IEnumerable<TestDevice> devices, int queueLength = 64, string extraDefaults = "")
    {
        var sb = new StringBuilder();
        sb.Append("[defaults]\n");
        sb.Append("pid-file = ").Append(scratch.PathOf("ggaoed.pid")).Append('\n');
        sb.Append("control-socket = ").Append(scratch.PathOf("ggaoed.sock")).Append('\n');
        sb.Append("state-directory = ").Append(scratch.PathOf("state")).Append('\n');
        sb.Append("interfaces = ").Append(interfaces).Append('\n');
        sb.Append("queue-length = ").Append(queueLength).Append('\n');
        if (extraDefaults.Length > 0)
            sb.Append(extraDefaults).Append('\n');
        foreach (TestDevice d in devices)
        {
            sb.Append('\n').Append('[').Append(d.Name).Append("]\n");
            sb.Append("path = ").Append(d.Path).Append('\n');
            sb.Append("shelf = ").Append(d.Shelf).Append('\n');
            sb.Append("slot = ").Append(d.Slot).Append('\n');
            if (d.Interfaces.Length > 0)
                sb.Append("interfaces = ").Append(d.Interfaces).Append('\n');
            if (d.QueueLength is int q)
                sb.Append("queue-length = ").Append(q).Append('\n');
            if (d.ReadOnly)
                sb.Append("read-only = true\n");
            if (d.DirectIo is bool direct)
                sb.Append("direct-io = ").Append(direct ? "true" : "false").Append('\n');
            if (d.IoEngine != null)
                sb.Append("io-engine = ").Append(d.IoEngine).Append('\n');
            if (d.TraceIo)
                sb.Append("trace-io = true\n");
            if (d.WriteCache != null)
                sb.Append("write-cache = ").Append(d.WriteCache).Append('\n');
            if (d.MergeDelay is double m)
                sb.Append("merge-delay = ").Append(m.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        }
        return sb.ToString();
    }

    public static GgaoedConfig Load(string text, string fileName)
    {
        ConfigLoadResult r = ConfigLoader.LoadText(text, fileName, new SystemConfigHost());
        if (!r.Ok)
            throw new InvalidOperationException("generated config rejected: " + string.Join("; ", r.Errors) + "\n" + text);
        return r.Config!;
    }
}

/// <summary>
/// A <see cref="TargetDaemon"/> running in this process, on a thread of its own that has joined the
/// target's network namespace (setns affects only the calling thread, and every socket the daemon opens
/// there stays in that namespace). The thread runs Start, the reactor loop and the graceful Shutdown,
/// exactly as the real entry point does; <see cref="Stop"/> ends the loop and returns only when the
/// daemon has drained, so counters and backing files can be inspected afterwards.
/// </summary>
internal sealed class InProcessTarget : IDisposable
{
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _started = new();
    private Exception? _error;
    private TargetDaemon? _daemon;
    private bool _stopped;

    /// <param name="onReactorThread">Runs on the reactor thread after Start and before the loop (e.g. to add a turn handler).</param>
    /// <param name="uring">What the daemon assumes about io_uring instead of probing (null: probe).</param>
    /// <param name="options">Sets more of the daemon's options (e.g. Debug, as -d does, or a fault injector).</param>
    public InProcessTarget(string netns, GgaoedConfig config, Action<TargetDaemon>? onReactorThread = null, Ggaoed.Storage.UringSupport? uring = null,
        Action<DaemonOptions>? options = null)
    {
        _thread = new Thread(() => Body(netns, config, onReactorThread, uring, options)) { Name = "ggaoed reactor (test)", IsBackground = true };
        _thread.Start();
        if (!_started.Wait(TimeSpan.FromSeconds(30)))
            throw new TimeoutException("the in-process daemon did not start within 30 s");
        if (_error != null)
        {
            _thread.Join();
            throw new InvalidOperationException("the in-process daemon failed to start", _error);
        }
    }

    public TargetDaemon Daemon => _daemon ?? throw new InvalidOperationException("not started");

    /// <summary>The managed id of the reactor thread.</summary>
    public int ReactorThreadId => _thread.ManagedThreadId;

    public ExportedDevice Device(string name)
    {
        foreach (ExportedDevice d in Daemon.Devices)
            if (d.Name == name)
                return d;
        throw new ArgumentException("no device " + name);
    }

    private void Body(string netns, GgaoedConfig config, Action<TargetDaemon>? onReactorThread, Ggaoed.Storage.UringSupport? uring,
        Action<DaemonOptions>? options)
    {
        TargetDaemon? daemon = null;
        try
        {
            using (SafeHandle ns = File.OpenHandle("/var/run/netns/" + netns))
            {
                if (Ggaoed.Native.Libc.setns((int)ns.DangerousGetHandle(), Ggaoed.Native.Libc.CLONE_NEWNET) != 0)
                    throw new InvalidOperationException($"setns({netns}) failed: errno {Marshal.GetLastPInvokeError()}");
            }
            var o = new DaemonOptions { Foreground = true, ConfigPath = config.FileName, UringSupport = uring };
            options?.Invoke(o);
            daemon = new TargetDaemon(config, o);
            daemon.Start();
            _daemon = daemon;
            onReactorThread?.Invoke(daemon);
        }
        catch (Exception e)
        {
            _error = e;
            daemon?.Dispose();
            _daemon = null;
            _started.Set();
            return;
        }
        _started.Set();
        try
        {
            daemon.Reactor.Run();
            daemon.Shutdown();
        }
        catch (Exception e)
        {
            _error = e;
        }
    }

    /// <summary>Stops the loop, waits for the graceful shutdown, and rethrows anything the reactor thread threw.</summary>
    public void Stop()
    {
        if (_stopped)
            return;
        _stopped = true;
        _daemon?.RequestStop();
        if (!_thread.Join(TimeSpan.FromSeconds(30)))
            throw new TimeoutException("the in-process daemon did not stop within 30 s");
        if (_error != null)
            throw new InvalidOperationException("the reactor thread failed", _error);
    }

    public void Dispose()
    {
        try
        {
            Stop();
        }
        finally
        {
            _daemon?.Dispose();
            _started.Dispose();
        }
    }
}

/// <summary>
/// The published binary run as users run it in the foreground (<c>ip netns exec NS ggaoed -f -c FILE</c>),
/// stopped with SIGTERM. Output is collected for failure messages.
/// </summary>
internal sealed class BinaryTarget : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    public BinaryTarget(string netns, string configPath, string controlSocket)
    {
        string binary = Build.PublishedBinary.Get().BinaryPath;
        var psi = new ProcessStartInfo("ip", new[] { "netns", "exec", netns, binary, "-f", "-c", configPath })
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        // Ready once the control socket exists: it is created last in Start().
        long deadline = Environment.TickCount64 + 30_000;
        while (!File.Exists(controlSocket))
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"ggaoed exited with {_process.ExitCode} before it was ready:\n{Output}");
            if (Environment.TickCount64 > deadline)
                throw new TimeoutException("ggaoed did not become ready within 30 s:\n" + Output);
            Thread.Sleep(20);
        }
    }

    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    private void Append(string? line)
    {
        if (line == null)
            return;
        lock (_output)
            _output.Append(line).Append('\n');
    }

    /// <summary>Sends SIGTERM (ip netns exec execs the daemon, so the pid is the daemon's) and returns its exit status.</summary>
    public int Stop()
    {
        if (!_process.HasExited)
        {
            Ggaoed.Native.Libc.kill(_process.Id, 15);
            if (!_process.WaitForExit(30_000))
                throw new TimeoutException("ggaoed did not stop within 30 s of SIGTERM:\n" + Output);
        }
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            try
            {
                Stop();
            }
            catch (TimeoutException)
            {
                _process.Kill();
            }
        }
        _process.Dispose();
    }
}

/// <summary>Opens initiator sockets in the initiator namespace; the sockets then work from any thread.</summary>
internal static class Initiator
{
    public static AoeClient Client(string netns, string ifname)
        => InNetNs.Run(netns, () => new AoeClient(ifname) { RequestTimeout = TimeSpan.FromMilliseconds(500) });

    /// <summary>Discovers until <paramref name="expected"/> targets answered (a freshly started target may miss the first query).</summary>
    public static List<DiscoveredTarget> Discover(AoeClient client, int expected)
    {
        List<DiscoveredTarget> found = client.DiscoverUntil(f => f.Count >= expected, TimeSpan.FromMilliseconds(300));
        if (found.Count < expected)
            throw new InvalidOperationException($"discovered {found.Count} target(s) on {client.Interface}, expected {expected}");
        return found;
    }

    public static DiscoveredTarget Find(List<DiscoveredTarget> targets, ushort shelf, byte slot)
    {
        foreach (DiscoveredTarget t in targets)
            if (t.Shelf == shelf && t.Slot == slot)
                return t;
        throw new InvalidOperationException($"e{shelf}.{slot} not discovered");
    }
}
