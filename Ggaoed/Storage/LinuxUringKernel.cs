using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>The real io_uring syscalls and mmap, converting glibc's -1 + errno into -errno.</summary>
public unsafe struct LinuxUringKernel : IUringKernel
{
    public int Setup(uint entries, io_uring_params* p)
    {
        int fd = IoUring.io_uring_setup(entries, p);
        return fd < 0 ? -Marshal.GetLastPInvokeError() : fd;
    }

    public int Map(int ringFd, nuint length, long offset, out void* address)
    {
        // MAP_POPULATE: fault the ring pages in now, not on the first completion.
        void* p = Libc.mmap(null, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_POPULATE, ringFd, offset);
        if (p == (void*)-1)
        {
            address = null;
            return -Marshal.GetLastPInvokeError();
        }
        address = p;
        return 0;
    }

    public int Unmap(void* address, nuint length) => Libc.munmap(address, length) < 0 ? -Marshal.GetLastPInvokeError() : 0;

    public int Enter(int ringFd, uint toSubmit, uint minComplete, uint flags)
    {
        int r = IoUring.io_uring_enter(ringFd, toSubmit, minComplete, flags);
        return r < 0 ? -Marshal.GetLastPInvokeError() : r;
    }

    public int Register(int ringFd, uint opcode, void* arg, uint nrArgs)
    {
        int r = IoUring.io_uring_register(ringFd, opcode, arg, nrArgs);
        return r < 0 ? -Marshal.GetLastPInvokeError() : r;
    }

    public int CreateEventFd() => LinuxStorageCalls.CreateEventFd();

    public int ReadEventFd(int fd) => LinuxStorageCalls.ReadEventFd(fd);

    public int SignalEventFd(int fd) => LinuxStorageCalls.SignalEventFd(fd);

    public int Close(int fd) => LinuxStorageCalls.Close(fd);

    public int Read(int fd, byte* buffer, int length, long offset) => LinuxStorageCalls.Read(fd, buffer, length, offset);

    public int ReadNoWait(int fd, byte* buffer, int length, long offset) => LinuxStorageCalls.ReadNoWait(fd, buffer, length, offset);

    public int FdataSync(int fd) => LinuxStorageCalls.FdataSync(fd);

    public long NowNanos() => LinuxStorageCalls.NowNanos();
}
