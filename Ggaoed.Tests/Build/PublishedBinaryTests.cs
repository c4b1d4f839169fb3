using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.Versioning;
using System.Text.RegularExpressions;
using Ggaoed.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Build;

/// <summary>
/// The shipped artefact: one static, trimmed NativeAOT executable that needs nothing from the host,
/// not even libc (issue 2). All tests share the one publish of <see cref="PublishedBinary"/>.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class PublishedBinaryTests
{
    private readonly ITestOutputHelper _output;

    public PublishedBinaryTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Publish_ReportsNoCompilerTrimOrAotWarnings()
    {
        PublishResult publish = PublishedBinary.Get();

        // MSBuild prints "file(line,col): warning IL2026: ..."; linkers print "ld.lld: warning: ...".
        // Warnings are errors in the project, but ILC and the native linker have their own switches,
        // and a warning that slips through is a runtime failure waiting in the trimmed binary.
        var warning = new Regex(@"(^|[\s:])warning(\s+[A-Z]+[0-9]+|\s*:)", RegexOptions.IgnoreCase);
        var hits = new List<string>();
        foreach (string line in publish.Output.Split('\n'))
        {
            if (warning.IsMatch(line))
                hits.Add(line.Trim());
        }
        Assert.True(hits.Count == 0, "publish printed warnings:\n" + string.Join('\n', hits));
    }

    [Fact]
    public void Binary_IsStaticallyLinkedAndStripped()
    {
        PublishResult publish = PublishedBinary.Get();

        ToolResult file = ToolProcess.Run("file", "-b", publish.BinaryPath);

        Assert.Equal(0, file.ExitCode);
        // file(1) 5.44 says "static-pie linked"; older versions say "statically linked".
        Assert.True(
            file.StdOut.Contains("static-pie linked", StringComparison.Ordinal) || file.StdOut.Contains("statically linked", StringComparison.Ordinal),
            "not a static executable: " + file.StdOut);
        Assert.DoesNotContain("dynamically linked", file.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("interpreter", file.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain("not stripped", file.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void DebugSymbols_StayBesideTheBinary()
    {
        PublishResult publish = PublishedBinary.Get();

        Assert.True(File.Exists(publish.DebugSymbolsPath), "missing " + publish.DebugSymbolsPath);
        Assert.True(new FileInfo(publish.DebugSymbolsPath).Length > 0, publish.DebugSymbolsPath + " is empty");
    }

    [RootFact]
    public void Binary_RunsInAChrootHoldingNothingButItself()
    {
        PublishResult publish = PublishedBinary.Get();
        string root = MakeChrootWithOnlyTheBinary(publish);
        try
        {
            // No /lib, no ld.so, no libc.so.6, no /proc, no /dev: anything dynamic fails to start.
            ToolResult r = ToolProcess.Run("chroot", root, "/ggaoed", "--version");

            Assert.True(r.ExitCode == 0, "ggaoed --version in an empty chroot exited " + r.ExitCode + ":\n" + r.Output);
            Assert.StartsWith("ggaoed " + ProductVersion(), r.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // Opening the configuration goes through libc's open(); reporting a missing file proves libc is
    // linked in and works without any shared object.
    [RootFact]
    public void Binary_InAnEmptyChroot_ReportsAMissingConfigFileByName()
    {
        PublishResult publish = PublishedBinary.Get();
        string root = MakeChrootWithOnlyTheBinary(publish);
        try
        {
            ToolResult r = ToolProcess.Run("chroot", root, "/ggaoed", "--check-config", "-c", "/no/such/ggaoed.conf");

            Assert.Equal(2, r.ExitCode);
            Assert.Contains("/no/such/ggaoed.conf", r.StdErr, StringComparison.Ordinal);
            Assert.Contains("no such file", r.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Version_PrintsTheProductVersion_AndReportsSizeAndStartupTime()
    {
        PublishResult publish = PublishedBinary.Get();
        const int runs = 10;
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            ToolResult r = ToolProcess.Run(publish.BinaryPath, "--version");
            Assert.True(r.ExitCode == 0, "ggaoed --version exited " + r.ExitCode + ":\n" + r.Output);
            Assert.StartsWith("ggaoed " + ProductVersion(), r.StdOut, StringComparison.Ordinal);
            times[i] = r.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);

        // Reported, not asserted: the goals are <= 6 MiB and <= 50 ms to ready (issue 2). Until the
        // daemon reports readiness, exec-to-exit of --version stands in for the startup time.
        long size = new FileInfo(publish.BinaryPath).Length;
        string line = string.Format(
            CultureInfo.InvariantCulture,
            "BENCHMARK ggaoed binary {0:F2} MiB ({1} bytes); startup (exec to exit of --version) median {2:F1} ms, best {3:F1} ms of {4} runs; publish took {5:F0} s",
            size / (1024.0 * 1024.0), size, times[runs / 2], times[0], runs, publish.Elapsed.TotalSeconds);
        _output.WriteLine(line);
        Console.WriteLine(line);
    }

    private static string MakeChrootWithOnlyTheBinary(PublishResult publish)
    {
        string root = Path.Combine(Path.GetTempPath(), "gg-build-chroot-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        File.Copy(publish.BinaryPath, Path.Combine(root, "ggaoed"));
        return root;
    }

    /// <summary>The &lt;Version&gt; of Directory.Build.props, which --version must print.</summary>
    internal static string ProductVersion()
    {
        string props = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "Directory.Build.props"));
        Match m = Regex.Match(props, "<Version>([^<]+)</Version>");
        Assert.True(m.Success, "no <Version> in Directory.Build.props");
        return m.Groups[1].Value.Trim();
    }
}
