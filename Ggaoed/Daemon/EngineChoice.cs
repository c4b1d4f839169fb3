using Ggaoed.Daemon.Config;
using Ggaoed.Native;
using Ggaoed.Storage;

namespace Ggaoed.Daemon;

/// <summary>Which storage engine a device gets (the io-engine key), and building it.</summary>
internal static class EngineChoice
{
    /// <summary>The engine's name as the io-engine key, the logs and ggaoectl stats spell it.</summary>
    public static string Name(EngineKind kind) => kind == EngineKind.IoUring ? "io_uring" : "aio";

    /// <summary>
    /// auto: io_uring where <paramref name="uring"/> says it works, else AIO (the daemon logs why once).
    /// io_uring: that, or the device does not open, with a message naming it and the cause.
    /// </summary>
    /// <exception cref="StorageException">io_uring was asked for and is not available.</exception>
    public static EngineKind Resolve(string device, IoEngineSetting setting, UringSupport uring) => setting switch
    {
        IoEngineSetting.Aio => EngineKind.Aio,
        IoEngineSetting.IoUring when !uring.Available => throw new StorageException(
            device + ": io-engine = io_uring, but io_uring is not available: " + uring.Reason +
            "; set io-engine = auto (which falls back to Linux AIO) or aio", (int)Errno.ENOSYS),
        _ => uring.Available ? EngineKind.IoUring : EngineKind.Aio,
    };

    /// <summary>
    /// The engine for a store once it is open: <paramref name="resolved"/> (<see cref="Resolve"/>), except
    /// that auto gives a file on a memory file system (tmpfs, ramfs, hugetlbfs) Linux AIO. Such a file
    /// system has no non-blocking path (RWF_NOWAIT: EOPNOTSUPP), so io_uring hands each of its ops to a
    /// kernel worker thread, writes of one file one at a time, while AIO does the same memory copies
    /// inside one io_submit per loop turn with no disk to wait for (tests/bench/compare.sh, tmpfs, MTU
    /// 9000, q16: AIO 1.2-1.25x io_uring's IOPS on random and sequential writes, reads alike).
    /// </summary>
    public static EngineKind ForStore(EngineKind resolved, IoEngineSetting setting, bool inMemory)
        => setting == IoEngineSetting.Auto && inMemory ? EngineKind.Aio : resolved;

    public static StorageEngine Create(EngineKind kind, BackingStore store, EngineOptions options) => kind == EngineKind.IoUring
        ? new UringEngine<LinuxUringKernel>(default, store.Fd, store.Sectors, store.LogicalBlockSize, options)
        : new AioEngine<LinuxAioKernel>(default, store.Fd, store.Sectors, store.LogicalBlockSize, options);
}
