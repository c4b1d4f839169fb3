using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// The syscalls a packet port makes, behind a seam (the same shape as <c>IAioKernel</c>). Implemented
/// by structs and passed as a generic parameter (<see cref="RingTransport{TKernel}"/>,
/// <see cref="SocketTransport{TKernel}"/>, <see cref="PacketPort.Open{TKernel}"/>), so the real build
/// calls libc directly and tests play the kernel: its answers to every call, and its side of the
/// mmap'd rings (the memory <see cref="Map"/> returns is where the kernel sets tp_status on RX frames
/// and takes TX frames). Every method returns a count, an fd or 0 on success and <b>-errno</b> on
/// failure (never -1 + errno).
/// </summary>
internal unsafe interface IPacketKernel
{
    /// <summary>socket(2): the fd, or -errno.</summary>
    int Socket(int domain, int type, int protocol);

    /// <summary>bind(2) to a link-layer address (ifindex and EtherType).</summary>
    int Bind(int fd, sockaddr_ll* address);

    int SetSockOpt(int fd, int level, int option, void* value, int length);

    /// <summary>getsockopt(2); <paramref name="length"/> is in/out, as in C.</summary>
    int GetSockOpt(int fd, int level, int option, void* value, int* length);

    /// <summary>The SIOCGIF* interface queries (index, hardware address, MTU, flags) on a socket.</summary>
    int Ioctl(int fd, uint request, ifreq* interfaceRequest);

    /// <summary>
    /// mmap(PROT_READ | PROT_WRITE, MAP_SHARED) of a packet socket's rings, offset 0: 0 and the address,
    /// or -errno. The memory is shared with the kernel until <see cref="Unmap"/>.
    /// </summary>
    int Map(int fd, nuint length, out byte* address);

    int Unmap(byte* address, nuint length);

    /// <summary>
    /// send(2): bytes sent or -errno. With a TX ring, a null buffer of length 0 asks the kernel to
    /// transmit the frames marked SEND_REQUEST, from its own ring head on.
    /// </summary>
    nint Send(int fd, void* buffer, nuint length, int flags);

    /// <summary>sendmmsg(2): how many datagrams went (each one's length in msg_len), or -errno for the first.</summary>
    int SendMany(int fd, mmsghdr* messages, int count, int flags);

    /// <summary>recvmmsg(2) without a timeout: how many datagrams came, or -errno (EAGAIN: none queued).</summary>
    int ReceiveMany(int fd, mmsghdr* messages, int count, int flags);

    int Close(int fd);

    /// <summary>CLOCK_MONOTONIC in nanoseconds (the clock the daemon's timerfd uses).</summary>
    long NowNanos();
}
