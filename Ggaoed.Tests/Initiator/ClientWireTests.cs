using System;
using System.Buffers.Binary;
using Ggaoed.Ctl;
using Ggaoed.Initiator;
using Xunit;

namespace Ggaoed.Tests.Initiator;

/// <summary>The initiator's encoder/decoder against byte-exact vectors written from AoEr11 and the Linux driver.</summary>
public class ClientWireTests
{
    private static readonly byte[] Src = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    private static readonly byte[] Dst = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

    [Fact]
    public void ConfigQuery_IsBroadcast_Version1_NoFlags_TagEchoedBigEndian_PaddedTo60()
    {
        byte[] f = new byte[100];
        f.AsSpan().Fill(0xEE);
        int n = AoeWire.BuildConfigQuery(f, AoeWire.BroadcastMac, Src, 0xFFFF, 0xFF, 0x8000_1234);
        Assert.Equal(60, n);
        Assert.Equal(
            Convert.FromHexString("FFFFFFFFFFFF" + "020000000001" + "88A2" + "10" + "00" + "FFFF" + "FF" + "01" + "80001234"
                + "0000" + "0000" + "00" + "00" + "0000"),
            f[..32]);
        Assert.All(f[32..60], b => Assert.Equal(0, b));
    }

    [Fact]
    public void ReadExt_PutsLba48LittleEndian_AFlagE_Command24()
    {
        byte[] f = new byte[100];
        int n = AoeWire.BuildReadWrite(f, Dst, Src, 0x0102, 3, 0x8000_0007, write: false, lba48: true, 17, 0x0000_0A0B_0C0D_0E0FUL);
        Assert.Equal(60, n);
        Assert.Equal(Convert.FromHexString("0102" + "03" + "00" + "80000007"), f[16..24]);
        Assert.Equal(Convert.FromHexString("40" + "00" + "11" + "24" + "0F0E0D0C0B0A" + "0000"), f[24..36]);
    }

    [Fact]
    public void Write28_PutsE0AndBits24To27InLba3_WriteFlag_Command30_KeepsData()
    {
        byte[] f = new byte[36 + 1024];
        for (int i = 36; i < f.Length; i++)
            f[i] = (byte)i;
        int n = AoeWire.BuildReadWrite(f, Dst, Src, 1, 1, 0x8000_0001, write: true, lba48: false, 2, 0x0ABC_DEF1UL);
        Assert.Equal(36 + 1024, n);
        Assert.Equal(Convert.FromHexString("01" + "00" + "02" + "30" + "F1DEBCEA0000" + "0000"), f[24..36]);
        Assert.Equal((byte)36, f[36]);
        Assert.Equal(unchecked((byte)(36 + 1023)), f[^1]);
    }

    [Fact]
    public void WriteExt_UsesCommand34_AndBothFlags()
    {
        byte[] f = new byte[36 + 512];
        AoeWire.BuildReadWrite(f, Dst, Src, 1, 1, 1, write: true, lba48: true, 1, 5);
        Assert.Equal(0x41, f[24]);
        Assert.Equal(0x34, f[27]);
    }

    [Fact]
    public void Identify_IsSentLikeLinux_NoFlags_OneSector_Lba3A0()
    {
        byte[] f = new byte[60];
        AoeWire.BuildIdentify(f, Dst, Src, 7, 9, 0x8000_0042);
        Assert.Equal(Convert.FromHexString("00" + "00" + "01" + "EC" + "000000A00000" + "0000"), f[24..36]);
    }

    [Fact]
    public void ResponseParser_IgnoresRequests_AndReadsAllHeaderFields()
    {
        byte[] f = new byte[60];
        AoeWire.BuildConfigQuery(f, Dst, Src, 0x0203, 4, 0xDEADBEEF);
        Assert.False(AoeWire.TryParseResponse(f, out _)); // no R flag: e.g. our own query
        f[14] = 0x1C; // version 1, R | E
        f[15] = 3;
        Assert.True(AoeWire.TryParseResponse(f, out AoeResponseHeader h));
        Assert.Equal(new AoeResponseHeader(1, 0x0C, 3, 0x0203, 4, 1, 0xDEADBEEF), h);
        Assert.True(h.IsError);
        f[12] = 0x08; // IPv4
        Assert.False(AoeWire.TryParseResponse(f, out _));
    }

