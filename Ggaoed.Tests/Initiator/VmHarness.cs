using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// A fact that boots the real Linux AoE initiator in qemu (tests/vm). Skipped, with the reason, when not
/// root or when a tool is missing; CI installs them first with tests/vm/ensure-packages.sh.
/// </summary>
public sealed class VmFactAttribute : FactAttribute
{
    public VmFactAttribute()
    {
        string? why = VmPrerequisites.MissingReason;
        if (why != null)
            Skip = why;
    }
}

/// <summary>A theory that boots the VM; see <see cref="VmFactAttribute"/>.</summary>
public sealed class VmTheoryAttribute : TheoryAttribute
{
    public VmTheoryAttribute()
    {
        string? why = VmPrerequisites.MissingReason;
        if (why != null)
            Skip = why;
    }
}

/// <summary>What the VM tests need on the host, checked once per test run (file probes only, no processes).</summary>
public static class VmPrerequisites
{
    private static readonly Lazy<string?> s_missing = new(Probe);

    /// <summary>Null when the VM tests can run, otherwise why not.</summary>
    public static string? MissingReason => s_missing.Value;

    private static string? Probe()
    {
        if (Environment.GetEnvironmentVariable("GG_SKIP_VM") == "1")
            return "GG_SKIP_VM=1 is set";
        if (!TestEnvironment.IsRoot)
            return "needs root (network namespace, tap device, qemu); CI runs as root";
        const string install = " (run tests/vm/ensure-packages.sh)";
        foreach ((string tool, string package) in new[]
                 {
                     ("qemu-system-x86_64", "qemu-system-x86"), ("busybox", "busybox-static"), ("fio", "fio"),
                     ("vblade", "vblade"), ("cpio", "cpio"),
                 })
        {
            if (FindOnPath(tool) == null)
                return tool + " not found: package " + package + " missing" + install;
        }
        if (!HasKernelWithAoe())
            return "no /boot/vmlinuz-* with a matching aoe.ko: package linux-image-amd64 missing" + install;
        if (!File.Exists("/dev/net/tun"))
            return "/dev/net/tun missing: no tap devices on this host";
        return null;
    }

    private static bool HasKernelWithAoe()
    {
        if (!Directory.Exists("/boot"))
            return false;
        foreach (string kernel in Directory.GetFiles("/boot", "vmlinuz-*"))
        {
            string version = Path.GetFileName(kernel).Substring("vmlinuz-".Length);
            string aoeDir = "/lib/modules/" + version + "/kernel/drivers/block/aoe";
            if (Directory.Exists(aoeDir) && Directory.GetFiles(aoeDir, "aoe.ko*").Length > 0)
                return true;
        }
        return false;
    }

