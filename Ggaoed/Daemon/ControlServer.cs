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

    /// <summary>
    /// Starts a command whose answer comes on a later loop turn (a reload, whose file is read and whose
    /// UUIDs are scanned off the reactor thread); it calls <paramref name="answer"/> once, on the reactor
    /// thread. False when the command is not such a one: then <see cref="Execute"/> runs.
    /// </summary>
    bool TryStart(string[] words, Action<bool, string> answer) => false;

    /// <summary>The commands that change nothing, which any client that can connect may run.</summary>
    IReadOnlyList<string> ReadOnlyCommands { get; }
}

/// <summary>
/// Who may run what over the control socket, decided from the client's SO_PEERCRED uid: root and the
/// socket's owner may run everything; anyone else who can connect (the socket is created 0600, so only
/// after an admin widened its mode or group) may only read.
/// </summary>
internal static class ControlAccess
{
    /// <summary>Null when <paramref name="peerUid"/> may run <paramref name="command"/>, else the refusal to send back.</summary>
    public static string? Refusal(string command, IReadOnlyList<string> readOnlyCommands, uint peerUid, uint ownerUid)
    {
        if (peerUid == 0 || peerUid == ownerUid)
            return null;
        foreach (string c in readOnlyCommands)
            if (c == command)
                return null;
        return $"permission denied: only root or the control socket's owner (uid {ownerUid}) may run '{command}'; " +
               $"uid {peerUid} may run the read-only commands ({string.Join(", ", readOnlyCommands)})\n";
    }
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
        uint addrLength = (uint)(2 + pathBytes.Length + 1);
        try
        {
            RemoveStaleSocket(path, &addr, addrLength);
        }
        catch
        {
            Libc.close(_fd);
            throw;
        }
        if (Libc.bind(_fd, &addr, addrLength) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Libc.close(_fd);
            throw new SystemError($"cannot bind control socket {path}", errno);
        }
        // 0600: control is for its owner (and root). A socket left as bind made it (0777 minus the
        // umask) would let any local user connect, so a failed chmod stops the start.
        if (Libc.chmod(path, SocketMode) != 0)
            FailAfterBind($"cannot make control socket {path} private to its owner (chmod 0600)");
        if (Libc.listen(_fd, 16) != 0)
            FailAfterBind($"cannot listen on control socket {path}");
        _token = reactor.Add(_fd, Libc.EPOLLIN, this);
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void FailAfterBind(string what)
    {
        int errno = Marshal.GetLastPInvokeError();
        Libc.close(_fd);
        Libc.unlink(Path);
        throw new SystemError(what, errno);
    }

    /// <summary>rw------- for the owner.</summary>
    private const uint SocketMode = 0x180;

    /// <summary>
    /// A socket file left by a daemon that died would make bind fail, so it is removed; but only when
    /// nothing answers on it (ECONNREFUSED). A daemon that answers is alive (another instance with its
    /// own pid file, whose lock can't protect this path): removing its socket would cut it off from
    /// ggaoectl for good, so starting is refused instead.
    /// </summary>
    private static void RemoveStaleSocket(string path, sockaddr_un* addr, uint addrLength)
    {
        stat st;
        if (Libc.stat_path(path, &st) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == (int)Errno.ENOENT)
                return;
            throw new SystemError($"cannot check control socket {path}", errno);
        }
        if ((st.st_mode & Libc.S_IFMT) != Libc.S_IFSOCK)
            throw new SystemError($"control socket {path} exists and is not a socket; remove it or set another control-socket");
        // Non-blocking, so a live daemon whose backlog is full can't hold up the start (EAGAIN = alive).
        int probe = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (probe < 0)
            SystemError.ThrowLast("control socket probe");
        int rc = Libc.connect(probe, addr, addrLength);
        int connectErrno = rc == 0 ? 0 : Marshal.GetLastPInvokeError();
        Libc.close(probe);
        if (connectErrno == (int)Errno.ECONNREFUSED)
        {
            if (Libc.unlink(path) != 0 && Marshal.GetLastPInvokeError() != (int)Errno.ENOENT)
                SystemError.ThrowLast($"cannot remove stale control socket {path}");
            return;
        }
        if (rc == 0 || connectErrno == (int)Errno.EAGAIN)
            throw new SystemError($"control socket {path} answers: another ggaoed seems to be running; stop it, or give this one its own control-socket and pid-file");
        throw new SystemError($"cannot check control socket {path}", connectErrno);
    }

    /// <summary>The uid that may change state besides root: the socket file's owner (an admin may chown
    /// it), or ours when it can't be read.</summary>
    private uint OwnerUid()
    {
        stat st;
        return Libc.stat_path(Path, &st) == 0 ? st.st_uid : Libc.geteuid();
    }

    public void OnEvents(uint events)
    {
        while (true)
        {
            int client = Libc.accept4(_fd, null, null, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
            if (client < 0)
                return;
            ucred peer = default;
            uint length = (uint)sizeof(ucred);
            // Without credentials (never expected on AF_UNIX) the client is treated as nobody: read-only.
            uint peerUid = Libc.getsockopt(client, Libc.SOL_SOCKET, Libc.SO_PEERCRED, &peer, &length) == 0 ? peer.uid : uint.MaxValue;
            var c = new Connection(this, client, peerUid);
            c.Token = _reactor.Add(client, Libc.EPOLLIN, c);
            _connections.Add(c);
        }
    }

    private void Close(Connection c)
    {
        if (c.Closed)
            return;
        c.Closed = true;
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

        public Connection(ControlServer server, int fd, uint peerUid)
        {
            _server = server;
            Fd = fd;
            PeerUid = peerUid;
        }

        public int Fd { get; }
        public uint PeerUid { get; }
        public int Token { get; set; }

        public void OnEvents(uint events)
        {
            if (_reply != null)
            {
                SendReply();
                return;
            }
            if (_pending)
            {
                // Only a hang-up wakes a connection whose answer is still being worked on.
                if ((events & (Libc.EPOLLHUP | Libc.EPOLLERR)) != 0)
                    _server.Close(this);
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
                    if (words.Length == 0)
                        Answer(false, "empty request");
                    else
                        Execute(words);
                    return;
                }
            }
        }

        private void Execute(string[] words)
        {
            IControlCommands commands = _server._commands;
            if (ControlAccess.Refusal(words[0], commands.ReadOnlyCommands, PeerUid, _server.OwnerUid()) is string refusal)
            {
                Answer(false, refusal);
                return;
            }
            try
            {
                _pending = true;
                if (commands.TryStart(words, Answer))
                {
                    // Answered later; until then nothing more is read (the client is waiting) and
                    // a client that hangs up is noticed by EPOLLHUP.
                    _server._reactor.Modify(Token, 0);
                    return;
                }
                (bool ok, string reply) = commands.Execute(words);
                Answer(ok, reply);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A bug in one command must not take the storage down; the client sees it.
                Log.Error($"control command '{string.Join(' ', words)}' failed: {e}");
                Answer(false, "internal error: " + e.Message);
            }
        }

        /// <summary>Set once a complete request was read: what arrives after it is not a request.</summary>
        private bool _pending;

        /// <summary>Set by <see cref="ControlServer.Close"/>: a late answer finds nobody to send to.</summary>
        public bool Closed { get; set; }

        private void Answer(bool ok, string reply)
        {
            if (Closed || _reply != null)
                return;
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
