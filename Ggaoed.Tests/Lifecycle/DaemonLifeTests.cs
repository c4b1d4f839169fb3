using System;
using System.Collections.Generic;
using System.IO;
using Ggaoed.Ctl;
using Ggaoed.Native;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Daemon life of the real binary (issue 5): pid-file lock, detaching, graceful stop on SIGTERM/SIGINT,
/// and the sd_notify conversation a Type=notify systemd unit relies on.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class DaemonLifeTests
{
    private static Sandbox NewSandbox()
    {
        var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("disk", 1), 1, 0));
        return box;
    }

    [RootFact]
    public void SecondInstance_WithTheSamePidFile_RefusesWithExitOne_WhileTheFirstKeepsServing()
    {
        using Sandbox box = NewSandbox();
        using DaemonProcess first = box.StartForeground();

        using DaemonProcess second = box.Launch();
        int status = second.WaitForExit(Sandbox.StopTimeout);

        Assert.True(status == 1, $"second instance exited {status}, expected 1:\n{second.Output}");
        Assert.Contains("another ggaoed is already running", second.StdErr);
        Assert.Contains(box.PidFile, second.StdErr);
        Assert.Contains("pid " + first.Pid, second.StdErr);
        Assert.False(first.HasExited, "the first instance died:\n" + first.Output);
        Assert.Equal(first.Pid, box.ReadPidFile());
        ToolResult stats = box.Ctl("stats");
        Assert.True(stats.ExitCode == 0, "the first instance stopped answering:\n" + stats.Output);
        Assert.Contains("d0", stats.StdOut);

        // A detaching second instance gets the same verdict through its parent.
        ToolResult detached = box.RunBinary("-c", box.ConfigPath);

        Assert.True(detached.ExitCode == 1, $"detaching second instance exited {detached.ExitCode}:\n{detached.Output}");
        Assert.Contains("another ggaoed is already running", detached.StdErr);
        Assert.Equal(first.Pid, box.ReadPidFile());
        Assert.Equal(0, box.Ctl("stats").ExitCode);

        first.Signal(Libc.SIGTERM);
        Assert.Equal(0, first.WaitForExit(Sandbox.StopTimeout));
    }

    [RootFact]
    public void Detached_ReturnsZeroOnlyOnceServing_RunsInItsOwnSession_AndStopsCleanlyOnSigterm()
    {
        using Sandbox box = NewSandbox();

        ToolResult start = box.RunBinary("-c", box.ConfigPath);

        Assert.True(start.ExitCode == 0, $"ggaoed exited {start.ExitCode}:\n{start.Output}");
        // Serving the moment the command returns: the very first request must be answered.
        Assert.True(ControlClient.TryCall(box.ControlSocket, new[] { "stats" }, out bool ok, out string reply) && ok,
            "control socket not answering right after ggaoed returned: " + reply);
        int pid = box.ReadPidFile();
        Assert.True(pid > 0 && Sandbox.IsAlive(pid), "no live daemon behind the pid file");
        string[] stat = ProcStat(pid);
        Assert.Equal(pid.ToString(), stat[5]); // session id: it leads its own session
        Assert.NotEqual(ProcStat(Environment.ProcessId)[5], stat[5]);
        foreach (int fd in new[] { 0, 1, 2 })
            Assert.Equal("/dev/null", ReadLink($"/proc/{pid}/fd/{fd}"));

        Assert.Equal(0, Libc.kill(pid, Libc.SIGTERM));

        Assert.True(Sandbox.WaitForExitOf(pid, Sandbox.StopTimeout), "the daemon did not stop on SIGTERM");
        Assert.False(File.Exists(box.PidFile), "pid file left behind");
        Assert.False(File.Exists(box.ControlSocket), "control socket left behind");
        Assert.True(File.Exists(Path.Combine(box.StateDir, "d0.state")), "AoE state not saved on stop");
    }

    [RootFact]
    public void Detaching_ReadinessChannel_IsAPipeNoOtherProcessCanReach_AndAStartErrorStillReachesTheCaller()
    {
        using Sandbox box = NewSandbox();
        // A start that fails inside the child: a pid file planted as a symlink is refused there.
        Directory.CreateDirectory(Path.GetDirectoryName(box.PidFile)!);
        File.CreateSymbolicLink(box.PidFile, Path.Combine(box.Dir, "elsewhere"));

        // A local process that wants to fake readiness looks for the channel in /proc/net/unix the
        // whole time the parent waits; the old abstract socket "@ggaoed-ready-*" was there to find.
        bool sawChannel = false;
        using var stop = new System.Threading.CancellationTokenSource();
        var spy = System.Threading.Tasks.Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (File.ReadAllText("/proc/net/unix").Contains("@ggaoed-ready", StringComparison.Ordinal))
                    sawChannel = true;
                System.Threading.Thread.Sleep(1);
            }
        });
        ToolResult start = box.RunBinary("-c", box.ConfigPath);
        stop.Cancel();
        spy.Wait();

        Assert.False(sawChannel, "a named readiness socket any local process could write READY=1 to");
        Assert.True(start.ExitCode == 1, $"exit {start.ExitCode}, expected 1:\n{start.Output}");
        Assert.Contains("symbolic link", start.StdErr);
    }

    [RootFact]
    public void Detached_WithARelativeConfigPath_LeavesTheCallersDirectory_AndStillReloadsThatFile()
    {
        // A daemon must not pin the directory it was started from (that would keep a file system busy);
        // the configuration it re-reads on reload must still be the file the admin named.
        using Sandbox box = NewSandbox();

        ToolResult start = ToolProcess.Run(box.Binary, new[] { "-c", "ggaoed.conf" }, workingDirectory: box.Dir);

        Assert.True(start.ExitCode == 0, $"ggaoed exited {start.ExitCode}:\n{start.Output}");
        int pid = box.ReadPidFile();
        Assert.True(pid > 0 && Sandbox.IsAlive(pid), "no daemon running");
        Assert.Equal("/", new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget);
        box.WriteConfig(Sandbox.Device("d0", Path.Combine(box.Dir, "disk.img"), 1, 0) + Sandbox.Device("d1", box.CreateImage("more", 1), 1, 1));
        ToolResult reload = box.Ctl("reload");
        Assert.True(reload.ExitCode == 0, reload.Output);
        Assert.Contains("d1: added", reload.StdOut);

        Libc.kill(pid, Libc.SIGTERM);
        Assert.True(Sandbox.WaitForExitOf(pid, Sandbox.StopTimeout));
    }

    [RootFact]
    public void Detached_WithOutputCaptured_ReturnsWithoutWaitingForTheDaemonToExit()
    {
        // Like `out=$(ggaoed 2>&1)` in a script: the caller reads our stdout/stderr to EOF, so the daemon
        // must not keep the parent's pipes open. A configuration warning (shelf 4095) makes the binary
        // print something before it detaches.
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("disk", 1), 4095, 0));
        var psi = new System.Diagnostics.ProcessStartInfo(box.Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(box.ConfigPath);
        using var parent = System.Diagnostics.Process.Start(psi)!;
        parent.StandardInput.Close();
        var stdout = parent.StandardOutput.ReadToEndAsync();
        var stderr = parent.StandardError.ReadToEndAsync();

        Assert.True(parent.WaitForExit(Sandbox.StartTimeout), "ggaoed did not return");
        Assert.True(parent.ExitCode == 0, $"ggaoed exited {parent.ExitCode}");
        int pid = box.ReadPidFile();
        Assert.True(pid > 0 && Sandbox.IsAlive(pid), "no daemon running");
        bool eof = System.Threading.Tasks.Task.WaitAll(new System.Threading.Tasks.Task[] { stdout, stderr }, TimeSpan.FromSeconds(10));

        Assert.True(eof, "the detached daemon keeps the caller's stdout/stderr open: a script reading them never finishes");
        // The warning is printed once, by the command the admin ran, not again by the daemon.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(stderr.Result, "never discovers shelf"));
        Libc.kill(pid, Libc.SIGTERM);
        Assert.True(Sandbox.WaitForExitOf(pid, Sandbox.StopTimeout));
    }

    [RootTheory]
    [InlineData(Libc.SIGTERM)]
    [InlineData(Libc.SIGINT)]
    [InlineData(Libc.SIGQUIT)] // ggaoed 1.1 stops cleanly on SIGQUIT; the runtime's default would kill us (131)
    public void Foreground_StopSignal_ExitsZero_RemovesPidFileAndSocket_SavesState(int signal)
    {
        using Sandbox box = NewSandbox();
        using DaemonProcess daemon = box.StartForeground();
        Assert.Equal(daemon.Pid, box.ReadPidFile());
        Assert.True(File.Exists(box.ControlSocket));

        daemon.Signal(signal);
        int status = daemon.WaitForExit(Sandbox.StopTimeout);

        Assert.True(status == 0, $"exit {status} after signal {signal}:\n{daemon.Output}");
        Assert.False(File.Exists(box.PidFile), "pid file left behind");
        Assert.False(File.Exists(box.ControlSocket), "control socket left behind");
        Assert.True(File.Exists(Path.Combine(box.StateDir, "d0.state")), "AoE state not saved on stop");
        Assert.Contains("stopped", daemon.StdErr);
        Assert.DoesNotContain("error", daemon.StdErr, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Signals that were ignored when the daemon started (nohup leaves SIGHUP so, a non-interactive
    /// shell's <c>ggaoed -f &amp;</c> SIGINT and SIGQUIT) still reload and stop it, as ggaoed 1.1's do.
    /// </summary>
    [RootTheory]
    [InlineData(Libc.SIGTERM)]
    [InlineData(Libc.SIGINT)]
    [InlineData(Libc.SIGQUIT)]
    public void SignalsIgnoredAtStart_StillReloadAndStopTheDaemon(int signal)
    {
        using Sandbox box = NewSandbox();
        using DaemonProcess daemon = box.StartForeground(ignoredSignals: "HUP INT QUIT TERM");

        daemon.Signal(Libc.SIGHUP);
        Assert.True(daemon.WaitForStdErr("configuration reloaded", Sandbox.StopTimeout), "no reload after SIGHUP:\n" + daemon.StdErr);
        daemon.Signal(signal);
        int status = daemon.WaitForExit(Sandbox.StopTimeout);
        Assert.True(status == 0, $"exit {status} after signal {signal}:\n{daemon.Output}");
        Assert.False(File.Exists(box.PidFile), "pid file left behind");
    }

    [RootFact]
    public void Sigterm_UnderLoad_ExitsZero_AndEveryAcknowledgedWriteIsInTheBackingFile()
    {
        using var box = new Sandbox(network: true);
        string image = box.CreateImage("d0", 16);
        box.WriteConfig(Sandbox.Device("d0", image, 7, 0));
        using DaemonProcess daemon = box.StartForeground();
        using var load = new Workload(box.Net!, 7, 0, pipelineLbas: 16384, verifiedFirstLba: 16384);
        load.Start();
        load.WaitForProgress(TimeSpan.FromSeconds(60));

        daemon.Signal(Libc.SIGTERM);
        int status = daemon.WaitForExit(Sandbox.StopTimeout);
        // The initiators now time out: that is expected, the target is gone.
        load.Stop(targetGone: true);

        Assert.True(status == 0, $"exit {status} on SIGTERM under load:\n{daemon.Output}");
        Assert.False(File.Exists(box.PidFile), "pid file left behind");
        Assert.False(File.Exists(box.ControlSocket), "control socket left behind");
        Assert.DoesNotContain("still in the kernel", daemon.StdErr);
        Assert.True(load.Mismatches == 0, $"{load.Mismatches} blocks read back wrong before the stop, first: {load.FirstMismatch}");
        long bad = load.CountFileMismatches(image, out string? first);
        Assert.True(bad == 0, $"{bad} acknowledged writes are not in the backing file after the stop, first: {first}");
    }

    [RootFact]
    public void NotifySocket_GetsReady_ReloadingThenReady_OnSighup_AndStopping_OnSigterm()
    {
        using Sandbox box = NewSandbox();
        using var notify = new NotifyListener(Path.Combine(box.Dir, "notify.sock"));
        using DaemonProcess daemon = box.Launch(environment: new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = notify.Path });

        string? ready = notify.WaitFor("READY=1", Sandbox.StartTimeout);
        Assert.True(ready != null, "no READY=1; got: " + notify.Transcript + "\n" + daemon.Output);
        Assert.Contains("MAINPID=" + daemon.Pid, ready);
        // READY means serving: the control socket answers at once.
        Assert.True(ControlClient.TryCall(box.ControlSocket, new[] { "stats" }, out bool ok, out _) && ok);

        daemon.Signal(Libc.SIGHUP);
        Assert.True(notify.WaitFor("RELOADING=1", Sandbox.StartTimeout) != null, "no RELOADING=1; got: " + notify.Transcript);
        Assert.True(notify.WaitFor("READY=1", Sandbox.StartTimeout) != null, "no READY=1 after the reload; got: " + notify.Transcript);

        daemon.Signal(Libc.SIGTERM);
        Assert.True(notify.WaitFor("STOPPING=1", Sandbox.StopTimeout) != null, "no STOPPING=1; got: " + notify.Transcript);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }

    [RootFact]
    public void NotifySocket_OnAStartFailure_NeverSaysReady_AndTheExitStatusIsOne()
    {
        using Sandbox box = NewSandbox();
        using DaemonProcess first = box.StartForeground();
        using var notify = new NotifyListener(Path.Combine(box.Dir, "notify.sock"));

        using DaemonProcess second = box.Launch(environment: new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = notify.Path });

        Assert.Equal(1, second.WaitForExit(Sandbox.StopTimeout));
        Assert.Null(notify.WaitFor("READY=1", TimeSpan.FromMilliseconds(500)));
    }

    [RootFact]
    public void LeftoversOfAKilledDaemon_StalePidFileAndSocket_DoNotBlockTheNextStart()
    {
        using Sandbox box = NewSandbox();
        using (DaemonProcess crashed = box.StartForeground())
        {
            crashed.Signal(Libc.SIGKILL);
            crashed.WaitForExit(Sandbox.StopTimeout);
        }
        Assert.True(File.Exists(box.PidFile) && File.Exists(box.ControlSocket), "expected a stale pid file and socket");

        using DaemonProcess next = box.StartForeground();

        Assert.Equal(next.Pid, box.ReadPidFile());
        Assert.Equal(0, box.Ctl("stats").ExitCode);
        next.Signal(Libc.SIGTERM);
        Assert.Equal(0, next.WaitForExit(Sandbox.StopTimeout));
    }

    [RootTheory]
    [InlineData("pid-file")]
    [InlineData("control-socket")]
    public void StartFailure_ExitsOne_NamingThePath_AndLeavesNothingBehind(string key)
    {
        using var box = new Sandbox(network: false);
        string unusable = Path.Combine(box.Dir, "no-such-dir", key == "pid-file" ? "ggaoed.pid" : "ctl.sock");
        string pidFile = key == "pid-file" ? unusable : box.PidFile;
        string socket = key == "control-socket" ? unusable : box.ControlSocket;
        File.WriteAllText(box.ConfigPath,
            $"[defaults]\ninterfaces = {box.Interfaces}\npid-file = {pidFile}\ncontrol-socket = {socket}\nstate-directory = {box.StateDir}\n\n" +
            Sandbox.Device("d0", box.CreateImage("disk", 1), 1, 0));

        foreach (bool foreground in new[] { true, false })
        {
            ToolResult r = foreground ? box.RunBinary("-f", "-c", box.ConfigPath) : box.RunBinary("-c", box.ConfigPath);

            Assert.True(r.ExitCode == 1, $"{(foreground ? "-f" : "detached")}: exit {r.ExitCode}, expected 1:\n{r.Output}");
            Assert.Contains(unusable, r.StdErr);
            Assert.Contains("No such file or directory", r.StdErr);
            Assert.False(File.Exists(pidFile), "pid file left behind");
            Assert.False(File.Exists(socket), "control socket left behind");
        }
    }

    [RootFact]
    public void Debug_TracesEachRequestOfEveryDevice_WithItsResult()
    {
        using var box = new Sandbox(network: true);
        box.WriteConfig(
            Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0, "trace-io = true\n") +
            Sandbox.Device("d1", box.CreateImage("d1", 1), 7, 1));
        using DaemonProcess daemon = box.StartForeground(new[] { "-d" });

        InNetNs.Run(box.Net!.InitiatorNs, () =>
        {
            using var client = new Ggaoed.Initiator.AoeClient(box.Net.InitiatorIf);
            foreach (Ggaoed.Initiator.DiscoveredTarget t in client.DiscoverUntil(found => found.Count >= 2))
                client.Write(t, 6, new byte[1024]);
            return 0;
        });
        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));

        // -d implies trace-io for every device (ggaoed 1.1: "-d logs every request"), each line with its result.
        Assert.Matches(@"d0: WRITE SECTORS( EXT)? lba 6 sectors 2 tag 0x[0-9a-f]{8} from [0-9a-f:]{17}: ok", daemon.StdErr);
        Assert.Matches(@"d1: WRITE SECTORS( EXT)? lba 6 sectors 2 tag 0x[0-9a-f]{8} from [0-9a-f:]{17}: ok", daemon.StdErr);
    }

    private static string[] ProcStat(int pid)
    {
        // Fields after the parenthesised command name: state is [2], ppid [3], pgrp [4], session [5].
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        int close = stat.LastIndexOf(')');
        var fields = new List<string> { stat[..stat.IndexOf(' ')], stat[(stat.IndexOf('(') + 1)..close] };
        fields.AddRange(stat[(close + 2)..].Split(' '));
        return fields.ToArray();
    }

    private static string ReadLink(string path) => new FileInfo(path).LinkTarget ?? "";
}
