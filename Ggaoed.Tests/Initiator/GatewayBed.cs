using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;
using System.Threading;
using Xunit;
using Xunit.Abstractions;

namespace Ggaoed.Tests.Initiator;

/// <summary>
/// The shared part of the multipath and hostile-frame VM tests: a <see cref="VmNetwork"/>, a work
/// directory on the real disk (/var/tmp: a shared or direct-io export needs O_DIRECT, which tmpfs
/// refuses), the gateways, one boot of the guest, and the console and daemon logs when it fails.
/// </summary>
internal sealed class GatewayBed : IDisposable
{
    /// <summary>The VM's NICs: eth0, eth1. Fixed so that logs and ACLs can name them.</summary>
    public static readonly IReadOnlyList<string> GuestMacs = ["52:54:00:6a:0e:11", "52:54:00:6a:0e:12"];

    private readonly ITestOutputHelper _output;
    private readonly List<VmGateway> _gateways = new();

    public VmNetwork Network { get; }

    public string WorkDir { get; }

    public GatewayBed(ITestOutputHelper output, VmNetwork network)
    {
        _output = output;
        Network = network;
        WorkDir = Path.Combine("/var/tmp", "gg-vm-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(WorkDir);
    }

    /// <summary>A sparse file of <paramref name="bytes"/> in the work directory.</summary>
    public string SparseFile(string name, long bytes)
    {
        string path = Path.Combine(WorkDir, name);
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        f.SetLength(bytes);
        return path;
    }

    /// <summary>A gateway in <paramref name="netns"/> on <paramref name="interfaces"/>, started; stopped on Dispose.</summary>
    public VmGateway StartGateway(string name, string netns, IReadOnlyList<string> interfaces, IReadOnlyList<AoeExport> exports)
    {
        var gateway = new VmGateway(netns, interfaces, exports, Path.Combine(WorkDir, name));
        _gateways.Add(gateway);
        gateway.Start();
        return gateway;
    }

    /// <summary>Boots the guest script with one NIC per tap; logs the results, and the logs when it failed.</summary>
    public VmRunResult Boot(string guestScript, IReadOnlyDictionary<string, string> env, VmMarks marks, int timeoutSeconds)
    {
        VmRunResult run = VirtualMachine.Run(Network, guestScript, env, GuestMacs, timeoutSeconds, marks.OnConsoleLine, marks.Failed);
        marks.Finish();
        _output.WriteLine("VM run: " + guestScript + ", status " + run.ExitCode + ", " + run.Duration.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) + " s");
        foreach (KeyValuePair<string, string> kv in run.Results)
            _output.WriteLine("  " + kv.Key + " = " + kv.Value);
        _output.WriteLine(marks.Timeline());
        if (!run.Passed || marks.Error != null)
        {
            _output.WriteLine("--- console ---\n" + run.Console);
            for (int i = 0; i < _gateways.Count; i++)
                _output.WriteLine("--- gateway " + i + " ---\n" + _gateways[i].Log);
        }
        if (marks.Error != null)
            throw new InvalidOperationException("the host's side of the scenario failed", marks.Error);
        return run;
    }

    public void Dispose()
    {
        foreach (VmGateway g in _gateways)
            g.Dispose();
        Network.Dispose();
        try
        {
            Directory.Delete(WorkDir, recursive: true);
        }
        catch (IOException)
        {
            // A daemon killed a moment ago may still hold a file; /var/tmp is cleaned later.
        }
    }

    /// <summary>The MD5 of bytes [offset, offset + length) of a file, as md5sum prints it.</summary>
    public static string Md5(string path, long offset, long length)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20);
        f.Position = offset;
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        byte[] buffer = new byte[1 << 20];
        for (long left = length; left > 0;)
        {
            int n = f.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            Assert.True(n > 0, path + " ends before " + (offset + length));
            md5.AppendData(buffer, 0, n);
            left -= n;
        }
        return Convert.ToHexStringLower(md5.GetHashAndReset());
    }
}

/// <summary>
/// The host's half of a scenario: acts on the guest's <c>@@MARK name</c> lines, each with the handler
/// registered for it, in order on a worker thread of its own (so the console keeps flowing while a
/// handler waits), and keeps a timeline of the marks and of the events the handlers record. The first
/// handler that throws ends the host's side; <see cref="Finish"/> then reports it.
/// </summary>
internal sealed class VmMarks
{
    private readonly Dictionary<string, Action> _handlers = new(StringComparer.Ordinal);
    private readonly BlockingCollection<string> _queue = new();
    private readonly List<(string Event, TimeSpan At)> _timeline = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Thread _worker;
    private readonly CancellationTokenSource _failed = new();

    public VmMarks()
    {
        _worker = new Thread(Work) { IsBackground = true, Name = "vm marks" };
        _worker.Start();
    }

    /// <summary>The exception of the handler that failed, if one did.</summary>
    public Exception? Error { get; private set; }

    /// <summary>Cancelled when a handler fails: the guest waits for a host step that will never come.</summary>
    public CancellationToken Failed => _failed.Token;

    /// <summary>Runs <paramref name="handler"/> when the guest prints <c>@@MARK <paramref name="mark"/></c>.</summary>
    public void On(string mark, Action handler) => _handlers[mark] = handler;

    /// <summary>The console callback for <see cref="VirtualMachine.Run(VmNetwork, string, IReadOnlyDictionary{string, string}, IReadOnlyList{string}, int, Action{string})"/>.</summary>
    public void OnConsoleLine(string line)
    {
        int at = line.IndexOf("@@MARK ", StringComparison.Ordinal);
        if (at < 0)
            return;
        string mark = line.Substring(at + "@@MARK ".Length).Trim();
        Record("mark " + mark);
        _queue.Add(mark);
    }

    /// <summary>Notes a host event (a link taken down, a gateway killed) in the timeline, now.</summary>
    public TimeSpan Record(string what)
    {
        TimeSpan now = _clock.Elapsed;
        lock (_timeline)
            _timeline.Add((what, now));
        return now;
    }

    /// <summary>When <paramref name="what"/> was recorded (a mark: "mark NAME"), or null.</summary>
    public TimeSpan? When(string what)
    {
        lock (_timeline)
        {
            foreach ((string e, TimeSpan at) in _timeline)
                if (e == what)
                    return at;
        }
        return null;
    }

    /// <summary>The time between two recorded events; fails the test when either is missing.</summary>
    public TimeSpan Between(string first, string second)
    {
        TimeSpan? a = When(first), b = When(second);
        Assert.True(a != null && b != null, $"the timeline lacks '{first}' or '{second}':\n" + Timeline());
        return b!.Value - a!.Value;
    }

    public string Timeline()
    {
        var sb = new System.Text.StringBuilder("timeline (s since boot started):\n");
        lock (_timeline)
        {
            foreach ((string e, TimeSpan at) in _timeline)
                sb.Append("  ").Append(at.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture).PadLeft(7)).Append("  ").Append(e).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Waits for the handlers of every mark seen to finish.</summary>
    public void Finish()
    {
        _queue.CompleteAdding();
        _worker.Join();
    }

    private void Work()
    {
        foreach (string mark in _queue.GetConsumingEnumerable())
        {
            if (Error != null || !_handlers.TryGetValue(mark, out Action? handler))
                continue;
            try
            {
                handler();
                Record("done " + mark);
            }
            catch (Exception e)
            {
                Record("FAILED " + mark + ": " + e.Message);
                Error = e;
                _failed.Cancel();
            }
        }
    }
}
