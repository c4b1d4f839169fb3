using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>
/// io_uring's syscalls and ring memory behind a seam (see <see cref="IStorageKernel"/> for the
/// conventions). The real build passes <see cref="LinuxUringKernel"/> as
/// <see cref="UringEngine{TKernel}"/>'s generic parameter; a test's fake plays the kernel side of the
/// rings: it hands out ring memory of its own from <see cref="Map"/>, consumes SQEs on
/// <see cref="Enter"/>, and posts CQEs when and how the test says.
/// </summary>
public unsafe interface IUringKernel : IStorageKernel
{
    /// <summary>io_uring_setup: the ring's fd (and <paramref name="p"/> filled in), or -errno.</summary>
    int Setup(uint entries, io_uring_params* p);

    /// <summary>mmap(MAP_SHARED | MAP_POPULATE) of one ring region at <paramref name="offset"/> (IORING_OFF_*): 0 or -errno.</summary>
    int Map(int ringFd, nuint length, long offset, out void* address);

    int Unmap(void* address, nuint length);

    /// <summary>io_uring_enter without a signal mask: SQEs consumed (maybe fewer than asked), or -errno.</summary>
    int Enter(int ringFd, uint toSubmit, uint minComplete, uint flags);

    /// <summary>io_uring_register: ≥ 0, or -errno.</summary>
    int Register(int ringFd, uint opcode, void* arg, uint nrArgs);
}
