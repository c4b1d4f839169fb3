using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>
/// Batched datagram I/O (sys/socket.h, _GNU_SOURCE): recvmmsg/sendmmsg move many frames per syscall.
/// The load generator uses them so that one syscall, not one per frame, carries a whole batch.
/// </summary>
[CHeader("sys/socket.h")]
public static unsafe partial class Libc
{
    /// <summary>
    /// recvmmsg: block (up to SO_RCVTIMEO) for the first datagram only, then take what is queued
    /// without waiting (the kernel adds MSG_DONTWAIT after the first one).
    /// </summary>
    public const int MSG_WAITFORONE = 0x10000;

    /// <summary>
    /// Receives up to <paramref name="vlen"/> datagrams; returns how many (each one's length in its
    /// <c>msg_len</c>), or -1 with errno. <paramref name="timeout"/> is only checked between datagrams
    /// (recvmmsg(2) BUGS): pass null and rely on SO_RCVTIMEO / MSG_WAITFORONE instead.
    /// </summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int recvmmsg(int fd, mmsghdr* msgvec, uint vlen, int flags, timespec* timeout);

    /// <summary>
    /// Sends up to <paramref name="vlen"/> datagrams; returns how many were sent (an error after the
    /// first one is not reported: the caller retries from the first unsent one), or -1 with errno.
    /// </summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int sendmmsg(int fd, mmsghdr* msgvec, uint vlen, int flags);
}

/// <summary>struct msghdr (sys/socket.h): one datagram's address, scatter/gather list and ancillary data.</summary>
[CHeader("sys/socket.h")]
public unsafe struct msghdr
{
    public void* msg_name;
    public uint msg_namelen;
    public iovec* msg_iov;
    public nuint msg_iovlen;
    public void* msg_control;
    public nuint msg_controllen;
    /// <summary>Out: MSG_TRUNC etc. for a received datagram.</summary>
    public int msg_flags;
}

/// <summary>struct mmsghdr (sys/socket.h, _GNU_SOURCE): a msghdr plus the bytes received or sent for it.</summary>
[CHeader("sys/socket.h")]
public struct mmsghdr
{
    public msghdr msg_hdr;
    public uint msg_len;
}
