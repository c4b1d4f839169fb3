using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using Ggaoed.Initiator;
using Ggaoed.Tests.Support;

namespace Ggaoed.Tests.Faults;

/// <summary>
/// One fault test's world: a veth pair between a target and an initiator namespace, a scratch directory
/// (under /var/tmp, so O_DIRECT works; tmpfs would make the daemon fall back to buffered I/O), and the
/// published daemon started as users start it: <c>ip netns exec NS ggaoed -f -c FILE</c>. Everything it
/// writes (pid file, control socket, state) stays in the scratch directory; Dispose stops the daemon
/// with SIGTERM and removes namespaces and files, also when the test failed.
/// </summary>
internal sealed class FaultRig : IDisposable
{
    private static int s_counter;
    private readonly StringBuilder _log = new();
    private Process? _daemon;

    public FaultRig(string prefix, int mtu = 1500)
    {
        Dir = Path.Combine("/var/tmp", $"ggaoed-faults-{prefix}-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}");
        if (Directory.Exists(Dir))
            Directory.Delete(Dir, recursive: true);
        Directory.CreateDirectory(Dir);
        try
        {
            Pair = new VethPair(prefix, mtu);
        }
        catch
        {
            Directory.Delete(Dir, recursive: true);
            throw;
        }
    }

    public VethPair Pair { get; }
    public string Dir { get; }
    public string ConfigPath => Path.Combine(Dir, "ggaoed.conf");
    public string ControlSocket => Path.Combine(Dir, "ggaoed.sock");
    /// <summary>The published daemon: $GGAOED_BIN (as the VM tests), else the test run's one shared publish.</summary>
    public static string Binary => Ggaoed.Tests.Initiator.AoeTargets.GgaoedBinary;

    /// <summary>The daemon's pid (ip netns exec execs it, so the child is ggaoed itself).</summary>
    public int Pid => _daemon?.Id ?? throw new InvalidOperationException("not started");

    public bool Running => _daemon is { HasExited: false };

    /// <summary>What the daemon printed (stderr in -f mode is its log).</summary>
    public string Log
    {
        get
        {
            lock (_log)
                return _log.ToString();
        }
    }

    public string PathOf(string name) => Path.Combine(Dir, name);

    /// <summary>A backing file of <paramref name="bytes"/> filled with random data from <paramref name="seed"/>.</summary>
    public string RandomDisk(string name, int bytes, int seed, out byte[] content)
    {
        content = new byte[bytes];
        new Random(seed).NextBytes(content);
        string path = PathOf(name);
        File.WriteAllBytes(path, content);
        return path;
    }

    public string SparseDisk(string name, long bytes)
    {
        string path = PathOf(name);
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        f.SetLength(bytes);
        return path;
    }

    /// <summary>Writes the configuration: [defaults] pointing everything into the scratch directory, then <paramref name="devices"/>.</summary>
    /// <param name="extraDefaults">More [defaults] lines, e.g. "ring-buffer-size = 0".</param>
    public void WriteConfig(string devices, string extraDefaults = "")
    {
        string text =
            "# Written by Ggaoed.Tests.Faults for one test.\n" +
            "[defaults]\n" +
            $"interfaces = {Pair.TargetIf}\n" +
            $"pid-file = {PathOf("ggaoed.pid")}\n" +
            $"control-socket = {ControlSocket}\n" +
            $"state-directory = {PathOf("state")}\n" +
            (extraDefaults.Length > 0 ? extraDefaults + "\n" : "") +
            "\n" + devices;
        File.WriteAllText(ConfigPath, text);
    }

