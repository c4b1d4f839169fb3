using System;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>Receives block device uevents. A struct, passed by ref, so calls are specialised and inlined.</summary>
internal interface IBlockEventHandler
{
    /// <summary>
    /// A kernel uevent of the block subsystem. The daemon matches <see cref="Uevent.TryGetDeviceNumber"/>
    /// against each block store's <see cref="BackingStore.DeviceNumber"/> and calls
    /// <see cref="BackingStore.RefreshSize"/> on a "change" (RESIZE=1 is what a capacity change sends).
    /// </summary>
    void OnBlockEvent(in Uevent uevent);

    /// <summary>The kernel dropped uevents (our socket buffer overflowed): any size may have changed unseen; re-check every store.</summary>
    void OnEventsLost();
}

/// <summary>
/// Block device events without a reload: a NETLINK_KOBJECT_UEVENT socket in the kernel's uevent group,
/// non-blocking and close-on-exec, for the reactor's epoll (EPOLLIN on <see cref="Fd"/>, then
/// <see cref="Receive"/>). The kernel sends "change" with RESIZE=1 when a disk's capacity changes
/// (losetup -c, lvextend, a resized virtual disk); partitions resized in place (BLKPG) send nothing,
/// so a periodic <see cref="BackingStore.RefreshSize"/> still has a place.
/// <para>Uevents reach every network namespace owned by the initial user namespace (checked on 6.18
/// with a namespace from <c>ip netns add</c>, where the daemon's tests run it); a daemon in a
/// container with its own user namespace hears none, and then only the periodic refresh notices a resize.</para>
/// Only messages from the kernel itself (sender port 0, the "ACTION@DEVPATH" format) are believed;
/// udev's re-broadcasts and anything another process sends are counted as foreign and skipped.
/// Receiving allocates nothing. Single-threaded.
/// </summary>
internal sealed unsafe class BlockEvents : IDisposable
{
    /// <summary>The kernel's uevent multicast group (lib/kobject_uevent.c broadcasts to group 1; udev's own is 2).</summary>
    public const uint KernelGroup = 1;

    /// <summary>
    /// A uevent carries at most UEVENT_BUFFER_SIZE (2048) bytes of KEY=VALUE pairs plus its
    /// "ACTION@DEVPATH" head (a sysfs path, under PATH_MAX): 8 KiB holds any; longer is counted malformed.
    /// </summary>
    private const int BufferSize = 8 * 1024;

    /// <summary>
    /// Hotplug of a disk shelf sends a burst of add/change events for every disk and partition, on
    /// every machine's socket alike; 1 MiB holds a few thousand (the default rmem is about 200 KiB).
    /// </summary>
    private const int ReceiveBufferBytes = 1 << 20;

    private readonly byte[] _buffer = GC.AllocateArray<byte>(BufferSize, pinned: true);
    private int _fd;

    private BlockEvents(int fd) => _fd = fd;

    public int Fd => _fd;

    /// <summary>Times the kernel reported lost events (ENOBUFS); each called <see cref="IBlockEventHandler.OnEventsLost"/>.</summary>
    public ulong Overruns { get; private set; }

    /// <summary>Kernel datagrams that were truncated or did not parse.</summary>
    public ulong Malformed { get; private set; }

    /// <summary>Datagrams not sent by the kernel (udev's re-broadcasts, other processes): skipped.</summary>
    public ulong Foreign { get; private set; }

    /// <summary>Opens the socket in the calling thread's network namespace.</summary>
    /// <exception cref="StorageException">The socket could not be created or bound.</exception>
    public static BlockEvents Open()
    {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, Netlink.NETLINK_KOBJECT_UEVENT);
        if (fd < 0)
            throw Fail("socket(NETLINK_KOBJECT_UEVENT)");
        var events = new BlockEvents(fd);
        try
        {
            // FORCE passes rmem_max when we may (CAP_NET_ADMIN); otherwise take what the limit allows.
            int bytes = ReceiveBufferBytes;
            if (Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, &bytes, sizeof(int)) != 0)
                Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &bytes, sizeof(int));
            var addr = new sockaddr_nl { nl_family = Libc.AF_NETLINK, nl_groups = KernelGroup };
            if (Libc.bind(fd, &addr, (uint)sizeof(sockaddr_nl)) != 0)
                throw Fail("bind(uevent group " + KernelGroup + ")");
            return events;
        }
        catch
        {
            events.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads every queued datagram and reports the block subsystem's events to <paramref name="handler"/>
    /// (and <see cref="IBlockEventHandler.OnEventsLost"/> once per overrun). Returns the number of block
    /// events. Call on EPOLLIN.
    /// </summary>
    public int Receive<THandler>(ref THandler handler) where THandler : struct, IBlockEventHandler
    {
        int events = 0;
        while (_fd >= 0)
        {
            sockaddr_nl from;
            uint fromLength = (uint)sizeof(sockaddr_nl);
            nint n;
            fixed (byte* p = _buffer)
                n = Libc.recvfrom(_fd, p, BufferSize, Libc.MSG_DONTWAIT | Libc.MSG_TRUNC, &from, &fromLength);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == (int)Errno.ENOBUFS)
                {
                    Overruns++;
                    handler.OnEventsLost();
                    continue;
                }
                break; // EAGAIN: drained (EINTR cannot happen with MSG_DONTWAIT)
            }
            if (from.nl_pid != 0)
            {
                Foreign++;
                continue;
            }
            if (n > BufferSize)
            {
                Malformed++;
                continue;
            }
            if (!UeventParser.TryParse(new ReadOnlySpan<byte>(_buffer, 0, (int)n), out Uevent uevent))
            {
                // The kernel group carries only kernel uevents; anything else from port 0 is a surprise.
                Malformed++;
                continue;
            }
            if (!uevent.IsBlock)
                continue;
            events++;
            handler.OnBlockEvent(uevent);
        }
        return events;
    }

    private static StorageException Fail(string what)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new StorageException("block device events: " + what + ": " + ErrnoText.Describe(errno), errno);
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
