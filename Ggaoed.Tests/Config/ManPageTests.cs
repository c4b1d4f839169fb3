using System;
using System.Diagnostics;
using System.IO;
using System.Text.RegularExpressions;
using Ggaoed.Daemon.Config;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Config;

public class ManPageTests
{
    private static string ManPath(string page) => Path.Combine(TestEnvironment.RepoRoot, "man", page);

    [Theory]
    [InlineData("ggaoed.8")]
    [InlineData("ggaoectl.8")]
    [InlineData("ggaoed.conf.5")]
    public void ManPage_IsLintClean(string page)
    {
        var psi = new ProcessStartInfo("mandoc") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "-T", "lint", "-W", "warning", ManPath(page) })
            psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Fail("mandoc is not installed; it is needed to lint the man pages (Debian: apt-get install mandoc)");
            return;
        }
        using (p)
        {
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.Equal("", output);
            Assert.Equal(0, p.ExitCode);
        }
    }

    [Fact]
    public void ConfManPage_DescribesEveryKeyTheParserKnows()
    {
        // In the source a key is written with escaped hyphens, e.g. "queue\-length", at the start of a .B/.BR line.
        string text = File.ReadAllText(ManPath("ggaoed.conf.5"));
        foreach (string[] keys in new[] { ConfigKeys.Defaults, ConfigKeys.Interface, ConfigKeys.Device, ConfigKeys.Obsolete })
            foreach (string key in keys)
                Assert.True(Regex.IsMatch(text, @"(?m)^\.BR? " + Regex.Escape(key.Replace("-", @"\-")) + @"(\s|$)"),
                    key + " has no entry in ggaoed.conf(5)");
    }

    [Fact]
    public void ConfManPage_GivesBroadcastItsGgaoedOnePointOneMeaning_AndSaysWhatBroadcastRequestsMayDo()
    {
        string text = File.ReadAllText(ManPath("ggaoed.conf.5"));
        Match entry = Regex.Match(text, @"(?ms)^\.BR broadcast .*?(?=^\.TP)");
        Assert.True(entry.Success, "no broadcast entry");
        Assert.Contains("Announce the device by broadcast even when it has an", entry.Value);
        Assert.DoesNotContain("Also serve ATA requests", entry.Value);
        Assert.Matches(@"(?m)^\.SH BROADCAST REQUESTS$", text);
        Assert.Matches(@"ATA commands \(reads, writes, IDENTIFY\) sent to a broadcast address are never\s+served", text);
        Assert.Matches(@"(?m)^\.SH WARNINGS AND ERRORS$", text);
    }

    [Fact]
    public void DaemonManPage_ListsTheOptions()
    {
        string text = File.ReadAllText(ManPath("ggaoed.8"));
        foreach (string option in new[] { @"\-c", @"\-f", @"\-d", @"\-t", @"\-\-check\-config", @"\-T", @"\-\-strict", @"\-\-version", @"\-h", @"\-\-help", "SIGHUP", "SIGTERM", "SIGINT" })
            Assert.Contains(option, text, StringComparison.Ordinal);
    }

    [Fact]
    public void CtlManPage_ListsTheCommands()
    {
        string text = File.ReadAllText(ManPath("ggaoectl.8"));
        foreach (string command in new[] { "stats", "monitor", "reload", @"show\-config", @"show\-macmask", @"show\-reserve", @"clear\-stats",
                     @"clear\-config", @"clear\-macmask", @"clear\-reserve", "metrics", "discover", "bench", @"\-\-json", @"\-s" })
            Assert.Matches(@"(?m)^\.B[IR]? " + Regex.Escape(command) + @"(\s|$)", text);
    }
}
