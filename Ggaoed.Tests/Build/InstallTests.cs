using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.Versioning;
using Xunit;

namespace Ggaoed.Tests.Build;

/// <summary>
/// `./configure && make install DESTDIR=...` and `make uninstall`, run on a copy of the build files
/// in a temporary folder so the developer's config.mk and build/ stay untouched. make reuses the
/// test run's one published binary (PUBLISHDIR) instead of publishing again. Needs no root.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class InstallTests : IDisposable
{
    private readonly BuildTree _tree = new();
    private readonly string _work;
    private readonly string _src;
    private readonly string _dest;

    public InstallTests()
    {
        _work = _tree.Work;
        _src = _tree.Source;
        _dest = Path.Combine(_work, "dest");
        Directory.CreateDirectory(_dest);
    }

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void Install_WithPrefixUsr_PutsEveryDocumentedFileInPlace_AndNothingElse()
    {
        Configure("--prefix=/usr");
        Make("install");

        Assert.Equal(
            new[]
            {
                "etc/ggaoed.conf",
                "etc/ggaoed.conf.dist",
                "etc/init.d/ggaoed",
                "lib/systemd/system/ggaoed.service",
                "usr/sbin/ggaoectl",
                "usr/sbin/ggaoed",
                "usr/share/man/man5/ggaoed.conf.5",
                "usr/share/man/man8/ggaoectl.8",
                "usr/share/man/man8/ggaoed.8",
            },
            InstalledFiles());
        Assert.Equal(File.ReadAllBytes(PublishedBinary.Get().BinaryPath), File.ReadAllBytes(Dest("usr/sbin/ggaoed")));
        Assert.True(IsExecutable(Dest("usr/sbin/ggaoed")));
        Assert.Equal("ggaoed", new FileInfo(Dest("usr/sbin/ggaoectl")).LinkTarget);
        Assert.Equal(File.ReadAllText(Path.Combine(_src, "ggaoed.conf.dist")), File.ReadAllText(Dest("etc/ggaoed.conf")));
    }

    [Fact]
    public void Install_ServiceFiles_NameTheConfiguredPaths()
    {
        Configure("--prefix=/usr");
        Make("install");

        string unit = File.ReadAllText(Dest("lib/systemd/system/ggaoed.service"));
        Assert.Contains("\nType=notify\n", unit, StringComparison.Ordinal);
        Assert.Contains("\nExecStart=/usr/sbin/ggaoed -f -c /etc/ggaoed.conf\n", unit, StringComparison.Ordinal);
        Assert.Contains("\nExecReload=/usr/sbin/ggaoectl -c /etc/ggaoed.conf reload\n", unit, StringComparison.Ordinal);
        Assert.Contains("\nRestart=on-failure\n", unit, StringComparison.Ordinal);
        Assert.DoesNotMatch("@[a-z]+@", unit);

        string init = File.ReadAllText(Dest("etc/init.d/ggaoed"));
        Assert.Contains("DAEMON=/usr/sbin/ggaoed\n", init, StringComparison.Ordinal);
        Assert.Contains("CTL=/usr/sbin/ggaoectl\n", init, StringComparison.Ordinal);
        Assert.Contains("CONFIG=/etc/ggaoed.conf\n", init, StringComparison.Ordinal);
        Assert.Contains("PIDFILE=/var/run/ggaoed.pid\n", init, StringComparison.Ordinal);
        Assert.DoesNotMatch("@[a-z]+@", init);
        Assert.True(IsExecutable(Dest("etc/init.d/ggaoed")));
        ToolResult syntax = ToolProcess.Run("sh", "-n", Dest("etc/init.d/ggaoed"));
        Assert.True(syntax.ExitCode == 0, "init script syntax: " + syntax.Output);
    }

    [Fact]
    public void Install_WithDefaultPrefix_KeepsEverythingUnderUsrLocal()
    {
        Configure();
        Make("install");

        Assert.All(InstalledFiles(), f => Assert.StartsWith("usr/local/", f, StringComparison.Ordinal));
        Assert.Contains("usr/local/sbin/ggaoed", InstalledFiles());
        Assert.Contains("usr/local/etc/ggaoed.conf.dist", InstalledFiles());
        Assert.Contains("usr/local/etc/init.d/ggaoed", InstalledFiles());
        Assert.Contains("usr/local/share/man/man8/ggaoed.8", InstalledFiles());
        string unit = File.ReadAllText(Dest("usr/local/lib/systemd/system/ggaoed.service"));
        Assert.Contains("\nExecStart=/usr/local/sbin/ggaoed -f -c /usr/local/etc/ggaoed.conf\n", unit, StringComparison.Ordinal);
    }

    [Fact]
    public void Install_NeverOverwritesAnExistingConf_AndUninstallLeavesIt()
    {
        Directory.CreateDirectory(Dest("etc"));
        const string mine = "# the admin's own configuration\n[defaults]\ninterfaces = eth1\n";
        File.WriteAllText(Dest("etc/ggaoed.conf"), mine);
        Configure("--prefix=/usr");

        Make("install");
        Assert.Equal(mine, File.ReadAllText(Dest("etc/ggaoed.conf")));
        Assert.True(File.Exists(Dest("etc/ggaoed.conf.dist")));

        // A second install (an upgrade) keeps it too.
        Make("install");
        Assert.Equal(mine, File.ReadAllText(Dest("etc/ggaoed.conf")));

        Make("uninstall");
        Assert.Equal(new[] { "etc/ggaoed.conf" }, InstalledFiles());
        Assert.Equal(mine, File.ReadAllText(Dest("etc/ggaoed.conf")));
    }

    [Fact]
    public void Uninstall_RemovesEverythingInstallPutThere()
    {
        Configure("--prefix=/usr");
        Make("install");
        Assert.NotEmpty(InstalledFiles());

        Make("uninstall");

        Assert.Empty(InstalledFiles());
    }

    [Fact]
    public void Uninstall_KeepsAConfTheAdminEditedAfterInstall()
    {
        Configure("--prefix=/usr");
        Make("install");
        File.AppendAllText(Dest("etc/ggaoed.conf"), "\n# edited\n");

        Make("uninstall");

        Assert.Equal(new[] { "etc/ggaoed.conf" }, InstalledFiles());
    }

    [Fact]
    public void Configure_WithoutTheDotnetSdk_SaysItMustBeInstalled_AndWritesNoConfig()
    {
        ToolResult r = RunConfigure(new Dictionary<string, string?> { ["DOTNET"] = "/nonexistent/dotnet" });

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(".NET SDK", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("must be installed", r.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_src, "config.mk")));
    }

    [Fact]
    public void Configure_WithoutLldAndGcc_NamesTheDebianPackagesToInstall()
    {
        // A PATH holding every usual command except the two under test.
        string bin = Path.Combine(_work, "bin");
        Directory.CreateDirectory(bin);
        foreach (string dir in new[] { "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin" })
        {
            if (!Directory.Exists(dir))
                continue;
            foreach (string tool in Directory.EnumerateFileSystemEntries(dir))
            {
                string name = Path.GetFileName(tool);
                string link = Path.Combine(bin, name);
                if (name is "ld.lld" or "gcc" || File.Exists(link) || Directory.Exists(link))
                    continue;
                File.CreateSymbolicLink(link, tool);
            }
        }

        ToolResult r = RunConfigure(new Dictionary<string, string?> { ["PATH"] = bin });

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("apt-get install lld", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("apt-get install gcc", r.StdErr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_src, "config.mk")));
    }

    private void Configure(params string[] args) => _tree.Configure(args);

    private ToolResult RunConfigure(IReadOnlyDictionary<string, string?>? env, params string[] args) => _tree.RunConfigure(env, args);

    private void Make(string target) => _tree.Make(target, _dest);

    private string Dest(string relative) => Path.Combine(_dest, relative);

    private string[] InstalledFiles() => BuildTree.FilesUnder(_dest);

    private static bool IsExecutable(string path) => BuildTree.IsExecutable(path);
}
