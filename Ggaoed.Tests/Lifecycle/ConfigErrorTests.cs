using System;
using System.IO;
using System.Linq;
using Ggaoed.Tests.Build;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Bad configuration never half-starts (issue 5): the real binary names every problem with file:line
/// and key, exits 2, and leaves no pid file or control socket behind.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class ConfigErrorTests
{
    [RootFact]
    public void ConfigWithSeveralProblems_ExitsTwo_OneMessagePerProblemWithFileLineAndKey_NothingStarted()
    {
        using var box = new Sandbox(network: false);
        string disk = box.CreateImage("disk", 1);
        string missing = Path.Combine(box.Dir, "missing.img");
        // Line numbers below count from the top of the file WriteConfig produces (6 lines of defaults).
        box.WriteConfig(
            "[d0]\n" +                              // 8: a good device
            "path = " + disk + "\n" +               // 9
            "shelf = 1\n" +                         // 10
            "slot = 0\n" +                          // 11
            "[d1]\n" +                              // 12
            "path = " + disk + "\n" +               // 13
            "shelf = 1\n" +                         // 14: duplicate shelf.slot (e1.0 is d0's)
            "slot = 0\n" +                          // 15
            "[d2]\n" +                              // 16: both path and uuid
            "path = " + disk + "\n" +               // 17
            "uuid = 0b6c7c47-5e4f-4a7b-9f3a-000000000000\n" + // 18
            "accept = 00:11:22:33:44:zz\n" +        // 19: bad MAC
            "colour = blue\n" +                     // 20: unknown key
            "shelf = 2\n" +                         // 21
            "slot = 0\n" +                          // 22
            "[d3]\n" +                              // 23
            "path = " + missing + "\n" +            // 24: path missing
            "shelf = 3\n" +                         // 25
            "slot = 0\n");                          // 26
        string[] lines = File.ReadAllLines(box.ConfigPath);
        Assert.Equal("[d0]", lines[7]);
        Assert.Equal("colour = blue", lines[19]);

        ToolResult r = box.RunBinary("-f", "-c", box.ConfigPath);

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}, expected 2:\n{r.Output}");
        string f = box.ConfigPath;
        AssertProblem(r.StdErr, $"{f}:14: shelf:", "e1.0");
        AssertProblem(r.StdErr, $"{f}:19: accept:", "00:11:22:33:44:zz");
        AssertProblem(r.StdErr, $"{f}:20: colour:", "unknown key");
        AssertProblem(r.StdErr, $"{f}:16: [d2]:", "uuid");
        AssertProblem(r.StdErr, $"{f}:24: path:", missing);
        Assert.Contains("nothing was started", r.StdErr);
        // One line per problem: the summary counts exactly the lines that name a place in the file.
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
        box.WriteConfig(Sandbox.Device("d0", Path.Combine(box.Dir, "missing.img"), 1, 0));

        ToolResult r = box.RunBinary("-c", box.ConfigPath);

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}, expected 2:\n{r.Output}");
        AssertProblem(r.StdErr, $"{box.ConfigPath}:9: path:", "missing.img");
        Assert.False(File.Exists(box.PidFile), "a pid file was created");
        Assert.False(File.Exists(box.ControlSocket), "a control socket was created");
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
        foreach (string o in new[] { "-c", "-f", "-d", "-t", "--check-config", "--version", "-h" })
            Assert.Contains(o, r.StdOut);
    }
}
