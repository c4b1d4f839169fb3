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

/// <summary>Drives a real engine like the reactor would: submit, wait on the eventfd, reap.</summary>
internal sealed class RealDriver : IDisposable
{
    public readonly AioEngine<LinuxAioKernel> Engine;
    private readonly EventFdWaiter _waiter;
    public readonly List<(int Slot, int Result)> Done = new();

    public RealDriver(BackingStore store, int queueLength = 32, int slotBytes = 17 * 512, MergeLimits limits = default, bool edgeTriggered = false)
    {
        Engine = new AioEngine<LinuxAioKernel>(default, store.Fd, store.Sectors, store.LogicalBlockSize,
            new AioEngineOptions { QueueLength = queueLength, SlotBytes = slotBytes, Limits = limits, EdgeTriggeredEventFd = edgeTriggered });
        _waiter = new EventFdWaiter(Engine.EventFd, edgeTriggered);
    }

    public int Queue(IoKind kind, ulong lba, int sectors, ReadOnlySpan<byte> data = default)
    {
        Assert.True(Engine.TryAcquireSlot(out int slot));
        data.CopyTo(Engine.SlotBuffer(slot));
        Engine.Enqueue(slot, kind, lba, sectors);
        return slot;
    }

    /// <summary>Submits and reaps until nothing is queued or in flight; records results (slots are NOT released).</summary>
    public void RunToIdle()
    {
        var h = new RecordingHandler();
        h.Done = Done;
        while (Engine.QueueDepth > 0)
        {
            Engine.SubmitPending();
            Assert.True(_waiter.Wait(30_000), "no completion within 30 s");
            Engine.ReapCompletions(ref h);
        }
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
