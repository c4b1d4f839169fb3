using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Text;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// Plays systemd's side of sd_notify: a datagram socket bound at a path (a path, not an abstract name:
/// abstract unix sockets belong to a network namespace, and the daemon may run in another one).
/// </summary>
internal sealed class NotifyListener : IDisposable
{
    private readonly Socket _socket;
    private readonly List<string> _received = new();

    public NotifyListener(string path)
    {
        Path = path;
        File.Delete(path);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(path));
    }

    public string Path { get; }

    /// <summary>Every message so far, in order.</summary>
    public IReadOnlyList<string> Received => _received;

    /// <summary>Receives until a message containing the line <paramref name="line"/> arrives; returns it, or null on timeout.</summary>
    public string? WaitFor(string line, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var buffer = new byte[4096];
        while (clock.Elapsed < timeout)
        {
            _socket.ReceiveTimeout = Math.Max(1, (int)(timeout - clock.Elapsed).TotalMilliseconds);
            int n;
            try
            {
                n = _socket.Receive(buffer);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                return null;
            }
            string msg = Encoding.UTF8.GetString(buffer, 0, n);
            _received.Add(msg);
            if (Array.IndexOf(msg.Split('\n'), line) >= 0)
                return msg;
        }
        return null;
    }

    public string Transcript => string.Join(" | ", _received).Replace("\n", "\\n");

    public void Dispose()
    {
        _socket.Dispose();
        File.Delete(Path);
    }
}
