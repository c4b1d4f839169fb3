using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.Versioning;
using Xunit;

namespace Ggaoed.Tests.Build;

/// <summary>
/// The installed systemd unit and System V init script, installed under a temporary prefix (so their
/// paths exist) and exercised there. Needs no root.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ServiceFileTests : IDisposable
{
    private readonly BuildTree _tree = new();
    private readonly string _prefix;

    public ServiceFileTests()
    {
        _prefix = Path.Combine(_tree.Work, "root");
        _tree.Configure("--prefix=" + _prefix);
        _tree.Make("install");
    }

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void SystemdUnit_PassesSystemdAnalyzeVerify()
    {
        string unit = Path.Combine(_prefix, "lib/systemd/system/ggaoed.service");

        // --man=no: the Documentation= pages are not installed on the build host.
        ToolResult r = ToolProcess.Run("systemd-analyze", "verify", "--man=no", unit);

        Assert.True(r.ExitCode == 0 && r.Output.Trim().Length == 0, "systemd-analyze verify:\n" + r.Output);
    }

    [Fact]
    public void InitScript_Starts_ReportsStatus_Reloads_AndStops()
    {
        string etc = Path.Combine(_prefix, "etc");
        string init = Path.Combine(etc, "init.d", "ggaoed");
        string pidFile = Path.Combine(_tree.Work, "ggaoed.pid");
        string ctlArgs = Path.Combine(_tree.Work, "ctl.args");

        // Stand-ins with the daemon's contract: without -f it detaches, writes the pid file, and on
        // SIGTERM removes it and exits. The init script picks them up from default/ggaoed.
        string fakeDaemon = WriteScript("fake-ggaoed",
            "[ \"$1\" = -c ] && [ -n \"$2\" ] || exit 2\n" +
            "( trap 'rm -f " + pidFile + "; exit 0' TERM; while :; do sleep 0.1; done ) </dev/null >/dev/null 2>&1 &\n" +
            "echo $! >" + pidFile + "\n");
        string fakeCtl = WriteScript("fake-ggaoectl", "echo \"$@\" >" + ctlArgs + "\n");
        Directory.CreateDirectory(Path.Combine(etc, "default"));
        File.WriteAllText(Path.Combine(etc, "default", "ggaoed"),
            "DAEMON=" + fakeDaemon + "\nCTL=" + fakeCtl + "\nPIDFILE=" + pidFile + "\nSTOP_TIMEOUT=5\n");
        try
        {
            ToolResult status = Init(init, "status");
            Assert.Equal(3, status.ExitCode);
            Assert.Contains("not running", status.StdOut, StringComparison.Ordinal);

            Assert.Equal(0, Init(init, "start").ExitCode);
            int pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(IsAlive(pid));

            status = Init(init, "status");
            Assert.Equal(0, status.ExitCode);
            Assert.Contains("running (pid " + pid + ")", status.StdOut, StringComparison.Ordinal);

            ToolResult again = Init(init, "start");
            Assert.Equal(0, again.ExitCode);
            Assert.Contains("already running", again.StdOut, StringComparison.Ordinal);

            Assert.Equal(0, Init(init, "reload").ExitCode);
            Assert.Equal("-c " + Path.Combine(etc, "ggaoed.conf") + " reload", File.ReadAllText(ctlArgs).Trim());

            Assert.Equal(0, Init(init, "stop").ExitCode);
            Assert.False(IsAlive(pid), "the daemon survived stop");
            Assert.Equal(3, Init(init, "status").ExitCode);
        }
        finally
        {
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out int stray) && IsAlive(stray))
                Process.GetProcessById(stray).Kill();
        }
    }

    private static ToolResult Init(string script, string action) => ToolProcess.Run("sh", script, action);

    private string WriteScript(string name, string body)
    {
        string path = Path.Combine(_tree.Work, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    // A zombie still answers kill -0, so look at the state too.
    private static bool IsAlive(int pid)
    {
        string stat = "/proc/" + pid + "/stat";
        if (!File.Exists(stat))
            return false;
        string text;
        try
        {
            text = File.ReadAllText(stat);
        }
        catch (IOException)
        {
            return false;
        }
        int close = text.LastIndexOf(')');
        return close < 0 || close + 2 >= text.Length || text[close + 2] != 'Z';
    }
}
