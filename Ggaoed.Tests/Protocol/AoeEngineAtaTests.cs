using System;
using Ggaoed.Protocol;
using Xunit;
using static Ggaoed.Tests.Protocol.AoeFrames;
using Ggaoed.Storage;

namespace Ggaoed.Tests.Protocol;

public class AoeEngineAtaTests
{
    // Linux LBA28 requests carry 0xE0 | LBA bits 24-27 in lba3 (AOE-NOTES 0.9).
    private const ulong Lba28Of16 = 0x0000_E000_0010;

    [Theory]
    [InlineData(0x20)]
    [InlineData(0xC8)]
    public void Lba28Read_WithinDevice_BecomesReadRequest_WithLbaMaskedTo28Bits(byte command)
    {
        AoeTarget t = NewTarget();
        byte[] frame = AtaFrame(0x00, 0, 2, command, Lba28Of16);
        Assert.Equal(AoeDecision.Io, Run(frame, t, out byte[] reply, out AoeIoRequest io));
        Assert.Empty(reply);
        Assert.Equal(IoKind.Read, io.Kind);
        Assert.Equal(16UL, io.Lba);
        Assert.Equal(2, io.SectorCount);
        Assert.Equal(8192L, io.ByteOffset);
        Assert.Equal(1024, io.ByteLength);
        Assert.Equal(Tag, io.Tag);
        Assert.Equal(Host, io.Source);
        Assert.Equal(Shelf, io.Shelf);
        Assert.Equal(Slot, io.Slot);
        Assert.Equal(command, io.AtaCommand);
        Assert.Equal(Lba28Of16, io.RawLba);
        Assert.Equal(0, io.PayloadLength);
    }