    /// <summary>Starts the published daemon in the target namespace; returns once its control socket exists (created last).</summary>
    public void Start()
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "netns", "exec", Pair.TargetNs, Binary, "-f", "-c", ConfigPath })
            psi.ArgumentList.Add(a);
        Process p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _daemon = p;
        long deadline = Environment.TickCount64 + 30_000;
        while (!File.Exists(ControlSocket))
        {
            if (p.HasExited)
                throw new InvalidOperationException($"ggaoed exited with {p.ExitCode} before it was ready:\n{Log}");
            if (Environment.TickCount64 > deadline)
                throw new TimeoutException("ggaoed did not become ready within 30 s:\n" + Log);
            Thread.Sleep(20);
        }
    }

    private void Append(string? line)
    {
        if (line == null)
            return;
        lock (_log)
            _log.Append(line).Append('\n');
    }

    /// <summary>SIGTERM and wait (a graceful stop: in-flight I/O answered, fdatasync, state saved). Returns the exit status.</summary>
    public int Stop()
    {
        Process? p = _daemon;
        if (p == null)
            return -1;
        if (!p.HasExited)
        {
            Ggaoed.Native.Libc.kill(p.Id, 15);
            if (!p.WaitForExit(30_000))
            {
                p.Kill();
                throw new TimeoutException("ggaoed did not stop within 30 s of SIGTERM:\n" + Log);
            }
        }
        p.WaitForExit(); // flushes the output handlers
        return p.ExitCode;
    }

    /// <summary><c>ggaoed ctl -s SOCKET ARGS...</c>; throws with the output when it fails.</summary>
    public string Ctl(params string[] args)
    {
        var psi = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("ctl");
        psi.ArgumentList.Add("-s");
        psi.ArgumentList.Add(ControlSocket);
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            throw new TimeoutException("ggaoed ctl " + string.Join(' ', args) + " hung");
        }
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"ggaoed ctl {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result}{stdout}");
        return stdout;
    }

    /// <summary>The daemon's counters: <c>ggaoed ctl stats --json</c>.</summary>
    public Stats Stats() => new(JsonDocument.Parse(Ctl("stats", "--json")).RootElement.Clone());

    /// <summary>Resident set size of the daemon, from /proc/PID/status.</summary>
    public long RssKiB()
    {
        foreach (string line in File.ReadAllLines($"/proc/{Pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
        throw new InvalidOperationException("no VmRSS in /proc/" + Pid + "/status");
    }

    /// <summary>An initiator on the initiator end of the pair (the socket works from any thread afterwards).</summary>
    public AoeClient Client()
    {
        string ns = Pair.InitiatorNs, iface = Pair.InitiatorIf;
        return InNetNs.Run(ns, () => new AoeClient(iface) { RequestTimeout = TimeSpan.FromMilliseconds(300), MaxAttempts = 8 });
    }

    /// <summary>Discovers <paramref name="shelf"/>.<paramref name="slot"/> (a daemon just started may miss the first query).</summary>
    public static DiscoveredTarget Discover(AoeClient client, ushort shelf, byte slot)
    {
        Predicate<DiscoveredTarget> isIt = t => t.Shelf == shelf && t.Slot == slot && t.Identify != null;
        return client.DiscoverUntil(f => f.Exists(isIt), TimeSpan.FromMilliseconds(200), shelf, slot, attempts: 20).Find(isIt)
            ?? throw new InvalidOperationException($"e{shelf}.{slot} did not answer discovery on {client.Interface}");
    }

    public static string Sha256(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>Counts the log lines that contain <paramref name="text"/>.</summary>
    public int LogLines(string text)
    {
        int n = 0;
        foreach (string line in Log.Split('\n'))
            if (line.Contains(text, StringComparison.Ordinal))
                n++;
        return n;
    }

    public void Dispose()
    {
        try
        {
            if (_daemon != null)
            {
                try
                {
                    Stop();
                }
                catch (TimeoutException)
                {
                }
                _daemon.Dispose();
            }
        }
        finally
        {
            Pair.Dispose();
            try
            {
                Directory.Delete(Dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>A snapshot of <c>stats --json</c>: per-device and per-interface counters by name.</summary>
internal sealed class Stats(JsonElement root)
{
    public JsonElement Root { get; } = root;

    public long Device(string name, string counter) => Find("devices", name).GetProperty(counter).GetInt64();

    public long Interface(string name, string counter) => Find("interfaces", name).GetProperty(counter).GetInt64();

    public string? InterfaceText(string name, string field) => Find("interfaces", name).GetProperty(field).GetString();

    public bool HasInterface(string name)
    {
        foreach (JsonElement e in Root.GetProperty("interfaces").EnumerateArray())
            if (e.GetProperty("name").GetString() == name)
                return true;
        return false;
    }

    private JsonElement Find(string array, string name)
    {
        foreach (JsonElement e in Root.GetProperty(array).EnumerateArray())
            if (e.GetProperty("name").GetString() == name)
                return e;
        throw new InvalidOperationException($"no {array} entry '{name}' in stats:\n{Root}");
    }

    public override string ToString() => Root.ToString();
}
