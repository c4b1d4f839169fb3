using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;

namespace Ggaoed.Tests.Build;

/// <summary>What a finished child process left behind.</summary>
public sealed record ToolResult(int ExitCode, string StdOut, string StdErr, TimeSpan Elapsed)
{
    /// <summary>Both streams, for assertion messages.</summary>
    public string Output => StdOut + StdErr;
}

/// <summary>Runs build tools (dotnet, make, file, chroot) with captured output and a deadline.</summary>
public static class ToolProcess
{
    public static ToolResult Run(
        string fileName,
        IEnumerable<string> arguments,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in arguments)
            psi.ArgumentList.Add(a);
        if (workingDirectory != null)
            psi.WorkingDirectory = workingDirectory;
        if (environment != null)
        {
            foreach (KeyValuePair<string, string?> kv in environment)
            {
                if (kv.Value == null)
                    psi.Environment.Remove(kv.Key);
                else
                    psi.Environment[kv.Key] = kv.Value;
            }
        }

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (stdout) stdout.Append(e.Data).Append('\n'); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.Append(e.Data).Append('\n'); };

        var clock = Stopwatch.StartNew();
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("cannot run " + fileName + ": " + e.Message + " (is it installed? ./build.sh test installs the tools)", e);
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        TimeSpan limit = timeout ?? TimeSpan.FromMinutes(2);
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException(fileName + " " + string.Join(' ', psi.ArgumentList) + " did not finish within " + limit + "\n" + stdout + stderr);
        }
        // The parameterless wait also drains the asynchronous readers.
        process.WaitForExit();
        clock.Stop();
        return new ToolResult(process.ExitCode, stdout.ToString(), stderr.ToString(), clock.Elapsed);
    }

    public static ToolResult Run(string fileName, params string[] arguments) => Run(fileName, (IEnumerable<string>)arguments);
}