    [Fact]
    public void Lba28Read_UsesLba3LowNibbleAsBits24To27()
    {
        AoeTarget t = NewTarget(0x0200_0000);
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0x0000_E123_4567), t, out _, out AoeIoRequest io));
        Assert.Equal(0x0123_4567UL, io.Lba);
    }

    [Theory]
    [InlineData(0x0000_E000_0010UL)] // Linux: LBA bit | obsolete bits in the top nibble of lba3
    [InlineData(0x0000_A000_0010UL)]
    [InlineData(0xFFFF_F000_0010UL)] // junk in lba4/lba5, which LBA28 has no use for
    public void Lba28Read_IgnoresEverythingAbove28Bits(ulong raw)
    {
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, raw), NewTarget(), out _, out AoeIoRequest io));
        Assert.Equal(16UL, io.Lba);
        Assert.Equal(raw, io.RawLba);
    }

    [Theory]
    [InlineData(0x24)]
    [InlineData(0x25)]
    public void Lba48Read_UsesAllSixLbaBytesLittleEndian(byte command)
    {
        AoeTarget t = NewTarget(0x1_0000_0000_0000);
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0x40, 0, 1, command, 0xABCD_E123_4567), t, out _, out AoeIoRequest io));
        Assert.Equal(0xABCD_E123_4567UL, io.Lba);
    }

    [Fact]
    public void Lba48Command_WithLinuxStyleLba3_IsNotMasked_SoItRunsPastTheEnd()
    {
        // The command code decides (not the E flag): 0x24 with lba3 = 0xE0 means LBA 0xE0000010.
        byte[] reply = Reply(AtaFrame(0x00, 0, 1, 0x24, Lba28Of16), NewTarget());
        Assert.Equal(Ata.ErrorIdnf, reply[25]);
        Assert.Equal(Ata.StatusFailed, reply[27]);
    }

    [Theory]
    [InlineData(0x30)]
    [InlineData(0xCA)]
    [InlineData(0x34)]
    [InlineData(0x35)]
    public void Write_WithFullPayload_BecomesWriteRequest_PointingAtThePayload(byte command)
    {
        AoeTarget t = NewTarget();
        byte[] frame = AtaFrame(0x01, 0, 2, command, 998, payloadBytes: 1024);
        Assert.Equal(AoeDecision.Io, Run(frame, t, out _, out AoeIoRequest io));
        Assert.Equal(IoKind.Write, io.Kind);
        Assert.Equal(998UL, io.Lba);
        Assert.Equal(2, io.SectorCount);
        Assert.Equal(AoeWire.AtaPayloadOffset, io.PayloadOffset);
        Assert.Equal(1024, io.PayloadLength);
        Assert.Equal(frame.Length, io.PayloadOffset + io.PayloadLength);
    }

    [Fact]
    public void ReadRequest_CarryingPaddingPayload_IsAccepted()
    {
        // Linux probes tainted paths with a READ carrying maxbcnt bytes of zeros (AOE-NOTES 0.11).
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 2, 0x20, Lba28Of16, payloadBytes: 1024, payloadFill: 0), NewTarget(), out _, out AoeIoRequest io));
        Assert.Equal(IoKind.Read, io.Kind);
        Assert.Equal(0, io.PayloadLength);
    }

    [Fact]
    public void WriteWithShortPayload_ReturnsAtaAbort_ByteExact_AndNoIo_CountedOversized()
    {
        AoeTarget t = NewTarget();
        byte[] frame = AtaFrame(0x01, 0, 2, 0x30, Lba28Of16, payloadBytes: 1023);
        Assert.Equal(AoeDecision.Reply, Run(frame, t, out byte[] reply, out AoeIoRequest io));
        Assert.Equal(default, io);
        Assert.Equal(ReplyHeader(0) + "01" + "04" + "02" + "41" + "100000e00000" + "0000" + Zeros(24), ToHex(reply));
        Assert.Equal((1L, 1L, 1L), (t.Counters.Oversized, t.Counters.AtaErrorAbrt, t.Counters.AtaErrors));
    }

    [Fact]
    public void WriteOfMoreSectorsThanTheInterfaceCarries_ReturnsAtaAbort_ByteExact_AndNoIo_CountedOversized()
    {
        // Three sectors on MTU 1500, which carries two ((1500 - 36) / 512) and advertises two in
        // Query Config. The frame does hold the data: the old engine queued the write.
        AoeTarget t = NewTarget();
        byte[] frame = AtaFrame(0x41, 0, 3, 0x34, 16, payloadBytes: 3 * 512);
        Assert.Equal(AoeDecision.Reply, Run(frame, t, out byte[] reply, out AoeIoRequest io, Iface1500));
        Assert.Equal(default, io);
        Assert.Equal(ReplyHeader(0) + "41" + "04" + "03" + "41" + "100000000000" + "0000" + Zeros(24), ToHex(reply));
        Assert.Equal((1L, 1L), (t.Counters.Oversized, t.Counters.AtaErrorAbrt));
        // On a jumbo interface the same write fits; 18 sectors do not (17 at MTU 9000).
        Assert.Equal(AoeDecision.Io, Run(frame, t, out _, out io, Iface9000));
        Assert.Equal(3, io.SectorCount);
        Assert.Equal(AoeDecision.Reply, Run(AtaFrame(0x41, 0, 18, 0x34, 16, payloadBytes: 18 * 512), t, out reply, out _, Iface9000));
        Assert.Equal(Ata.ErrorAbrt, reply[25]);
        Assert.Equal(2, t.Counters.Oversized);
    }

    [Fact]
    public void ReadBeyondLastSector_ReturnsIdnf_ByteExact_AndNoIo()
    {
        byte[] frame = AtaFrame(0x40, 0, 2, 0x24, 999);
        Assert.Equal(AoeDecision.Reply, Run(frame, NewTarget(), out byte[] reply, out AoeIoRequest io));
        Assert.Equal(default, io);
        Assert.Equal(ReplyHeader(0) + "40" + "10" + "02" + "41" + "e70300000000" + "0000" + Zeros(24), ToHex(reply));
        Assert.Equal(60, reply.Length);
    }

    [Theory]
    [InlineData(998UL, 2, true)]
    [InlineData(999UL, 1, true)]
    [InlineData(999UL, 2, false)]
    [InlineData(1000UL, 1, false)]
    [InlineData(0xFFFF_FFFF_FFFFUL, 1, false)]
    public void LastSectorBoundary_IsExact(ulong lba, int count, bool allowed)
    {
        AoeDecision d = Run(AtaFrame(0x41, 0, (byte)count, 0x34, lba, payloadBytes: count * 512), NewTarget(1000), out byte[] reply, out _);
        Assert.Equal(allowed ? AoeDecision.Io : AoeDecision.Reply, d);
        if (!allowed)
            Assert.Equal(Ata.ErrorIdnf, reply[25]);
    }

    [Fact]
    public void ZeroSectorCount_ReturnsAbort_AndNoIo()
    {
        AoeTarget t = NewTarget();
        Assert.Equal(AoeDecision.Reply, Run(AtaFrame(0, 0, 0, 0x20, Lba28Of16), t, out byte[] reply, out _));
        Assert.Equal(Ata.StatusFailed, reply[27]);
        Assert.Equal(Ata.ErrorAbrt, reply[25]);
        Assert.Equal(1, t.Counters.Oversized); // 0 means 256 sectors in ATA
    }

    [Fact]
    public void ReadLargerThanMtuAllows_ReturnsAbort_ButFitsOnJumboFrames()
    {
        AoeTarget t = NewTarget();
        Assert.Equal(AoeDecision.Reply, Run(AtaFrame(0, 0, 3, 0x20, 0), t, out byte[] reply, out _, Iface1500));
        Assert.Equal(Ata.ErrorAbrt, reply[25]);
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 17, 0x20, 0), t, out _, out AoeIoRequest io, Iface9000));
        Assert.Equal(17, io.SectorCount);
        Assert.Equal(AoeDecision.Reply, Run(AtaFrame(0, 0, 18, 0x20, 0), t, out reply, out _, Iface9000));
        Assert.Equal(Ata.ErrorAbrt, reply[25]);
        Assert.Equal(2, t.Counters.Oversized);
    }

    [Fact]
    public void WriteToReadOnlyDevice_ReturnsAbort_AndNoIo()
    {
        AoeTarget t = NewTarget();
        t.ReadOnly = true;
        Assert.Equal(AoeDecision.Reply, Run(AtaFrame(1, 0, 1, 0x30, 0, payloadBytes: 512), t, out byte[] reply, out _));
        Assert.Equal(ReplyHeader(0) + "01" + "04" + "01" + "41" + "000000000000" + "0000" + Zeros(24), ToHex(reply));
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 1, 0x20, 0), t, out _, out _));
        Assert.Equal(0, t.Counters.Oversized); // refused for being read-only, not for its size
    }

    [Fact]
    public void AtaHeaderCutShort_ReturnsAoeBadArgument_EchoingWhatCame()
    {
        byte[] full = AtaFrame(0, 0, 1, 0x20, 0);
        byte[] frame = full.AsSpan(0, 30).ToArray();
        byte[] reply = Reply(frame, NewTarget());
        Assert.Equal(ReplyHeader(0, error: 2) + "000001200000" + Zeros(30), ToHex(reply));
    }

    [Fact]
    public void Identify_ReturnsStatusOkAnd512Bytes_ByteExactHeader()
    {
        AoeTarget t = NewTarget();
        byte[] reply = Reply(AtaFrame(0, 0, 1, 0xEC, 0x0000_A000_0000), t);
        Assert.Equal(36 + 512, reply.Length);
        Assert.Equal(ReplyHeader(0) + "00" + "00" + "01" + "40" + "000000a00000" + "0000", ToHex(reply.AsSpan(0, 36)));
        Assert.True(reply.AsSpan(36).SequenceEqual(t.IdentifyBlock));
    }

    [Fact]
    public void Identify_ToReadOnlyDevice_StillWorks()
    {
        AoeTarget t = NewTarget();
        t.ReadOnly = true;
        Assert.Equal(548, Reply(AtaFrame(0, 0, 1, 0xEC, 0), t).Length);
    }

    [Theory]
    [InlineData(0xE7)]
    [InlineData(0xEA)]
    public void FlushCache_BecomesFlushRequest(byte command)
    {
        Assert.Equal(AoeDecision.Io, Run(AtaFrame(0, 0, 0, command, 0), NewTarget(), out _, out AoeIoRequest io));
        Assert.Equal(IoKind.Flush, io.Kind);
        Assert.Equal(0, io.SectorCount);
        Assert.Equal(command, io.AtaCommand);
        Assert.Equal(Tag, io.Tag);
    }

    [Fact]
    public void CheckPowerMode_ReportsActive_ByteExact()
    {
        byte[] reply = Reply(AtaFrame(0, 0, 0, 0xE5, 0), NewTarget());
        Assert.Equal(ReplyHeader(0) + "00" + "00" + "ff" + "40" + "000000000000" + "0000" + Zeros(24), ToHex(reply));
    }

    [Fact]
    public void SetFeatures_TogglesWriteCache_AndIdentifyFollows()
    {
        AoeTarget t = NewTarget();
        Assert.False(t.WriteCache);
        Assert.Equal(0, AtaIdentify.GetWord(t.IdentifyBlock, 85) & AtaIdentify.Set1WriteCache);

        byte[] reply = Reply(AtaFrame(0, 0x02, 0, 0xEF, 0), t);
        Assert.Equal(ReplyHeader(0) + "00" + "00" + "00" + "40" + "000000000000" + "0000" + Zeros(24), ToHex(reply));
        Assert.True(t.WriteCache);
        Assert.NotEqual(0, AtaIdentify.GetWord(t.IdentifyBlock, 85) & AtaIdentify.Set1WriteCache);

        Assert.Equal(Ata.StatusOk, Reply(AtaFrame(0, 0x82, 0, 0xEF, 0), t)[27]);
        Assert.False(t.WriteCache);
        Assert.Equal(0, AtaIdentify.GetWord(t.IdentifyBlock, 85) & AtaIdentify.Set1WriteCache);
    }

    [Fact]
    public void SetFeatures_UnknownFeature_Aborts()
    {
        byte[] reply = Reply(AtaFrame(0, 0x03, 0, 0xEF, 0), NewTarget());
        Assert.Equal(Ata.StatusFailed, reply[27]);
        Assert.Equal(Ata.ErrorAbrt, reply[25]);
    }

    [Fact]
    public void SmartReturnStatus_ReportsNoThresholdExceeded_ByteExact()
    {
        byte[] reply = Reply(AtaFrame(0, 0xDA, 0, 0xB0, 0x0000_A0C2_4F00), NewTarget());
        Assert.Equal(ReplyHeader(0) + "00" + "00" + "00" + "40" + "004fc2a00000" + "0000" + Zeros(24), ToHex(reply));
    }

    [Theory]
    [InlineData(0xB0, 0xD0)] // SMART READ DATA
    [InlineData(0x00, 0)]    // NOP
    [InlineData(0x91, 0)]    // INITIALIZE DEVICE PARAMETERS
    [InlineData(0xF8, 0)]    // READ NATIVE MAX ADDRESS
    [InlineData(0x40, 0)]    // READ VERIFY
    public void UnsupportedAtaCommand_ReturnsErrAndDrdyWithAbort_ByteExact(byte command, byte feature)
    {
        byte[] reply = Reply(AtaFrame(0, feature, 1, command, 0), NewTarget());
        Assert.Equal(ReplyHeader(0) + "00" + "04" + "01" + "41" + "000000000000" + "0000" + Zeros(24), ToHex(reply));
    }

    [Fact]
    public void WriteIoReply_ForSuccessfulRead_LeavesDataInPlace_AndCoversAllSectors()
    {
        AoeTarget t = NewTarget();
        Run(AtaFrame(0x00, 0, 2, 0x20, Lba28Of16), t, out _, out AoeIoRequest io);
        var frame = new byte[1514];
        frame.AsSpan(36, 1024).Fill(0x5A);
        int length = AoeEngine.WriteIoReply(frame, io, Iface1500, Ata.StatusOk, 0);
        Assert.Equal(36 + 1024, length);
        Assert.Equal(ReplyHeader(0) + "00" + "00" + "02" + "40" + "100000e00000" + "0000", ToHex(frame.AsSpan(0, 36)));
        Assert.True(frame.AsSpan(36, 1024).IndexOfAnyExcept((byte)0x5A) < 0);
    }

    [Fact]
    public void WriteIoReply_ForWrite_Is60BytesWithStatusOk_ByteExact()
    {
        Run(AtaFrame(0x41, 0, 1, 0x34, 5, payloadBytes: 512), NewTarget(), out _, out AoeIoRequest io);
        var frame = new byte[1514];
        frame.AsSpan().Fill(0xEE);
        int length = AoeEngine.WriteIoReply(frame, io, Iface1500, Ata.StatusOk, 0);
        Assert.Equal(60, length);
        Assert.Equal(ReplyHeader(0) + "41" + "00" + "01" + "40" + "050000000000" + "0000" + Zeros(24), ToHex(frame.AsSpan(0, length)));
    }

    [Fact]
    public void WriteIoReply_ForFailedRead_Is60BytesWithErrorInAtaHeader()
    {
        Run(AtaFrame(0, 0, 2, 0x20, 0), NewTarget(), out _, out AoeIoRequest io);
        AoeEngine.MapIoError(5, IoKind.Read, out byte status, out byte error);
        var frame = new byte[1514];
        int length = AoeEngine.WriteIoReply(frame, io, Iface1500, status, error);
        Assert.Equal(60, length);
        Assert.Equal(ReplyHeader(0) + "00" + "40" + "02" + "41" + "000000000000" + "0000" + Zeros(24), ToHex(frame.AsSpan(0, length)));
    }

    [Theory]
    [InlineData(5, IoKind.Read, Ata.ErrorUnc)]
    [InlineData(5, IoKind.Write, Ata.ErrorAbrt)]
    [InlineData(28, IoKind.Write, Ata.ErrorAbrt)]
    [InlineData(0, IoKind.Read, Ata.ErrorIdnf)]
    [InlineData(5, IoKind.Flush, Ata.ErrorAbrt)]
    public void MapIoError_GivesDrdyErrAndAFittingErrorBit(int errno, IoKind kind, byte expectedError)
    {
        AoeEngine.MapIoError(errno, kind, out byte status, out byte error);
        Assert.Equal(0x41, status);
        Assert.Equal(expectedError, error);
        Assert.NotEqual(0, status & 0xA9); // Linux fails the bio
    }

    [Fact]
    public void FlushReply_IsPlainAtaSuccess()
    {
        Run(AtaFrame(0, 0, 0, 0xEA, 0), NewTarget(), out _, out AoeIoRequest io);
        var frame = new byte[100];
        Assert.Equal(60, AoeEngine.WriteIoReply(frame, io, Iface1500, Ata.StatusOk, 0));
        Assert.Equal(ReplyHeader(0) + "00" + "00" + "00" + "40" + "000000000000" + "0000" + Zeros(24), ToHex(frame.AsSpan(0, 60)));
    }
}
