using System;
using System.IO;
using System.Runtime.Versioning;
using Ggaoed.Native;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// The control socket of the real daemon: a user who is neither root nor the socket's owner may read
/// but not change anything (SO_PEERCRED), and a second daemon pointed at the same socket leaves the
/// first one's socket alone instead of taking it over.
/// </summary>
[Collection(LifecycleCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed class ControlSocketLifeTests
{
    /// <summary>uid and gid of nobody on Debian.</summary>
    private const string Nobody = "65534";

    private static ToolResult CtlAsNobody(Sandbox box, params string[] args)
        => ToolProcess.Run("setpriv", ["--reuid=" + Nobody, "--regid=" + Nobody, "--clear-groups", box.Binary, "ctl", "-s", box.ControlSocket, .. args]);

    [RootFact]
    public void AnotherUser_MayReadCounters_ButNotReloadOrClear_AndIsToldWhy()
    {
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0));
        using DaemonProcess daemon = box.StartForeground();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(box.ControlSocket));

        // As created (0600) the socket keeps other users out altogether.
        ToolResult locked = CtlAsNobody(box, "stats");
        Assert.True(locked.ExitCode == 3, $"exit {locked.ExitCode}:\n{locked.Output}");

        // An admin opens it up for monitoring: reading works, changing is refused by the daemon.
        File.SetUnixFileMode(box.ControlSocket, (UnixFileMode)0x1B6); // 0666
        foreach (string read in new[] { "stats", "metrics", "show-config" })
        {
            ToolResult r = CtlAsNobody(box, read);
            Assert.True(r.ExitCode == 0, $"{read} as nobody: exit {r.ExitCode}:\n{r.Output}");
        }
        foreach (string[] change in new[] { new[] { "reload" }, new[] { "clear-stats" }, new[] { "clear-config", "d0" }, new[] { "clear-reserve", "*" } })
        {
            ToolResult r = CtlAsNobody(box, change);
            Assert.True(r.ExitCode == 1, $"{change[0]} as nobody: exit {r.ExitCode}:\n{r.Output}");
            Assert.Contains("permission denied", r.StdErr);
            Assert.Contains("uid " + Nobody, r.StdErr);
            Assert.Contains("uid 0", r.StdErr);
        }
        // Root still may.
        Assert.Equal(0, box.Ctl("clear-stats").ExitCode);
        Assert.Equal(0, box.Ctl("reload").ExitCode);

        daemon.Signal(Libc.SIGTERM);
        Assert.Equal(0, daemon.WaitForExit(Sandbox.StopTimeout));
    }

    [RootFact]
    public void SecondDaemon_OnTheSameControlSocket_IsRefused_AndTheSocketOfADeadOneIsReplaced()
    {
        using var box = new Sandbox(network: false);
        string device = Sandbox.Device("d0", box.CreateImage("d0", 1), 7, 0);
        box.WriteConfig(device);
        DaemonProcess first = box.StartForeground();

        // Same control socket, but its own pid file (so the pid lock does not stop it first).
        File.WriteAllText(box.ConfigPath, File.ReadAllText(box.ConfigPath).Replace(box.PidFile, Path.Combine(box.Dir, "second.pid")));
        DaemonProcess second = box.Launch();
        int status = second.WaitForExit(Sandbox.StopTimeout);
        Assert.True(status == 1, $"second daemon exited {status}:\n{second.Output}");
        Assert.Contains(box.ControlSocket, second.StdErr);
        Assert.Contains("another ggaoed seems to be running", second.StdErr);
        // The first one still has its socket and answers on it.
        Assert.False(first.HasExited, first.Output);
        ToolResult stats = box.Ctl("stats");
        Assert.True(stats.ExitCode == 0, "the first daemon lost its control socket:\n" + stats.Output);
        Assert.Contains("d0", stats.StdOut);

        // A daemon killed outright leaves its socket file behind; the next start replaces it.
        first.Signal(Libc.SIGKILL);
        first.WaitForExit(Sandbox.StopTimeout);
        Assert.True(File.Exists(box.ControlSocket));
        using DaemonProcess third = box.StartForeground();
        Assert.Equal(0, box.Ctl("stats").ExitCode);

        third.Signal(Libc.SIGTERM);
        Assert.Equal(0, third.WaitForExit(Sandbox.StopTimeout));
    }
}
