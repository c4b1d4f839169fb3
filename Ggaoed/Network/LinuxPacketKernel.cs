using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>The real syscalls, converting glibc's -1 + errno into -errno.</summary>
internal unsafe struct LinuxPacketKernel : IPacketKernel
{
    public int Socket(int domain, int type, int protocol) => Result(Libc.socket(domain, type, protocol));

    public int Bind(int fd, sockaddr_ll* address) => Result(Libc.bind(fd, address, (uint)sizeof(sockaddr_ll)));

    public int SetSockOpt(int fd, int level, int option, void* value, int length) =>
        Result(Libc.setsockopt(fd, level, option, value, (uint)length));

    public int GetSockOpt(int fd, int level, int option, void* value, int* length)
    {
        uint len = (uint)*length;
        int r = Libc.getsockopt(fd, level, option, value, &len);
        *length = (int)len;
        return Result(r);
    }

    public int Ioctl(int fd, uint request, ifreq* interfaceRequest) => Result(Libc.ioctl(fd, request, interfaceRequest));

    public int Map(int fd, nuint length, out byte* address)
    {
        void* map = Libc.mmap(null, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
        if (map == (void*)-1)
        {
            address = null;
            return -Marshal.GetLastPInvokeError();
        }
        address = (byte*)map;
        return 0;
    }

    public int Unmap(byte* address, nuint length) => Result(Libc.munmap(address, length));

    public nint Send(int fd, void* buffer, nuint length, int flags)
    {
        nint n = Libc.send(fd, buffer, length, flags);
        return n < 0 ? -Marshal.GetLastPInvokeError() : n;
    }

    public int SendMany(int fd, mmsghdr* messages, int count, int flags) =>
        Result(Libc.sendmmsg(fd, messages, (uint)count, flags));

    public int ReceiveMany(int fd, mmsghdr* messages, int count, int flags) =>
        Result(Libc.recvmmsg(fd, messages, (uint)count, flags, null));

    public int Close(int fd) => Result(Libc.close(fd));

    public long NowNanos()
    {
        timespec ts;
        Libc.clock_gettime(Libc.CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1_000_000_000L + ts.tv_nsec;
    }

    private static int Result(int r) => r < 0 ? -Marshal.GetLastPInvokeError() : r;
}
