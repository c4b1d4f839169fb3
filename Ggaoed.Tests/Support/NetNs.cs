using System;
using System.Diagnostics;
using System.Threading;

namespace Ggaoed.Tests.Support;

/// <summary>
/// A pair of network namespaces joined by a veth pair, created for one test and removed on Dispose.
/// Names carry a prefix and the process id so parallel runs and leftovers of a crashed run can't clash
/// (a leftover with the same name is deleted first).
/// </summary>
public sealed class VethPair : IDisposable
{
    public string TargetNs { get; }
    public string InitiatorNs { get; }
    public string TargetIf { get; }
    public string InitiatorIf { get; }

    private static int s_counter;

    /// <param name="prefix">Short area tag, e.g. "dp" (interface names are limited to 15 bytes).</param>
    public VethPair(string prefix, int mtu = 1500)
    {
        int n = Interlocked.Increment(ref s_counter);
        string id = $"{prefix}{Environment.ProcessId % 100000}x{n}";
        TargetNs = "gg-t-" + id;
        InitiatorNs = "gg-i-" + id;
        TargetIf = Trim("t" + id);
        InitiatorIf = Trim("i" + id);
        Sh.Run($"ip netns del {TargetNs}", check: false);
        Sh.Run($"ip netns del {InitiatorNs}", check: false);
        Sh.Run($"ip netns add {TargetNs}");
        Sh.Run($"ip netns add {InitiatorNs}");
        Sh.Run($"ip link add {TargetIf} netns {TargetNs} mtu {mtu} type veth peer name {InitiatorIf} netns {InitiatorNs} mtu {mtu}");
        Sh.Run($"ip -n {TargetNs} link set lo up");
        Sh.Run($"ip -n {InitiatorNs} link set lo up");
        Sh.Run($"ip -n {TargetNs} link set {TargetIf} up");
        Sh.Run($"ip -n {InitiatorNs} link set {InitiatorIf} up");
        WaitOperUp(TargetNs, TargetIf);
        WaitOperUp(InitiatorNs, InitiatorIf);
    }

    /// <summary>
    /// A new veth end keeps a no-op qdisc until the kernel's link watcher sees the carrier, and frames
    /// sent before that vanish while send() reports success: wait for operstate UP.
    /// </summary>
    public static void WaitOperUp(string netns, string ifname)
    {
        // Usually well under a second (linkwatch runs about once a second); 20 s leaves room for a
        // machine whose rtnl_lock is busy with the namespaces of parallel tests.
        long deadline = Environment.TickCount64 + 20_000;
        while (true)
        {
            if (Sh.Run($"ip -n {netns} link show {ifname}", check: false).Contains("state UP"))
                return;
            if (Environment.TickCount64 > deadline)
                throw new TimeoutException($"{ifname} in {netns} did not reach operstate UP within 20 s");
            Thread.Sleep(10);
        }
    }

    private static string Trim(string name) => name.Length <= 15 ? name : name.Substring(0, 15);

    /// <summary>Adds another veth pair between the same two namespaces; returns (targetIf, initiatorIf).</summary>
    public (string TargetIf, string InitiatorIf) AddLink(string suffix, int mtu = 1500)
    {
        string t = Trim(TargetIf + suffix);
        string i = Trim(InitiatorIf + suffix);
        Sh.Run($"ip link add {t} netns {TargetNs} mtu {mtu} type veth peer name {i} netns {InitiatorNs} mtu {mtu}");
        Sh.Run($"ip -n {TargetNs} link set {t} up");
        Sh.Run($"ip -n {InitiatorNs} link set {i} up");
        WaitOperUp(TargetNs, t);
        WaitOperUp(InitiatorNs, i);
        return (t, i);
    }

    public void Dispose()
    {
        // Deleting a namespace destroys the veth ends inside it.
        Sh.Run($"ip netns del {TargetNs}", check: false);
        Sh.Run($"ip netns del {InitiatorNs}", check: false);
    }
}

/// <summary>Runs a shell command line and returns its output; throws with the output when it fails.</summary>
public static class Sh
{
    public static string Run(string command, bool check = true, int timeoutMs = 60_000)
    {
        var psi = new ProcessStartInfo("/bin/sh", new[] { "-c", command })
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{command}` did not finish in {timeoutMs} ms");
        }
        p.WaitForExit();
        if (check && p.ExitCode != 0)
            throw new InvalidOperationException($"`{command}` failed ({p.ExitCode}): {stderr.Result}{stdout.Result}");
        return stdout.Result;
    }
}

/// <summary>
/// Runs code with the calling thread inside a network namespace (setns affects only the calling thread;
/// sockets opened there stay in that namespace when used from other threads).
/// </summary>
public static class InNetNs
{
    public static T Run<T>(string netns, Func<T> body)
    {
        T result = default!;
        Exception? error = null;
        var t = new Thread(() =>
        {
            try
            {
                using var f = System.IO.File.OpenHandle("/var/run/netns/" + netns);
                if (Ggaoed.Native.Libc.setns((int)f.DangerousGetHandle(), Ggaoed.Native.Libc.CLONE_NEWNET) != 0)
                    throw new InvalidOperationException($"setns({netns}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
                result = body();
            }
            catch (Exception e)
            {
                error = e;
            }
        });
        t.Start();
        t.Join();
        if (error != null)
            throw new AggregateException("in netns " + netns, error);
        return result;
    }
}
