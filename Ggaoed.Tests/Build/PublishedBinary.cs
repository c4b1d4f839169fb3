using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using Ggaoed.Tests.Support;

namespace Ggaoed.Tests.Build;

/// <summary>
/// The release binary exactly as users get it (NativeAOT, static, trimmed), published once per test
/// run into build/test-publish/ and shared by every test that needs it: publishing takes about a
/// minute, so no test may publish on its own. Tests of the daemon's real behaviour can use
/// <see cref="Get"/>().<see cref="PublishResult.BinaryPath"/> too.
/// </summary>
public static class PublishedBinary
{
    private static readonly Lazy<PublishResult> s_result = new(Publish, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Publishes on first use (blocking), then returns the same result; throws if publish failed.</summary>
    public static PublishResult Get()
    {
        PublishResult result = s_result.Value;
        if (result.ExitCode != 0)
            throw new InvalidOperationException("dotnet publish failed with exit status " + result.ExitCode + ":\n" + result.Output);
        return result;
    }

    /// <summary>The dotnet executable: $DOTNET as build.sh exports it, else the one on PATH.</summary>
    public static string Dotnet
    {
        get
        {
            string? fromEnv = Environment.GetEnvironmentVariable("DOTNET");
            if (!string.IsNullOrEmpty(fromEnv))
                return fromEnv;
            return FindOnPath("dotnet") ?? (File.Exists("/usr/share/dotnet/dotnet") ? "/usr/share/dotnet/dotnet" : "dotnet");
        }
    }

    private static string? FindOnPath(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    private static PublishResult Publish()
    {
        string repo = TestEnvironment.RepoRoot;
        string outDir = Path.Combine(repo, "build", "test-publish");
        if (Directory.Exists(outDir))
            Directory.Delete(outDir, recursive: true);
        Directory.CreateDirectory(outDir);

        // The test host runs inside `dotnet test`, whose MSBuild settings leak through the
        // environment; a nested build must start clean. No build servers or reused nodes either: they
        // would outlive the test run and hold its output pipes open.
        var env = new Dictionary<string, string?>
        {
            ["MSBUILDDISABLENODEREUSE"] = "1",
            ["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
        };
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            string key = (string)e.Key;
            if (key.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) && key != "MSBUILDDISABLENODEREUSE")
                env[key] = null;
        }

        ToolResult r = ToolProcess.Run(
            Dotnet,
            new[]
            {
                "publish", Path.Combine(repo, "Ggaoed", "Ggaoed.csproj"),
                "-c", "Release", "-o", outDir,
                "-nodeReuse:false", "-p:UseSharedCompilation=false",
            },
            workingDirectory: repo,
            environment: env,
            timeout: TimeSpan.FromMinutes(15));
        return new PublishResult(outDir, r.ExitCode, r.Output, r.Elapsed);
    }
}

/// <summary>The outcome of the one publish of a test run.</summary>
public sealed record PublishResult(string Directory, int ExitCode, string Output, TimeSpan Elapsed)
{
    public string BinaryPath => Path.Combine(Directory, "ggaoed");

    /// <summary>The symbols stripped from the binary; kept beside it, never installed.</summary>
    public string DebugSymbolsPath => Path.Combine(Directory, "ggaoed.dbg");
}
