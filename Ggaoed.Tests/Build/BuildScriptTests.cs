using System;
using System.IO;
using System.Text;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Build;

/// <summary>
/// The summary `./build.sh test` prints and the exit status CI relies on, computed from trx files
/// written here (the real ones come from dotnet test's trx logger).
/// </summary>
public sealed class BuildScriptTests : IDisposable
{
    private readonly string _results = Path.Combine(Path.GetTempPath(), "gg-build-trx-" + Guid.NewGuid().ToString("N"));

    public BuildScriptTests() => Directory.CreateDirectory(_results);

    public void Dispose() => Directory.Delete(_results, recursive: true);

    [Fact]
    public void Summary_CountsSkippedTests_AndSucceedsWhenNoneFailed()
    {
        WriteTrx("a.trx", total: 3, "Passed", "Passed", "NotExecuted");

        ToolResult r = Summarize();

        Assert.Equal(0, r.ExitCode);
        Assert.EndsWith("2 passed, 0 failed, 1 skipped\n", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_AddsUpEveryTrx_AndFailsWhenATestFailed()
    {
        WriteTrx("a.trx", total: 2, "Passed", "Failed");
        Directory.CreateDirectory(Path.Combine(_results, "more"));
        WriteTrx("more/b.trx", total: 2, "Passed", "NotExecuted");

        ToolResult r = Summarize();

        Assert.Equal(1, r.ExitCode);
        Assert.EndsWith("2 passed, 1 failed, 1 skipped\n", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_NamesEachFailedTest_WithTheFirstLinesOfItsMessage_AboveTheCounts()
    {
        // The console log names a failure hundreds of lines above the tail a CI page shows.
        string failed =
            "    <UnitTestResult executionId=\"1\" testName=\"Ns.C.M(mode: &quot;a&amp;b&quot;)\" outcome=\"Failed\">\n" +
            "      <Output>\n        <ErrorInfo>\n" +
            "          <Message>Assert.Equal() Failure: Values differ\nExpected: 1 &lt; 2\n" +
            "l3\nl4\nl5\nl6\nl7\nl8\nl9 is cut</Message>\n" +
            "          <StackTrace>   at Ns.C.M()</StackTrace>\n" +
            "        </ErrorInfo>\n      </Output>\n    </UnitTestResult>\n" +
            "    <UnitTestResult executionId=\"2\" testName=\"Ns.C.Other\" outcome=\"Failed\">\n" +
            "      <Output><ErrorInfo><Message>one line</Message></ErrorInfo></Output>\n    </UnitTestResult>\n";
        WriteTrxWithResults("a.trx", total: 4, extraResults: failed, "Passed", "NotExecuted");

        ToolResult r = Summarize();

        Assert.Equal(1, r.ExitCode);
        Assert.Equal(
            "FAILED Ns.C.M(mode: \"a&b\")\n" +
            "    Assert.Equal() Failure: Values differ\n    Expected: 1 < 2\n    l3\n    l4\n    l5\n    l6\n    l7\n    l8\n" +
            "FAILED Ns.C.Other\n    one line\n" +
            "1 passed, 2 failed, 1 skipped\n",
            r.StdOut);
    }

    [Fact]
    public void Summary_CountsTestsThatNeverReported_AsFailed()
    {
        // The test host crashed after two of five tests: the other three have no result at all.
        WriteTrx("a.trx", total: 5, "Passed", "Passed");

        ToolResult r = Summarize();

        Assert.Equal(1, r.ExitCode);
        Assert.EndsWith("2 passed, 3 failed, 0 skipped\n", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_FailsWhenThereAreNoResults()
    {
        ToolResult r = Summarize();

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("no test results", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_RepeatsTheBenchmarkLinesTestsPrinted()
    {
        WriteTrx("a.trx", total: 1, "Passed");
        File.AppendAllText(Path.Combine(_results, "a.trx"), "<StdOut>BENCHMARK demo 1.00 MiB</StdOut>\n");

        ToolResult r = Summarize();

        Assert.Equal("BENCHMARK demo 1.00 MiB\n1 passed, 0 failed, 0 skipped\n", r.StdOut);
    }

    private ToolResult Summarize() =>
        ToolProcess.Run("bash", Path.Combine(TestEnvironment.RepoRoot, "build.sh"), "summarize", _results);

    // The shape of the VSTest trx logger's output, reduced to what the summary reads.
    private void WriteTrx(string name, int total, params string[] outcomes) =>
        WriteTrxWithResults(name, total, extraResults: "", outcomes);

    // extraResults: whole <UnitTestResult> elements written before the generated ones, as the
    // logger writes a result with output: start tag on one line, children on the lines after.
    private void WriteTrxWithResults(string name, int total, string extraResults, params string[] outcomes)
    {
        var trx = new StringBuilder();
        trx.Append("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<TestRun>\n  <Results>\n");
        trx.Append(extraResults);
        for (int i = 0; i < outcomes.Length; i++)
            trx.Append("    <UnitTestResult executionId=\"").Append(i).Append("\" testName=\"T").Append(i).Append("\" outcome=\"").Append(outcomes[i]).Append("\" />\n");
        trx.Append("  </Results>\n  <ResultSummary outcome=\"Completed\">\n    <Counters total=\"").Append(total)
            .Append("\" executed=\"").Append(outcomes.Length).Append("\" passed=\"0\" failed=\"0\" />\n  </ResultSummary>\n</TestRun>\n");
        File.WriteAllText(Path.Combine(_results, name), trx.ToString());
    }
}