    [Fact]
    public void ConfigResponse_Parsed_BigEndian_WithString()
    {
        byte[] f = Convert.FromHexString("020000000001020000000002" + "88A2" + "18" + "00" + "0001" + "01" + "01" + "80000001"
            + "0010" + "4019" + "11" + "10" + "0005" + "68656C6C6F" + "FFFF");
        ConfigInfo c = AoeWire.ParseConfig(f);
        Assert.Equal(16, c.BufferCount);
        Assert.Equal(0x4019, c.FirmwareVersion);
        Assert.Equal(17, c.SectorCount);
        Assert.Equal(1, c.AoeVersion);
        Assert.Equal(0, c.ConfigCommand);
        Assert.Equal("hello"u8.ToArray(), c.ConfigString);
    }

    [Fact]
    public void ConfigResponse_TruncatedArgument_ReadsAsZero_AndStringLengthIsClampedToTheFrame()
    {
        byte[] f = new byte[26];
        f[24] = 0;
        f[25] = 8;
        ConfigInfo c = AoeWire.ParseConfig(f);
        Assert.Equal(8, c.BufferCount);
        Assert.Equal(0, c.SectorCount);
        Assert.Empty(c.ConfigString);

        byte[] g = new byte[34];
        BinaryPrimitives.WriteUInt16BigEndian(g.AsSpan(30), 900);
        Assert.Equal(2, AoeWire.ParseConfig(g).ConfigString.Length);
    }

    [Fact]
    public void AtaResponse_StatusMaskA9_IsFailure_DrdyAlone_IsNot()
    {
        Assert.False(AoeWire.IsAtaFailure(0x40));
        Assert.False(AoeWire.IsAtaFailure(0x50)); // DRDY | DSC
        Assert.True(AoeWire.IsAtaFailure(0x41)); // ERR
        Assert.True(AoeWire.IsAtaFailure(0x60)); // DF
        Assert.True(AoeWire.IsAtaFailure(0x48)); // DRQ
        Assert.True(AoeWire.IsAtaFailure(0x80)); // BSY
        byte[] f = new byte[60];
        f[24] = 0x40; f[25] = 0x10; f[26] = 2; f[27] = 0x41;
        f[28] = 0x01; f[29] = 0x02; f[33] = 0x80;
        AtaResponse a = AoeWire.ParseAta(f);
        Assert.True(a.Failed);
        Assert.Equal(0x10, a.Error);
        Assert.Equal(0x8000_0000_0201UL, a.Lba);
    }

    [Theory]
    [InlineData(1500, 2)]
    [InlineData(9000, 17)]
    [InlineData(1024, 1)]
    [InlineData(500, 0)]
    public void SectorsPerFrame_FollowsLinuxFormula(int mtu, int expected) => Assert.Equal(expected, AoeWire.SectorsForMtu(mtu));

    [Theory]
    [InlineData(0, 9000, 2)]   // advertised 0 means 2 sectors (Linux)
    [InlineData(17, 1500, 2)]
    [InlineData(4, 9000, 4)]
    [InlineData(255, 9000, 17)]
    public void MaxSectorsPerFrame_IsMinOfMtuAndAdvertised(byte advertised, int mtu, int expected)
    {
        var t = new DiscoveredTarget(1, 1, new byte[6], new ConfigInfo(16, 0, advertised, 1, 0, []));
        Assert.Equal(expected, t.MaxSectorsPerFrame(mtu));
    }

    [Fact]
    public void Identify_Lba48_ReadsWords100To103_AndSwapsStrings()
    {
        byte[] d = NullTarget.BuildIdentify(0x1_2345_6789UL, 3, 4);
        IdentifyInfo i = IdentifyInfo.Parse(d);
        Assert.True(i.Lba48);
        Assert.Equal(0x1_2345_6789UL, i.Sectors);
        Assert.Equal("ggaoed null target", i.Model);
        Assert.Equal("NULL3.4", i.Serial);
        Assert.Equal("2.0", i.Firmware); // the protocol's IDENTIFY builder: the same version as its Query Config reply
        // "gg" sits in word 27 with the first character in the high byte.
        Assert.Equal((byte)'g', d[54 + 1]);
    }

