using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Bad configuration never half-starts (issue 5): the real binary names every problem with file:line
/// and key, exits 2, and leaves no pid file or control socket behind. A ggaoed 1.1 file loads with
/// warnings (file:line too, exit 0); -T makes them errors.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class ConfigErrorTests
{
    [RootFact]
    public void ConfigWithSeveralProblems_ExitsTwo_OneMessagePerProblemWithFileLineAndKey_NothingStarted()
    {
        using var box = new Sandbox(network: false);
        string disk = box.CreateImage("disk", 1);
        string other = box.CreateImage("other", 1);
        string missing = Path.Combine(box.Dir, "missing.img");
        // Line numbers below count from the top of the file WriteConfig produces (6 lines of defaults).
        box.WriteConfig(
            "[d0]\n" +                              // 8: a good device
            "path = " + disk + "\n" +               // 9
            "shelf = 1\n" +                         // 10
            "slot = 0\n" +                          // 11
            "[d1]\n" +                              // 12
            "path = " + disk + "\n" +               // 13: d0's backing store again
            "shelf = 1\n" +                         // 14: duplicate shelf.slot (e1.0 is d0's)
            "slot = 0\n" +                          // 15
            "[d2]\n" +                              // 16: both path and uuid
            "path = " + other + "\n" +              // 17
            "uuid = 0b6c7c47-5e4f-4a7b-9f3a-000000000000\n" + // 18
            "accept = 00:11:22:33:44:zz\n" +        // 19: bad MAC (warning: left out, so nobody is admitted)
            "colour = blue\n" +                     // 20: unknown key (warning)
            "shelf = 2\n" +                         // 21
            "slot = 0\n" +                          // 22
            "deny =\n" +                            // 23: empty access list
            "[d3]\n" +                              // 24
            "path = " + missing + "\n" +            // 25: path missing (warning: unavailable)
            "shelf = 3\n" +                         // 26
            "slot = 0\n" +                          // 27
            "read-only = maybe\n");                 // 28: not a boolean
        string[] lines = File.ReadAllLines(box.ConfigPath);
        Assert.Equal("[d0]", lines[7]);
        Assert.Equal("read-only = maybe", lines[27]);

        ToolResult r = box.RunBinary("-f", "-c", box.ConfigPath);

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}, expected 2:\n{r.Output}");
        string f = box.ConfigPath;
        AssertProblem(r.StdErr, $"{f}:13: path:", "the same file as [d0]");
        AssertProblem(r.StdErr, $"{f}:14: shelf:", "e1.0");
        AssertProblem(r.StdErr, $"{f}:16: [d2]:", "uuid");
        AssertProblem(r.StdErr, $"{f}:23: deny:", "is empty");
        AssertProblem(r.StdErr, $"{f}:28: read-only:", "maybe");
        AssertProblem(r.StdErr, $"warning: {f}:19: accept:", "00:11:22:33:44:zz");
        AssertProblem(r.StdErr, $"warning: {f}:20: colour:", "unknown key");
        AssertProblem(r.StdErr, $"warning: {f}:25: path:", missing);
        Assert.Contains("nothing was started", r.StdErr);
        // One line per error: the summary counts exactly the error lines that name a place in the file.
        int located = r.StdErr.Split('\n').Count(l => l.StartsWith("ggaoed: " + f + ":", StringComparison.Ordinal));
        Assert.Equal(5, located);
        Assert.Contains($"{located} error(s)", r.StdErr);
        Assert.False(File.Exists(box.PidFile), "a pid file was created");
        Assert.False(File.Exists(box.ControlSocket), "a control socket was created");
        Assert.False(Directory.Exists(box.StateDir), "the state directory was created");
        Assert.Equal("", r.StdOut);
    }

    [RootFact]
    public void ConfigWithAProblem_Detaching_ExitsTwo_AndStartsNothing()
    {
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("disk", 1), 65535, 0));

        ToolResult r = box.RunBinary("-c", box.ConfigPath);

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}, expected 2:\n{r.Output}");
        AssertProblem(r.StdErr, $"{box.ConfigPath}:10: shelf:", "broadcast shelf");
        Assert.False(File.Exists(box.PidFile), "a pid file was created");
        Assert.False(File.Exists(box.ControlSocket), "a control socket was created");
    }

    /// <summary>
    /// A file as a ggaoed 1.1 host has it, in the sandbox: each line marked "W" must produce exactly one
    /// warning naming the file and that line.
    /// </summary>
    private static (string Config, int[] WarningLines) OnePointOneFile(Sandbox box)
    {
        string disk = box.CreateImage("xen web1", 1);
        string iso = box.CreateImage("install", 1);
        string[] lines =
        [
            "# written for ggaoed 1.1",
            "[defaults]",
            "pid-file = " + box.PidFile,
            "control-socket = " + box.ControlSocket,
            "state-directory = " + box.StateDir,
            "queue-length = 1",                                   // W: raised to 2
            "buffers = 64",                                       // W: obsolete
            "mtu = 1500",
            "[acls]",
            "xen-hosts = 00:16:3e:00:00:01, dom0-nowhere-in-ethers", // W: left out
            "[gglcnone0]",
            "mtu = 0",
            "tx-ring-bug = true",                                 // W: obsolete
            "ring-buffer-size = 64",                              // W: raised to 128
            "[xen web1]",
            "path = " + disk,
            "shelf = 1",
            "slot = 0",
            "accept = xen-hosts",
            "queue-length = 16",
            "queue-length = 32",                                  // W: repeated, the later wins
            "[install]",
            "path = " + iso,
            "shelf = 1",
            "slot = 1",
            "read-only = true",
            "broadcast = true",
            "[spare]",
            "path = " + Path.Combine(box.Dir, "not-yet.img"),     // W: unavailable
            "shelf = 1",
            "slot = 2",
        ];
        int[] warningLines = [6, 7, 10, 13, 14, 21, 29];
        return (string.Join("\n", lines) + "\n", warningLines);
    }

    [Fact]
    public void CheckConfig_OnAGgaoedOnePointOneFile_PrintsEachWarningWithFileAndLine_AndExitsZero()
    {
        using var box = new Sandbox(network: false);
        (string text, int[] warningLines) = OnePointOneFile(box);
        File.WriteAllText(box.ConfigPath, text);

        ToolResult r = ToolProcess.Run(box.Binary, "-t", "-c", box.ConfigPath);

        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}:\n{r.Output}");
        Assert.Contains("configuration OK (3 device(s), 1 unavailable, 7 warning(s))", r.StdOut);
        string[] warnings = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(warnings, w => Assert.StartsWith($"ggaoed: warning: {box.ConfigPath}:", w));
        var where = new Regex("^ggaoed: warning: " + Regex.Escape(box.ConfigPath) + ":([0-9]+): ");
        Assert.Equal(warningLines, warnings.Select(w => int.Parse(where.Match(w).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        Assert.Contains("buffers: obsolete", r.StdErr);
        Assert.Contains("[spare] is not exported for now", r.StdErr);
        Assert.False(File.Exists(box.PidFile), "-t created a pid file");
    }

    [Fact]
    public void Strict_MakesEveryWarningAnError_ForCheckAndForStart()
    {
        using var box = new Sandbox(network: false);
        (string text, int[] warningLines) = OnePointOneFile(box);
        File.WriteAllText(box.ConfigPath, text);

        foreach (string[] args in new[] { new[] { "-t", "-T" }, new[] { "--check-config", "--strict" }, new[] { "-f", "-T" } })
        {
            ToolResult r = ToolProcess.Run(box.Binary, args.Concat(new[] { "-c", box.ConfigPath }).ToArray());

            string how = string.Join(' ', args);
            Assert.True(r.ExitCode == 2, $"{how}: exit {r.ExitCode}:\n{r.Output}");
            foreach (int n in warningLines)
                AssertProblem(r.StdErr, $"{box.ConfigPath}:{n}:", "");
            Assert.DoesNotContain("warning:", r.StdErr);
            Assert.Contains($"{warningLines.Length} error(s)", r.StdErr);
            Assert.DoesNotContain("configuration OK", r.Output);
            Assert.False(File.Exists(box.PidFile), $"{how} created a pid file");
        }

        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("clean", 1), 1, 0));
        ToolResult clean = ToolProcess.Run(box.Binary, "-t", "-T", "-c", box.ConfigPath);
        Assert.True(clean.ExitCode == 0, $"a clean file under -T: exit {clean.ExitCode}:\n{clean.Output}");
        Assert.Equal("", clean.StdErr);
    }

    private static void AssertProblem(string stderr, string prefix, string mentions)
    {
        string? line = stderr.Split('\n').FirstOrDefault(l => l.StartsWith("ggaoed: " + prefix, StringComparison.Ordinal));
        Assert.True(line != null, $"no line starting with 'ggaoed: {prefix}' in:\n{stderr}");
        Assert.Contains(mentions, line);
    }

    [Fact]
    public void CheckConfig_OnAGoodFile_ExitsZero_AndSaysSo()
    {
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("disk", 1), 1, 0));

        foreach (string option in new[] { "-t", "--check-config" })
        {
            ToolResult r = ToolProcess.Run(box.Binary, option, "-c", box.ConfigPath);

            Assert.True(r.ExitCode == 0, $"{option}: exit {r.ExitCode}:\n{r.Output}");
            Assert.Contains("configuration OK", r.StdOut);
            Assert.Contains("1 device", r.StdOut);
            Assert.False(File.Exists(box.PidFile), "-t created a pid file");
            Assert.False(File.Exists(box.ControlSocket), "-t created a control socket");
        }
    }

    [Fact]
    public void CheckConfig_OnABadFile_ExitsTwo_WithFileLineAndKey()
    {
        using var box = new Sandbox(network: false);
        box.WriteConfig(Sandbox.Device("d0", box.CreateImage("disk", 1), 1, 0, "read-only = maybe\n"));

        ToolResult r = ToolProcess.Run(box.Binary, "-t", "-c", box.ConfigPath);

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}:\n{r.Output}");
        AssertProblem(r.StdErr, $"{box.ConfigPath}:12: read-only:", "maybe");
        Assert.DoesNotContain("configuration OK", r.Output);
    }

    [Fact]
    public void CheckConfig_OnAMissingFile_ExitsTwo_NamingTheFile()
    {
        string missing = "/nonexistent-gg-lc/ggaoed.conf";
        ToolResult r = ToolProcess.Run(PublishedBinary.Get().BinaryPath, "--check-config", "-c", missing);

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}:\n{r.Output}");
        Assert.Contains(missing + ": cannot read the configuration file: no such file", r.StdErr);
    }

    [Fact]
    public void CheckConfig_OnADirectory_SaysSo()
    {
        using var box = new Sandbox(network: false);
        ToolResult r = ToolProcess.Run(box.Binary, "-t", "-c", box.Dir);

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}:\n{r.Output}");
        Assert.Contains(box.Dir + ": cannot read the configuration file: it is a directory", r.StdErr);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("-x")]
    [InlineData("stray-argument")]
    public void UnknownOption_ExitsTwo_WithUsageOnStderr(string option)
    {
        ToolResult r = ToolProcess.Run(PublishedBinary.Get().BinaryPath, option);

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}:\n{r.Output}");
        Assert.Contains(option, r.StdErr);
        Assert.Contains("usage: ggaoed", r.StdErr);
        Assert.Equal("", r.StdOut);
    }

    [Fact]
    public void OptionMissingItsValue_ExitsTwo_WithUsage()
    {
        ToolResult r = ToolProcess.Run(PublishedBinary.Get().BinaryPath, "-c");

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}:\n{r.Output}");
        Assert.Contains("usage: ggaoed", r.StdErr);
    }

    [Fact]
    public void Help_ExitsZero_ListingEveryOption()
    {
        ToolResult r = ToolProcess.Run(PublishedBinary.Get().BinaryPath, "--help");

        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}:\n{r.Output}");
        foreach (string o in new[] { "-c", "-f", "-d", "-t", "--check-config", "-T", "--strict", "--version", "-h" })
            Assert.Contains(o, r.StdOut);
    }
}
