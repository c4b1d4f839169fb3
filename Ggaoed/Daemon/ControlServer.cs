using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

/// <summary>Executes one control request. Runs on the reactor thread, so it may touch any state.</summary>
internal interface IControlCommands
{
    /// <summary>Returns the reply text and whether the command succeeded.</summary>
    (bool Ok, string Reply) Execute(string[] words);
}

/// <summary>
/// The unix control socket for ggaoectl. Protocol: the client sends one line, the words of the command
/// separated by NUL bytes and terminated by '\n'; the daemon answers "OK\n" or "ERR\n" followed by the
/// reply text and closes the connection. Everything is non-blocking on the reactor: a slow or stuck
/// client can't stall the data path; a request longer than 64 KiB is refused.
/// </summary>
internal sealed unsafe class ControlServer : IEventHandler, IDisposable
{
    private const int MaxRequestBytes = 64 * 1024;

    private readonly Reactor _reactor;
    private readonly IControlCommands _commands;
    private readonly int _fd;
    private readonly int _token;
    private readonly List<Connection> _connections = new();

    public string Path { get; }

    public ControlServer(Reactor reactor, string path, IControlCommands commands)
    {
        _reactor = reactor;
        _commands = commands;
        Path = path;
        _fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (_fd < 0)
            SystemError.ThrowLast("control socket");
        byte[] pathBytes = Encoding.UTF8.GetBytes(path);
        if (pathBytes.Length >= 108)
            throw new SystemError($"control socket path {path} is longer than 107 bytes", (int)Errno.ENAMETOOLONG);
        sockaddr_un addr = default;
        addr.sun_family = Libc.AF_UNIX;
        pathBytes.CopyTo(new Span<byte>(addr.sun_path, 108));
        // A stale socket file from a crashed run would make bind fail; the pid-file lock already proved
        // that no other instance is alive.
        Libc.unlink(path);
        if (Libc.bind(_fd, &addr, (uint)(2 + pathBytes.Length + 1)) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Libc.close(_fd);
            throw new SystemError($"cannot bind control socket {path}", errno);
        }
        Libc.chmod(path, 0x180); // 0600: control is for root.
        if (Libc.listen(_fd, 16) != 0)
            SystemError.ThrowLast($"listen on {path}");
        _token = reactor.Add(_fd, Libc.EPOLLIN, this);
    }

    public void OnEvents(uint events)
    {
        while (true)
        {
            int client = Libc.accept4(_fd, null, null, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
            if (client < 0)
                return;
            var c = new Connection(this, client);
            c.Token = _reactor.Add(client, Libc.EPOLLIN, c);
            _connections.Add(c);
        }
    }

    private void Close(Connection c)
    {
        _reactor.Remove(c.Token);
        Libc.close(c.Fd);
        _connections.Remove(c);
    }

    public void Dispose()
    {
        foreach (Connection c in _connections.ToArray())
            Close(c);
        _reactor.Remove(_token);
        Libc.close(_fd);
        Libc.unlink(Path);
    }

    /// <summary>Splits a request line into words (NUL separated; a plain space-separated line also works).</summary>
    internal static string[] ParseRequest(ReadOnlySpan<byte> line)
    {
        string text = Encoding.UTF8.GetString(line);
        char separator = text.Contains('\0') ? '\0' : ' ';
        return text.Split(separator, StringSplitOptions.RemoveEmptyEntries);
    }

    private sealed class Connection : IEventHandler
    {
        private readonly ControlServer _server;
        private readonly List<byte> _request = new();
        private byte[]? _reply;
        private int _replySent;

        public Connection(ControlServer server, int fd)
        {
            _server = server;
            Fd = fd;
        }

        public int Fd { get; }
        public int Token { get; set; }

        public void OnEvents(uint events)
        {
            if (_reply != null)
            {
                SendReply();
                return;
            }
            byte* buf = stackalloc byte[4096];
            while (true)
            {
                nint n = Libc.recv(Fd, buf, 4096, Libc.MSG_DONTWAIT);
                if (n == 0)
                {
                    // The client closed without a full line: nothing to answer.
                    _server.Close(this);
                    return;
                }
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == (int)Errno.EAGAIN)
                        return;
                    _server.Close(this);
                    return;
                }
                var chunk = new ReadOnlySpan<byte>(buf, (int)n);
                int nl = chunk.IndexOf((byte)'\n');
                for (int i = 0; i < (nl < 0 ? chunk.Length : nl); i++)
                    _request.Add(chunk[i]);
                if (_request.Count > MaxRequestBytes)
                {
                    Answer(false, "request too long");
                    return;
                }
                if (nl >= 0)
                {
                    string[] words = ParseRequest(_request.ToArray());
                    (bool ok, string reply) = words.Length == 0 ? (false, "empty request") : Execute(words);
                    Answer(ok, reply);
                    return;
                }
            }
        }

        private (bool, string) Execute(string[] words)
        {
            try
            {
                return _server._commands.Execute(words);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A bug in one command must not take the storage down; the client sees it.
                Log.Error($"control command '{string.Join(' ', words)}' failed: {e}");
                return (false, "internal error: " + e.Message);
            }
        }

        private void Answer(bool ok, string reply)
        {
            _reply = Encoding.UTF8.GetBytes((ok ? "OK\n" : "ERR\n") + reply);
            _replySent = 0;
            _server._reactor.Modify(Token, Libc.EPOLLOUT);
            SendReply();
        }

        private void SendReply()
        {
            fixed (byte* p = _reply)
            {
                while (_replySent < _reply!.Length)
                {
                    nint n = Libc.send(Fd, p + _replySent, (nuint)(_reply.Length - _replySent), Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL);
                    if (n < 0)
                    {
                        if (Marshal.GetLastPInvokeError() == (int)Errno.EAGAIN)
                            return;
                        break;
                    }
                    _replySent += (int)n;
                }
            }
            _server.Close(this);
        }
    }
}
