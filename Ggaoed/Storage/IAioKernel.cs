using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>
/// Linux AIO's syscalls behind a seam (see <see cref="IStorageKernel"/> for the conventions). The real
/// build passes <see cref="LinuxAioKernel"/> as <see cref="AioEngine{TKernel}"/>'s generic parameter;
/// tests pass a fake that decides when each iocb completes, in which order, with what result.
/// </summary>
public unsafe interface IAioKernel : IStorageKernel
{
    /// <summary>io_setup(nrEvents): 0 and the context, or -errno.</summary>
    int Setup(uint nrEvents, out ulong context);

    /// <summary>io_destroy: cancels or waits for everything in flight; buffers may be freed afterwards.</summary>
    int Destroy(ulong context);

    /// <summary>io_submit: number queued (maybe fewer than <paramref name="count"/>) or -errno for the first.</summary>
    int Submit(ulong context, int count, iocb** iocbs);

    /// <summary>io_getevents(min_nr 0, no wait): number of events written, or -errno.</summary>
    int GetEvents(ulong context, int max, io_event* events);
}
