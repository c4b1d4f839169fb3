using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.Versioning;
using Ggaoed.Tests.Support;
using Xunit;

namespace Ggaoed.Tests.Build;

/// <summary>
/// A private copy of what configure and make install read, in a temporary folder, so tests never
/// touch the developer's config.mk or build/. make reuses the test run's one published binary
/// (PUBLISHDIR) instead of publishing again.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class BuildTree : IDisposable
{
    public BuildTree()
    {
        Work = Path.Combine(Path.GetTempPath(), "gg-build-" + Guid.NewGuid().ToString("N"));
        Source = Path.Combine(Work, "src");
        CopyBuildFiles(Source);
    }

    /// <summary>The temporary folder holding everything; deleted on dispose.</summary>
    public string Work { get; }

    /// <summary>The copy of the source tree where configure and make run.</summary>
    public string Source { get; }

    public void Dispose() => Directory.Delete(Work, recursive: true);

    public void Configure(params string[] args)
    {
        ToolResult r = RunConfigure(null, args);
        Assert.True(r.ExitCode == 0, "./configure " + string.Join(' ', args) + " failed:\n" + r.Output);
    }

    public ToolResult RunConfigure(IReadOnlyDictionary<string, string?>? env, params string[] args)
    {
        var all = new List<string> { "./configure" };
        all.AddRange(args);
        return ToolProcess.Run("sh", all, workingDirectory: Source, environment: env);
    }

    /// <summary>Runs a make target with the shared published binary; DESTDIR only when given.</summary>
    public void Make(string target, string? destDir = null)
    {
        var args = new List<string> { target, "PUBLISHDIR=" + PublishedBinary.Get().Directory };
        if (destDir != null)
            args.Add("DESTDIR=" + destDir);
        ToolResult r = ToolProcess.Run("make", args, workingDirectory: Source);
        Assert.True(r.ExitCode == 0, "make " + target + " failed:\n" + r.Output);
        // Reusing the published binary means make must never start a build of its own.
        Assert.DoesNotContain("dotnet", r.StdOut, StringComparison.Ordinal);
    }

    /// <summary>Every file and symlink under <paramref name="root"/> (directories do not count), sorted.</summary>
    public static string[] FilesUnder(string root)
    {
        var files = new List<string>();
        foreach (string path in Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories))
        {
            var info = new FileInfo(path);
            if (info.LinkTarget != null || !Directory.Exists(path))
                files.Add(Path.GetRelativePath(root, path));
        }
        files.Sort(StringComparer.Ordinal);
        return files.ToArray();
    }

    public static bool IsExecutable(string path) => (File.GetUnixFileMode(path) & UnixFileMode.UserExecute) != 0;

    /// <summary>
    /// Copies what configure and make install read. Man pages and ggaoed.conf.dist are written in
    /// other branches; until they land, placeholders stand in for them here (only in the copy).
    /// </summary>
    private static void CopyBuildFiles(string dst)
    {
        string repo = TestEnvironment.RepoRoot;
        Directory.CreateDirectory(dst);
        foreach (string f in new[] { "configure", "Makefile" })
            File.Copy(Path.Combine(repo, f), Path.Combine(dst, f));
        foreach (string dir in new[] { "packaging", "man" })
        {
            Directory.CreateDirectory(Path.Combine(dst, dir));
            if (!Directory.Exists(Path.Combine(repo, dir)))
                continue;
            foreach (string f in Directory.EnumerateFiles(Path.Combine(repo, dir)))
                File.Copy(f, Path.Combine(dst, dir, Path.GetFileName(f)));
        }
        foreach (string page in new[] { "man/ggaoed.8", "man/ggaoectl.8", "man/ggaoed.conf.5" })
        {
            if (!File.Exists(Path.Combine(dst, page)))
                File.WriteAllText(Path.Combine(dst, page), ".\\\" placeholder: " + page + " is not written yet\n");
        }
        string dist = Path.Combine(repo, "ggaoed.conf.dist");
        if (File.Exists(dist))
            File.Copy(dist, Path.Combine(dst, "ggaoed.conf.dist"));
        else
            File.WriteAllText(Path.Combine(dst, "ggaoed.conf.dist"), "# placeholder: ggaoed.conf.dist is not written yet\n[defaults]\n");
    }
}
