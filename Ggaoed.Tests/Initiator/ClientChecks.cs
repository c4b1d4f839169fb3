using System;
using System.IO;
using Ggaoed.Initiator;
using Xunit;

namespace Ggaoed.Tests.Initiator;

/// <summary>Checks the client runs the same way against any target (vblade, ggaoed).</summary>
internal static class ClientChecks
{
    /// <summary>The same target driven with READ/WRITE SECTORS (0x20/0x30), as for a small disk.</summary>
    public static DiscoveredTarget AsLba28(DiscoveredTarget found)
        => new(found.Shelf, found.Slot, found.Mac, found.Config) { Identify = found.Identify! with { Lba48 = false } };

    /// <summary>
    /// Writes random data at the first, the last and two random LBAs, reads each back, and finds it in
    /// the backing file at LBA × 512.
    /// </summary>
    public static void WrittenDataReadsBackAndIsInTheFile(AoeClient client, DiscoveredTarget t, string backingFile, int seed)
    {
        var rnd = new Random(seed);
        ulong[] lbas = [0, t.Sectors - 40, (ulong)rnd.NextInt64(1, (long)t.Sectors - 40), (ulong)rnd.NextInt64(1, (long)t.Sectors - 40)];
        foreach (ulong lba in lbas)
        {
            byte[] data = new byte[rnd.Next(1, 40) * 512];
            rnd.NextBytes(data);
            client.Write(t, lba, data);

            byte[] back = new byte[data.Length];
            client.Read(t, lba, back);
            Assert.Equal(data, back);

            byte[] onDisk = new byte[data.Length];
            using (var fs = new FileStream(backingFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            {
                fs.Position = (long)lba * 512;
                fs.ReadExactly(onDisk);
            }
            Assert.Equal(data, onDisk);
        }
    }
}