    [Fact]
    public void Identify_WithoutLba48_ReadsWords60And61()
    {
        byte[] d = new byte[512];
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(120), 0x5678);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(122), 0x0123);
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(200), 999); // ignored without the LBA48 bit
        IdentifyInfo i = IdentifyInfo.Parse(d);
        Assert.False(i.Lba48);
        Assert.Equal(0x0123_5678UL, i.Sectors);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(86 * 2), 1 << 10); // bit in word 86 alone suffices
        Assert.Equal(999UL, IdentifyInfo.Parse(d).Sectors);
    }

    [Fact]
    public void Histogram_PercentilesWithin3Percent_AndExactForSmallValues()
    {
        var h = new LatencyHistogram();
        for (int v = 1; v <= 100_000; v++)
            h.Record(v);
        Assert.Equal(100_000, h.Count);
        Assert.Equal(1, h.Min);
        Assert.Equal(100_000, h.Max);
        Assert.InRange(h.Percentile(50), 48_500, 51_500);
        Assert.InRange(h.Percentile(99), 96_000, 100_000);
        Assert.Equal(100_000, h.Percentile(100));
        var small = new LatencyHistogram();
        small.Record(5);
        small.Record(7);
        Assert.Equal(5, small.Percentile(50));
        Assert.Equal(7, small.Percentile(99.9));
        for (long v = 1; v < (1L << 62); v = v * 3 + 1)
            Assert.InRange(LatencyHistogram.MiddleOf(LatencyHistogram.IndexOf(v)), v - v / 32 - 1, v + v / 32 + 1);
    }

    [Theory]
    [InlineData("1.1", true, 1, 1)]
    [InlineData("65534.254", true, 65534, 254)]
    [InlineData("65535.1", false, 0, 0)]
    [InlineData("1.255", false, 0, 0)]
    [InlineData("1", false, 0, 0)]
    [InlineData("a.b", false, 0, 0)]
    public void TargetAddress_Parses_AndRejectsBroadcast(string s, bool ok, int shelf, int slot)
    {
        Assert.Equal(ok, DiscoveredTarget.TryParseAddress(s, out ushort sh, out byte sl));
        if (ok)
        {
            Assert.Equal(shelf, sh);
            Assert.Equal(slot, sl);
        }
    }

    [Fact]
    public void BenchOptions_Parse_DefaultsAndErrors()
    {
        BenchCommand.Options o = BenchCommand.Parse(["eth0", "--target", "2.5"]);
        Assert.Equal("eth0", o.Iface);
        Assert.Equal(2, o.Shelf);
        Assert.Equal(5, o.Slot);
        Assert.Equal(16, o.Depth);
        Assert.Equal(0, o.Sectors);
        Assert.Equal(BenchPattern.RandRead, o.Pattern);
        o = BenchCommand.Parse(["eth0", "--target", "1.1", "--size", "4096", "--rw", "write", "--depth", "1"]);
        Assert.Equal(8, o.Sectors);
        Assert.Equal(BenchPattern.SeqWrite, o.Pattern);
        Assert.Throws<FormatException>(() => BenchCommand.Parse(["eth0"]));
        Assert.Throws<FormatException>(() => BenchCommand.Parse(["eth0", "--target", "1.1", "--size", "1000"]));
        Assert.Throws<FormatException>(() => BenchCommand.Parse(["eth0", "--target", "1.1", "--rw", "trim"]));
        Assert.Equal(2, BenchCommand.Run(["eth0", "--depth"]));
    }

    [Fact]
    public void DiscoverTable_HasOneRowPerTarget_WithSizeAndFrameSectors()
    {
        var a = new DiscoveredTarget(1, 2, [0xaa, 0xbb, 0xcc, 0, 1, 2], new ConfigInfo(16, 0x4019, 17, 1, 0, "cfg"u8.ToArray()))
        {
            Identify = new IdentifyInfo(2_097_152, true, "m", "s", "f"),
        };
        string table = DiscoverCommand.FormatTable([a], 1500);
        string[] lines = table.TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("shelf.slot", lines[0]);
        Assert.Matches(@"^1\.2\s+aa:bb:cc:00:01:02\s+1\.0 GiB\s+2\s+16\s+0x4019\s+cfg$", lines[1]);
        Assert.Contains("\"sectors\": 2097152", DiscoverCommand.FormatJson([a], 1500));
    }
}