    internal static string? FindOnPath(string tool)
    {
        string path = Environment.GetEnvironmentVariable("PATH") ?? "";
        // Root's PATH has the sbin folders, a test runner started by sudo may not: look there too.
        foreach (string dir in (path + ":/usr/sbin:/sbin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }
}

/// <summary>
/// A private network namespace with the VM's tap devices in it (tests/vm/netns.sh), one per guest NIC.
/// The target under test runs in the namespace on <see cref="Tap"/> (or on several taps); AoE frames
/// never leave it. With <see cref="AddBridge"/> the taps join a bridge, and <see cref="AddPort"/> puts
/// more hosts on that segment, each in a namespace of its own (a second gateway, a hostile sender).
/// Removed on Dispose, together with anything still running inside.
/// </summary>
public sealed class VmNetwork : IDisposable
{
    private static int s_counter;

    private readonly List<string> _portNamespaces = new();

    public string Namespace { get; }

    /// <summary>The taps, in the order of the guest's NICs: eth0 is on Taps[0], eth1 on Taps[1]...</summary>
    public IReadOnlyList<string> Taps { get; }

    /// <summary>The first tap (the guest's eth0).</summary>
    public string Tap => Taps[0];

    public int Mtu { get; }

    /// <summary>The bridge joining the taps and the ports, once <see cref="AddBridge"/> made it.</summary>
    public string? Bridge { get; private set; }

    /// <param name="tapMacs">
    /// One entry per tap: the address of the tap's host end (what a target on it answers from), or null
    /// for the kernel's random one. Default: one tap with a random address.
    /// </param>
    public VmNetwork(int mtu = 1500, IReadOnlyList<string?>? tapMacs = null)
    {
        int n = Interlocked.Increment(ref s_counter);
        string id = Inv(Environment.ProcessId % 100000) + "x" + Inv(n);
        Namespace = "gg-vm-" + id;
        tapMacs ??= [null];
        var taps = new List<string>();
        var specs = new List<string>();
        for (int i = 0; i < tapMacs.Count; i++)
        {
            // At most 15 bytes: "ggvm" + 5 digits + "x" + counter (+ a letter from the second tap on).
            string tap = "ggvm" + id + (i == 0 ? "" : ((char)('a' + i)).ToString());
            taps.Add(tap);
            specs.Add(tapMacs[i] is { } mac ? tap + "=" + mac : tap);
        }
        Taps = taps;
        Mtu = mtu;
        VmProcess.Run("bash", [VmPaths.Script("netns.sh"), "down", Namespace], check: false);
        VmProcess.Run("bash", [VmPaths.Script("netns.sh"), "up", Namespace, string.Join(',', specs), Inv(mtu)]);
    }

    /// <summary>Takes the first tap down or up (link-flap tests): while down, the VM's frames go nowhere.</summary>
    public void SetTapUp(bool up) => SetTapUp(Tap, up);

    /// <summary>Takes one tap down or up: while down, what the guest sends on that NIC goes nowhere.</summary>
    public void SetTapUp(string tap, bool up) => VmProcess.Run("ip", ["-n", Namespace, "link", "set", tap, up ? "up" : "down"]);

    /// <summary>Puts every tap on a new bridge, the segment that <see cref="AddPort"/> extends.</summary>
    public void AddBridge()
    {
        Bridge = "ggbr";   // namespaced: no other test sees it
        VmProcess.Run("bash", [VmPaths.Script("netns.sh"), "bridge", Namespace, Bridge, Inv(Mtu)]);
    }

    /// <summary>
    /// A new host on the bridge: a namespace of its own (this network's name + "-" + <paramref name="role"/>)
    /// holding interface <paramref name="role"/> with address <paramref name="mac"/>, whose veth peer is a
    /// bridge port. The guest sees <paramref name="mac"/> on the same segment as every other port.
    /// </summary>
    public VmPort AddPort(string role, string mac)
    {
        if (Bridge == null)
            throw new InvalidOperationException("AddBridge first");
        var port = new VmPort(Namespace + "-" + role, role, mac);
        VmProcess.Run("bash", [VmPaths.Script("netns.sh"), "down", port.Namespace], check: false);
        _portNamespaces.Add(port.Namespace);
        VmProcess.Run("bash", [VmPaths.Script("netns.sh"), "port", Namespace, Bridge, port.Namespace, port.Interface, mac, Inv(Mtu)]);
        return port;
    }

    public void Dispose()
    {
        var args = new List<string> { VmPaths.Script("netns.sh"), "down", Namespace };
        args.AddRange(_portNamespaces);
        VmProcess.Run("bash", args, check: false);
    }

    private static string Inv(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A host on a <see cref="VmNetwork"/>'s bridge: its namespace, its interface there and that interface's MAC.</summary>
public sealed record VmPort(string Namespace, string Interface, string Mac);

/// <summary>What one boot printed: its verdict, the @@RESULT values and the whole console.</summary>
public sealed class VmRunResult
{
    public required int ExitCode { get; init; }
    public required string Console { get; init; }
    public required IReadOnlyDictionary<string, string> Results { get; init; }
    public required TimeSpan Duration { get; init; }

    public bool Passed => ExitCode == 0;

    /// <summary>A result the guest must have printed; fails the test with the console otherwise.</summary>
    public string Result(string name)
    {
        if (!Results.TryGetValue(name, out string? value))
            Assert.Fail("the guest printed no @@RESULT " + name + "\n" + Tail());
        return value;
    }

    /// <summary>The last lines of the console, for assertion messages.</summary>
    public string Tail(int lines = 60)
    {
        string[] all = Console.Split('\n');
        int start = Math.Max(0, all.Length - lines);
        return string.Join('\n', all, start, all.Length - start);
    }

    public void AssertPassed()
    {
        string verdict = ExitCode switch
        {
            0 => "pass",
            1 => "the guest reported @@FAIL",
            124 => "timeout: qemu was killed",
            _ => "no verdict from the guest (crash or qemu error), status " + ExitCode,
        };
        Assert.True(Passed, verdict + "\n" + Tail());
    }
}

/// <summary>Boots the test VM through tests/vm/run-vm.sh.</summary>
public static class VirtualMachine
{
    /// <summary>
    /// Boots the VM on <paramref name="network"/>'s tap and runs the guest script (tests/vm/guest/NAME)
    /// with <paramref name="env"/> as shell variables. <paramref name="onConsoleLine"/> sees each console
    /// line as it arrives (on another thread), so a test can act on "@@MARK ..." lines while the guest runs.
    /// </summary>
    public static VmRunResult Run(VmNetwork network, string guestScript, IReadOnlyDictionary<string, string> env,
        string mac, int timeoutSeconds = 240, Action<string>? onConsoleLine = null) =>
        Run(network, guestScript, env, [mac], timeoutSeconds, onConsoleLine);

    /// <summary>
    /// The same with one NIC per tap of <paramref name="network"/>; <paramref name="macs"/>[i] is the
    /// address of the guest's eth<i>i</i> (NICs past the list get random addresses). Cancelling
    /// <paramref name="cancel"/> ends the boot early (SIGTERM to run-vm.sh, which kills qemu and cleans
    /// up): a test whose host side already failed need not wait for the guest's own limits.
    /// </summary>
    public static VmRunResult Run(VmNetwork network, string guestScript, IReadOnlyDictionary<string, string> env,
        IReadOnlyList<string> macs, int timeoutSeconds = 240, Action<string>? onConsoleLine = null,
        CancellationToken cancel = default)
    {
        var args = new List<string>
        {
            VmPaths.Script("run-vm.sh"), "--netns", network.Namespace,
            "--script", VmPaths.Script("guest/" + guestScript),
            "--timeout", timeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        foreach (string tap in network.Taps)
        {
            args.Add("--tap");
            args.Add(tap);
        }
        foreach (string mac in macs)
        {
            args.Add("--mac");
            args.Add(mac);
        }
        foreach (KeyValuePair<string, string> kv in env)
        {
            args.Add("--env");
            args.Add(kv.Key + "=" + kv.Value);
        }

        var console = new StringBuilder();
        var results = new Dictionary<string, string>();
        var psi = new ProcessStartInfo("bash", args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        var clock = Stopwatch.StartNew();
        using Process p = Process.Start(psi)!;
        p.StandardInput.Close();
        void OnLine(string? line)
        {
            if (line == null)
                return;
            lock (console)
            {
                console.Append(line).Append('\n');
                int at = line.IndexOf("@@RESULT ", StringComparison.Ordinal);
                if (at >= 0)
                {
                    string rest = line.Substring(at + "@@RESULT ".Length);
                    int eq = rest.IndexOf('=');
                    if (eq > 0)
                        results[rest.Substring(0, eq)] = rest.Substring(eq + 1).TrimEnd();
                }
            }
            onConsoleLine?.Invoke(line);
        }
        p.OutputDataReceived += (_, e) => OnLine(e.Data);
        p.ErrorDataReceived += (_, e) => OnLine(e.Data);
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using CancellationTokenRegistration stop = cancel.Register(() =>
            VmProcess.Run("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)], check: false));
        // run-vm.sh enforces the timeout itself and kills qemu; this is the backstop if the script hangs.
        if (!p.WaitForExit((timeoutSeconds + 60) * 1000))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        p.WaitForExit();   // drains the asynchronous readers
        lock (console)
        {
            return new VmRunResult
            {
                ExitCode = p.ExitCode,
                Console = console.ToString(),
                Results = new Dictionary<string, string>(results),
                Duration = clock.Elapsed,
            };
        }
    }
}

internal static class VmPaths
{
    public static string Script(string name) => Path.Combine(TestEnvironment.RepoRoot, "tests", "vm", name);
}

/// <summary>Runs a helper command to completion; throws with its output when it fails.</summary>
internal static class VmProcess
{
    public static string Run(string file, IEnumerable<string> args, bool check = true, int timeoutMs = 60_000)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException(file + " " + string.Join(' ', psi.ArgumentList) + " did not finish in " + timeoutMs + " ms");
        }
        p.WaitForExit();
        if (check && p.ExitCode != 0)
            throw new InvalidOperationException(file + " " + string.Join(' ', psi.ArgumentList) + " failed (" + p.ExitCode + "): " + stderr.Result + stdout.Result);
        return stdout.Result;
    }
}
