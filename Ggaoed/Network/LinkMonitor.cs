using System;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// Watches interfaces appear, change (MTU, up/running/carrier) and disappear: a NETLINK_ROUTE socket in
/// the RTMGRP_LINK group, non-blocking, for the reactor's epoll (EPOLLIN on <see cref="Fd"/>). At start
/// it asks for a dump of every link (RTM_GETLINK), so the first events describe the interfaces that
/// already exist and <see cref="ILinkEventHandler.OnDumpDone"/> marks the end of that list.
/// <para>If the kernel had to drop notifications (ENOBUFS: our socket buffer overflowed, e.g. when
/// thousands of interfaces changed at once) the monitor counts an overrun and asks for a fresh dump; the
/// handler should treat interfaces not reported again before the next OnDumpDone as gone.</para>
/// Opens in the calling thread's network namespace. Single-threaded.
/// </summary>
internal sealed unsafe class LinkMonitor : IDisposable
{
    /// <summary>
    /// A dump datagram is at most about a page per message batch; 64 KiB is netlink's own suggested
    /// upper bound (NLMSG_GOODSIZE is page-sized, but a large IFLA_* set can exceed it).
    /// </summary>
    private const int BufferSize = 64 * 1024;

    private readonly byte[] _buffer = GC.AllocateArray<byte>(BufferSize, pinned: true);
    private int _fd;
    private uint _seq;
    private bool _dumpRunning;
    private bool _dumpAgain;

    private LinkMonitor(int fd) => _fd = fd;

    public int Fd => _fd;

    /// <summary>Times the kernel reported lost notifications (each triggers a resync dump).</summary>
    public ulong Overruns { get; private set; }

    /// <summary>Datagrams that were malformed or larger than the buffer (their rest is skipped).</summary>
    public ulong Malformed { get; private set; }

    /// <summary>A requested dump has not finished yet.</summary>
    public bool DumpPending => _dumpRunning || _dumpAgain;

    /// <exception cref="NetworkException">The socket could not be created or bound.</exception>
    public static LinkMonitor Open()
    {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, Netlink.NETLINK_ROUTE);
        if (fd < 0)
            NetworkException.ThrowLast("netlink", "socket(NETLINK_ROUTE)");
        var monitor = new LinkMonitor(fd);
        try
        {
            var addr = new sockaddr_nl { nl_family = Libc.AF_NETLINK, nl_groups = Netlink.RTMGRP_LINK };
            if (Libc.bind(fd, &addr, (uint)sizeof(sockaddr_nl)) != 0)
                NetworkException.ThrowLast("netlink", "bind(RTMGRP_LINK)");
            monitor.RequestDump();
            return monitor;
        }
        catch
        {
            monitor.Dispose();
            throw;
        }
    }

    /// <summary>Asks for a list of every link (again). If a dump is running, a new one follows it.</summary>
    public void RequestDump()
    {
        if (_dumpRunning)
        {
            // The kernel allows one dump per socket at a time (EBUSY otherwise).
            _dumpAgain = true;
            return;
        }
        SendDumpRequest();
    }

    private void SendDumpRequest()
    {
        // nlmsghdr + ifinfomsg (family AF_UNSPEC: all links), host byte order.
        byte* request = stackalloc byte[32];
        new Span<byte>(request, 32).Clear();
        *(uint*)request = 32;
        *(ushort*)(request + 4) = Netlink.RTM_GETLINK;
        *(ushort*)(request + 6) = Netlink.NLM_F_REQUEST | Netlink.NLM_F_DUMP;
        *(uint*)(request + 8) = ++_seq;
        var kernel = new sockaddr_nl { nl_family = Libc.AF_NETLINK };
        if (Libc.sendto(_fd, request, 32, 0, &kernel, (uint)sizeof(sockaddr_nl)) != 32)
        {
            // ENOBUFS/EAGAIN on a netlink request is transient: try again after the next datagram.
            _dumpAgain = true;
            return;
        }
        _dumpRunning = true;
        _dumpAgain = false;
    }

    /// <summary>
    /// Reads every queued datagram and reports its link events to <paramref name="handler"/>. Returns
    /// the number of link events. Call on EPOLLIN.
    /// </summary>
    public int Receive<THandler>(ref THandler handler) where THandler : struct, ILinkEventHandler
    {
        int links = 0;
        while (true)
        {
            nint n;
            fixed (byte* p = _buffer)
                n = Libc.recv(_fd, p, BufferSize, Libc.MSG_DONTWAIT | Libc.MSG_TRUNC);
            if (n < 0)
            {
                int err = Marshal.GetLastPInvokeError();
                if (err == (int)Errno.ENOBUFS)
                {
                    // Notifications were lost; whatever dump was running is now incomplete too.
                    Overruns++;
                    _dumpRunning = false;
                    SendDumpRequest();
                    continue;
                }
                break; // EAGAIN: drained (EINTR cannot happen with MSG_DONTWAIT)
            }
            if (n > BufferSize)
            {
                Malformed++;
                n = BufferSize;
            }
            LinkParseResult r = LinkMessageParser.Parse(new ReadOnlySpan<byte>(_buffer, 0, (int)n), ref handler);
            links += r.Links;
            if (r.Malformed)
                Malformed++;
            if (r.DumpDone || r.Error != 0)
            {
                // A dump ends with NLMSG_DONE, or NLMSG_ERROR if the kernel refused it.
                _dumpRunning = false;
                if (r.Error == (int)Errno.EBUSY)
                    _dumpAgain = true;
            }
            if (!_dumpRunning && _dumpAgain)
                SendDumpRequest();
        }
        if (!_dumpRunning && _dumpAgain)
            SendDumpRequest();
        return links;
    }

    public void Dispose()
    {
        if (_fd >= 0)
        {
            Libc.close(_fd);
            _fd = -1;
        }
    }
}
