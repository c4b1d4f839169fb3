using Ggaoed.Network;
using Xunit;

namespace Ggaoed.Tests.Network;

public class RingGeometryTests
{
    private const int Page = 4096;
    private const int MaxBlocks = 512; // 4096 / sizeof(void*) on x86-64
    private const long DefaultPerRing = 4096L * 1024 / 2; // ring-buffer-size 4096 KiB, split evenly

    [Fact]
    public void Mtu9000_In64KiBBlocks_HoldsSevenFramesPerBlock_WastingUnder3Percent()
    {
        RingGeometry g = RingGeometry.Compute(DefaultPerRing, 9000, 64 * 1024, Page, MaxBlocks)!.Value;
        Assert.Equal(9088, g.FrameSize); // TPACKET_ALIGN(80 + 9000)
        Assert.Equal(7, g.FramesPerBlock);
        Assert.Equal(1920, g.WastePerBlock); // 2.9 % of 64 KiB
        Assert.Equal(32, g.BlockCount);
        Assert.Equal(224, g.FrameCount);
        Assert.Equal(9014, g.MaxRxFrameLength - 8); // a 9014-byte frame fits with 8 bytes of alignment slack
    }

    [Fact]
    public void Mtu1500_In64KiBBlocks_Holds41FramesPerBlock()
    {
        RingGeometry g = RingGeometry.Compute(DefaultPerRing, 1500, 64 * 1024, Page, MaxBlocks)!.Value;
        Assert.Equal(1584, g.FrameSize); // TPACKET_ALIGN(80 + 1500)
        Assert.Equal(41, g.FramesPerBlock);
        Assert.Equal(592, g.WastePerBlock);
        Assert.Equal(32 * 41, g.FrameCount);
    }

    [Fact]
    public void FullSizeFrame_FitsWhole_ForEveryMtu()
    {
        for (int mtu = 68; mtu <= 65535; mtu += 97)
        {
            RingGeometry g = RingGeometry.Compute(DefaultPerRing, mtu, 128 * 1024, Page, MaxBlocks)!.Value;
            Assert.Equal(0, g.FrameSize % 16);
            // RX: the kernel puts the MAC header at 66 and the payload at 80 (tpacket_rcv).
            Assert.True(66 + 14 + mtu <= g.FrameSize, $"mtu {mtu}");
            Assert.True(g.MaxRxFrameLength >= mtu + 14);
            Assert.True(g.MaxTxFrameLength >= mtu + 14);
        }
    }

    [Fact]
    public void JumboFrame_DoesNotFitAn8KiBBlock()
    {
        Assert.Null(RingGeometry.Compute(DefaultPerRing, 9000, 8 * 1024, Page, MaxBlocks));
        Assert.NotNull(RingGeometry.Compute(DefaultPerRing, 9000, 16 * 1024, Page, MaxBlocks));
    }

    [Fact]
    public void SmallerBlocks_KeepTheRingSize_SoTheBlockCountGrows()
    {
        RingGeometry g = RingGeometry.Compute(DefaultPerRing, 1500, 16 * 1024, Page, MaxBlocks)!.Value;
        Assert.Equal(128, g.BlockCount);
        Assert.Equal(10, g.FramesPerBlock);
    }

    [Fact]
    public void BlockCount_IsCappedAtPageSizeOverPointerSize()
    {
        RingGeometry g = RingGeometry.Compute(1L << 30, 1500, 64 * 1024, Page, MaxBlocks)!.Value;
        Assert.Equal(512, g.BlockCount);
    }

    [Fact]
    public void TinyRing_StillGetsOneBlock()
    {
        RingGeometry g = RingGeometry.Compute(8 * 1024, 1500, 64 * 1024, Page, MaxBlocks)!.Value;
        Assert.Equal(1, g.BlockCount);
    }

    [Fact]
    public void BlockSize_MustBeWholePages()
    {
        Assert.Null(RingGeometry.Compute(DefaultPerRing, 1500, 6000, Page, MaxBlocks));
    }

    [Fact]
    public void BlockSizes_AreTriedLargestFirst()
    {
        Assert.Equal(new[] { 65536, 32768, 16384, 8192 }, RingGeometry.BlockSizes.ToArray());
    }

    [Fact]
    public void Candidates_FallBackThroughSmallerBlocks_SkippingThoseTooSmallForAFrame()
    {
        var into = new RingGeometry[4];
        Assert.Equal(3, RingGeometry.Candidates(DefaultPerRing, 9000, Page, MaxBlocks, into));
        Assert.Equal([65536, 32768, 16384], new[] { into[0].BlockSize, into[1].BlockSize, into[2].BlockSize });
        Assert.Equal([7, 3, 1], new[] { into[0].FramesPerBlock, into[1].FramesPerBlock, into[2].FramesPerBlock });
        // The per-ring budget is kept: more, smaller blocks.
        Assert.Equal([32, 64, 128], new[] { into[0].BlockCount, into[1].BlockCount, into[2].BlockCount });

        Assert.Equal(4, RingGeometry.Candidates(DefaultPerRing, 1500, Page, MaxBlocks, into));
        Assert.Equal(8192, into[3].BlockSize);
        Assert.Equal(5, into[3].FramesPerBlock);
        Assert.Equal(256, into[3].BlockCount);
    }
}
