using System;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// Random reads and writes for the fake-kernel model checks: queues them against a model of the disk
/// and checks every completion: answered once, successful, and a read holds exactly what the model
/// held when it arrived (the engine keeps arrival order for overlapping requests).
/// </summary>
internal sealed class ModelWorkload
{
    private const int Sector = 512;
    private readonly StorageEngine _engine;
    private readonly byte[]?[] _expectRead;
    private readonly bool[] _outstanding;
    private byte _stamp = 1;

    public ModelWorkload(StorageEngine engine, int diskBytes)
    {
        _engine = engine;
        Model = new byte[diskBytes];
        _expectRead = new byte[engine.QueueLength][];
        _outstanding = new bool[engine.QueueLength];
    }

    /// <summary>What the disk must hold once every write completed.</summary>
    public byte[] Model { get; }

    public long Issued { get; private set; }

    public long Answered { get; private set; }

    /// <summary>Queues up to <paramref name="max"/> requests of 1..4 sectors within the first 64 sectors (so many overlap), half of them writes.</summary>
    public void Arrive(Random rng, int max)
    {
        for (int i = 0; i < max && _engine.TryAcquireSlot(out int s); i++)
        {
            ulong lba = (ulong)rng.Next(0, 64);
            int sectors = rng.Next(1, 5);
            Assert.False(_outstanding[s]);
            _outstanding[s] = true;
            Issued++;
            if (rng.Next(2) == 0)
            {
                _engine.SlotBuffer(s).Slice(0, sectors * Sector).Fill(_stamp);
                Model.AsSpan((int)lba * Sector, sectors * Sector).Fill(_stamp);
                _stamp = (byte)(_stamp % 250 + 1);
                _expectRead[s] = null;
                _engine.Enqueue(s, IoKind.Write, lba, sectors);
            }
            else
            {
                _expectRead[s] = Model.AsSpan((int)lba * Sector, sectors * Sector).ToArray();
                _engine.Enqueue(s, IoKind.Read, lba, sectors);
            }
        }
    }

    /// <summary>Reaps, checks and releases everything completed; returns how many.</summary>
    public int Reap()
    {
        ReadOnlySpan<IoCompletion> done = _engine.Reap();
        foreach (IoCompletion c in done)
        {
            Assert.True(_outstanding[c.Slot], "answered twice: slot " + c.Slot);
            _outstanding[c.Slot] = false;
            Answered++;
            Assert.True(c.Result > 0, "result " + c.Result);
            if (_expectRead[c.Slot] is byte[] expected)
                Assert.Equal(expected, _engine.SlotBuffer(c.Slot).Slice(0, c.Result).ToArray());
            _engine.ReleaseSlot(c.Slot);
        }
        return done.Length;
    }
}
