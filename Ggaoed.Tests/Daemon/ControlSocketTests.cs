using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.Versioning;
using System.Text;
using System.Threading;
using Ggaoed.Ctl;
using Ggaoed.Daemon;
using Ggaoed.Native;
using Xunit;

namespace Ggaoed.Tests.Daemon;

/// <summary>
/// The control socket's own rules, in process: who may run what (SO_PEERCRED uid), and what happens to
/// a socket file already at the path (a live daemon's is left alone, a dead one's is replaced). The
/// same with the real binary and a real non-root client is in Lifecycle/ControlSocketTests.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ControlSocketTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ggaoed-ctlsock-").FullName;

    private string SocketPath => Path.Combine(_dir, "ctl.sock");

    private sealed class Echo : IControlCommands
    {
        public IReadOnlyList<string> ReadOnlyCommands { get; } = ["stats", "show-config"];

        public (bool Ok, string Reply) Execute(string[] words) => (true, string.Join("|", words) + "\n");
    }

    [Theory]
    [InlineData("reload", 0u, 0u, true)]          // root may do anything
    [InlineData("clear-stats", 1000u, 1000u, true)] // so may the socket's owner
    [InlineData("reload", 0u, 1000u, true)]
    [InlineData("stats", 65534u, 0u, true)]       // anyone else may read
    [InlineData("show-config", 65534u, 0u, true)]
    [InlineData("reload", 65534u, 0u, false)]     // but not change anything
    [InlineData("clear-stats", 65534u, 1000u, false)]
    [InlineData("clear-reserve", 1000u, 0u, false)]
    [InlineData("frobnicate", 65534u, 0u, false)] // an unknown command is not read-only
    public void Access_RootAndTheOwnerMayChangeState_OthersMayOnlyRead(string command, uint peer, uint owner, bool allowed)
    {
        string? refusal = ControlAccess.Refusal(command, ["stats", "show-config"], peer, owner);
        Assert.Equal(allowed, refusal == null);
        if (refusal != null)
        {
            Assert.StartsWith("permission denied", refusal);
            Assert.Contains($"uid {peer}", refusal);
            Assert.Contains($"uid {owner}", refusal);
            Assert.Contains(command, refusal);
            Assert.Contains("stats, show-config", refusal);
        }
    }

    /// <summary>A reactor running on its own thread, as the daemon's does.</summary>
    private sealed class Running : IDisposable
    {
        private readonly Thread _loop;

        public Running(string path)
        {
            Reactor = new Reactor();
            Server = new ControlServer(Reactor, path, new Echo());
            _loop = new Thread(() => { while (!Reactor.StopRequested) Reactor.RunOnce(50); });
            _loop.Start();
        }

        public Reactor Reactor { get; }
        public ControlServer Server { get; }

        public void Dispose()
        {
            Reactor.RequestStop();
            _loop.Join();
            Server.Dispose();
            Reactor.Dispose();
        }
    }

    [Fact]
    public void SecondServer_OnASocketThatAnswers_IsRefused_AndTheFirstKeepsIt()
    {
        using var first = new Running(SocketPath);
        using var reactor = new Reactor();
        SystemError e = Assert.Throws<SystemError>(() => new ControlServer(reactor, SocketPath, new Echo()));
        Assert.Contains(SocketPath, e.Message);
        Assert.Contains("another ggaoed seems to be running", e.Message);
        // The first one still answers on the same path.
        Assert.True(ControlClient.TryCall(SocketPath, ["stats"], out bool ok, out string reply), reply);
        Assert.True(ok);
        Assert.Equal("stats\n", reply);
    }

    [Fact]
    public unsafe void StaleSocket_OfADeadDaemon_IsReplaced()
    {
        // A socket file nobody listens on any more: bound, then closed without unlink (what a killed daemon leaves).
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        sockaddr_un addr = default;
        addr.sun_family = Libc.AF_UNIX;
        byte[] path = Encoding.UTF8.GetBytes(SocketPath);
        path.CopyTo(new Span<byte>(addr.sun_path, 108));
        Assert.Equal(0, Libc.bind(fd, &addr, (uint)(2 + path.Length + 1)));
        Libc.close(fd);
        Assert.True(File.Exists(SocketPath));

        using var server = new Running(SocketPath);
        Assert.True(ControlClient.TryCall(SocketPath, ["stats"], out bool ok, out string reply), reply);
        Assert.True(ok);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
    }

    [Fact]
    public void AFileThatIsNoSocket_IsLeftAlone_AndTheStartRefused()
    {
        File.WriteAllText(SocketPath, "precious");
        using var reactor = new Reactor();
        SystemError e = Assert.Throws<SystemError>(() => new ControlServer(reactor, SocketPath, new Echo()));
        Assert.Contains("is not a socket", e.Message);
        Assert.Equal("precious", File.ReadAllText(SocketPath));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
