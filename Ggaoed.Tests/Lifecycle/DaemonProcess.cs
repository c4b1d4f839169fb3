using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using System.Threading;
using Ggaoed.Native;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// A ggaoed started by a test, with stdout and stderr captured. Signals go to the process itself (the
/// daemon when started with -f, since `ip netns exec` execs without forking). Dispose kills it if it is
/// still running, so a failing test leaves no daemon behind.
/// </summary>
internal sealed class DaemonProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    public DaemonProcess(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null)
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
        // A NOTIFY_SOCKET of the test runner's own service manager must not leak into the daemon.
        psi.Environment.Remove("NOTIFY_SOCKET");
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
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_stdout) _stdout.Append(e.Data).Append('\n'); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.Append(e.Data).Append('\n'); };
        _process.Start();
        _process.StandardInput.Close();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        CommandLine = fileName + " " + string.Join(' ', psi.ArgumentList);
    }

    public string CommandLine { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public string StdOut
    {
        get { lock (_stdout) return _stdout.ToString(); }
    }

    public string StdErr
    {
        get { lock (_stderr) return _stderr.ToString(); }
    }

    public string Output => StdOut + StdErr;

    public void Signal(int signal)
    {
        if (!_process.HasExited && Libc.kill(_process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
    }

    /// <summary>Waits for the exit (and the end of its output); returns the exit status.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
            throw new TimeoutException($"`{CommandLine}` still running after {timeout}:\n{Output}");
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>Waits until <paramref name="text"/> shows up on stderr (the foreground log).</summary>
    public bool WaitForStdErr(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (StdErr.Contains(text, StringComparison.Ordinal))
                return true;
            Thread.Sleep(50);
        }
        return StdErr.Contains(text, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                Libc.kill(_process.Id, Libc.SIGKILL);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
