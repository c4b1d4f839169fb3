using System;
using System.Collections.Generic;
using System.IO;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// Temp files for real-kernel tests. /var/tmp, not /tmp: /tmp is tmpfs on many hosts and O_DIRECT
/// there depends on the kernel (tmpfs gained it in 6.6); /var/tmp is normally on a disk file system.
/// </summary>
internal sealed class TempStore : IDisposable
{
    public TempStore(long bytes)
    {
        string root = System.IO.Directory.Exists("/var/tmp") ? "/var/tmp" : Path.GetTempPath();
        Directory = Path.Combine(root, "ggaoed-storage-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        FilePath = Path.Combine(Directory, "disk.img");
        using var f = new FileStream(FilePath, FileMode.CreateNew);
        f.SetLength(bytes);
    }

    public string Directory { get; }

    public string FilePath { get; }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The real engines, by the names the config key and the parameterized tests use.</summary>
internal static class RealEngines
{
    public const string Aio = "aio";
    public const string Uring = "io_uring";

    public static StorageEngine Create(string engine, BackingStore store, EngineOptions options) => engine switch
    {
        Aio => new AioEngine<LinuxAioKernel>(default, store.Fd, store.Sectors, store.LogicalBlockSize, options),
        Uring => new UringEngine<LinuxUringKernel>(default, store.Fd, store.Sectors, store.LogicalBlockSize, options),
        _ => throw new ArgumentException(engine),
    };
}

/// <summary>
/// One row of a theory per storage engine (the name first, then <c>more</c>); the io_uring row is
/// skipped, with the probe's reason, where this process cannot use io_uring.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class EngineDataAttribute : Xunit.Sdk.DataAttribute
{
    private readonly object[] _row;

    public EngineDataAttribute(string engine, params object[] more)
    {
        _row = new object[more.Length + 1];
        _row[0] = engine;
        more.CopyTo(_row, 1);
        if (engine == RealEngines.Uring && !UringSupport.Current.Available)
            Skip = "io_uring is not available here: " + UringSupport.Current.Reason;
    }

    public override IEnumerable<object[]> GetData(System.Reflection.MethodInfo testMethod) => new[] { _row };
}

/// <summary>Drives a real engine like the reactor would: submit, wait on the eventfd, reap.</summary>
internal sealed class RealDriver : IDisposable
{
    public readonly StorageEngine Engine;
    private readonly EventFdWaiter _waiter;
    public readonly List<(int Slot, int Result)> Done = new();

    public RealDriver(BackingStore store, string engine = RealEngines.Aio, int queueLength = 32, int slotBytes = 17 * 512, MergeLimits limits = default,
        bool edgeTriggered = false, bool writeThrough = false)
    {
        Engine = RealEngines.Create(engine, store,
            new EngineOptions { QueueLength = queueLength, SlotBytes = slotBytes, Limits = limits, EdgeTriggeredEventFd = edgeTriggered, WriteThrough = writeThrough });
        _waiter = new EventFdWaiter(Engine.EventFd, edgeTriggered);
    }

    public int Queue(IoKind kind, ulong lba, int sectors, ReadOnlySpan<byte> data = default)
    {
        Assert.True(Engine.TryAcquireSlot(out int slot));
        data.CopyTo(Engine.SlotBuffer(slot));
        Engine.Enqueue(slot, kind, lba, sectors);
        return slot;
    }

    /// <summary>
    /// Submits and reaps until nothing is queued or in flight, as the reactor does: reap right after the
    /// submit (the kernel may have finished requests inside it), else wait for the eventfd; records
    /// results (slots are NOT released).
    /// </summary>
    public void RunToIdle()
    {
        while (Engine.QueueDepth > 0)
        {
            Engine.SubmitPending();
            if (ReapAll() > 0 || Engine.QueueDepth == 0)
                continue;
            if (Engine.HasQueued && Engine.NextDeadlineNanos != long.MaxValue)
                continue; // the engine retries (resubmissions, a refused submit)
            Assert.True(_waiter.Wait(30_000), "no completion within 30 s");
            ReapAll();
        }
    }

    private int ReapAll()
    {
        ReadOnlySpan<IoCompletion> done = Engine.Reap();
        foreach (IoCompletion c in done)
            Done.Add((c.Slot, c.Result));
        return done.Length;
    }

    public void ReleaseAll()
    {
        foreach (var (slot, _) in Done)
            Engine.ReleaseSlot(slot);
        Done.Clear();
    }

    public void Dispose()
    {
        _waiter.Dispose();
        Engine.Dispose();
    }
}
