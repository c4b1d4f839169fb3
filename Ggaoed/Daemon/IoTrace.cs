using System;
using System.Buffers.Binary;
using Ggaoed.Protocol;
using Ggaoed.Storage;

namespace Ggaoed.Daemon;

/// <summary>
/// trace-io (a device's key, or every device under <c>-d</c>): one Info line per command the device
/// received and what came of it, e.g.
/// <c>d1: READ SECTORS EXT lba 2048 sectors 2 tag 0x00010203 from 52:54:00:12:34:56: ok</c>. Callers
/// test <see cref="ExportedDevice.Tracing"/> first, so nothing here runs (and nothing is formatted)
/// while tracing is off; with it on, the cost per request is the line, which the admin asked for.
/// </summary>
internal static class IoTrace
{
    /// <summary>A command the protocol engine answered (or left unanswered) without I/O.</summary>
    public static void Command(string device, ReadOnlySpan<byte> request, AoeDecision decision, ReadOnlySpan<byte> reply)
    {
        string result = decision == AoeDecision.Drop ? "no answer" : ReplyResult(request[AoeWire.CommandOffset], reply);
        Log.Info($"{device}: {Describe(request)} tag 0x{Tag(request):x8} from {Source(request)}: {result}");
    }

    /// <summary>A read, write or flush: its outcome (the completion's, or why it never reached the disk).</summary>
    public static void Io(string device, in AoeIoRequest io, string result)
        => Log.Info($"{device}: {Describe(io.AtaCommand, io.Kind == IoKind.Flush, io.Lba, io.SectorCount)} tag 0x{io.Tag:x8} from {io.Source}: {result}");

    /// <summary>The result of a finished I/O: "ok", or the ATA error it was answered with and why.</summary>
    public static string IoResult(int result, byte status, byte error)
        => result >= 0 ? "ok" : $"{AtaStatus(status, error)}: {(result == -(int)Native.Errno.EIO ? "I/O error or short transfer" : ErrnoText.Describe(-result))}";

    private static uint Tag(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt32BigEndian(frame.Slice(AoeWire.TagOffset));

    private static MacAddress Source(ReadOnlySpan<byte> frame) => MacAddress.Read(frame.Slice(AoeWire.EthSourceOffset));

    private static byte At(ReadOnlySpan<byte> frame, int offset) => offset < frame.Length ? frame[offset] : (byte)0;

    private static string Describe(ReadOnlySpan<byte> request)
    {
        byte command = request[AoeWire.CommandOffset];
        switch (command)
        {
            case AoeWire.CmdAta:
            {
                ulong lba = 0;
                for (int i = 5; i >= 0; i--)
                    lba = (lba << 8) | At(request, AoeWire.AtaLbaOffset + i);
                byte ata = At(request, AoeWire.AtaCmdStatusOffset);
                bool io = ata is Ata.CmdReadSectors or Ata.CmdReadSectorsExt or Ata.CmdReadDma or Ata.CmdReadDmaExt
                    or Ata.CmdWriteSectors or Ata.CmdWriteSectorsExt or Ata.CmdWriteDma or Ata.CmdWriteDmaExt;
                string what = Describe(ata, flush: false, lba, io ? At(request, AoeWire.AtaSectorCountOffset) : -1);
                return ata == Ata.CmdSetFeatures ? $"{what} 0x{At(request, AoeWire.AtaErrFeatureOffset):x2}" : what;
            }
            case AoeWire.CmdQueryConfig:
                return "Query Config " + (At(request, AoeWire.CfgVerCmdOffset) & 0x0F) switch
                {
                    AoeWire.CCmdRead => "read",
                    AoeWire.CCmdTestExact => "test",
                    AoeWire.CCmdTestPrefix => "test prefix",
                    AoeWire.CCmdSetIfEmpty => "set if empty",
                    AoeWire.CCmdForceSet => "force set",
                    int c => "subcommand " + c,
                };
            case AoeWire.CmdMacMask:
                return At(request, AoeWire.MaskCmdOffset) == AoeWire.MCmdEdit ? "Mac Mask edit" : "Mac Mask read";
            case AoeWire.CmdReserve:
                return "Reserve/Release " + At(request, AoeWire.ReserveCmdOffset) switch
                {
                    AoeWire.RCmdRead => "read",
                    AoeWire.RCmdSet => "set",
                    AoeWire.RCmdForceSet => "force set",
                    byte c => "subcommand " + c,
                };
            default:
                return $"AoE command 0x{command:x2}";
        }
    }

    /// <param name="sectors">-1: not a read or write.</param>
    private static string Describe(byte ataCommand, bool flush, ulong lba, int sectors)
    {
        string name = ataCommand switch
        {
            Ata.CmdReadSectors => "READ SECTORS",
            Ata.CmdReadSectorsExt => "READ SECTORS EXT",
            Ata.CmdReadDma => "READ DMA",
            Ata.CmdReadDmaExt => "READ DMA EXT",
            Ata.CmdWriteSectors => "WRITE SECTORS",
            Ata.CmdWriteSectorsExt => "WRITE SECTORS EXT",
            Ata.CmdWriteDma => "WRITE DMA",
            Ata.CmdWriteDmaExt => "WRITE DMA EXT",
            Ata.CmdIdentify => "IDENTIFY DEVICE",
            Ata.CmdFlushCache => "FLUSH CACHE",
            Ata.CmdFlushCacheExt => "FLUSH CACHE EXT",
            Ata.CmdCheckPowerMode => "CHECK POWER MODE",
            Ata.CmdSetFeatures => "SET FEATURES",
            Ata.CmdSmart => "SMART",
            _ => $"ATA command 0x{ataCommand:x2}",
        };
        return flush || sectors < 0 ? name : $"{name} lba {lba} sectors {sectors}";
    }

    private static string ReplyResult(byte command, ReadOnlySpan<byte> reply)
    {
        if ((At(reply, AoeWire.VerFlagsOffset) & AoeWire.FlagError) != 0)
        {
            byte code = At(reply, AoeWire.ErrorOffset);
            string name = code switch
            {
                AoeWire.ErrUnrecognizedCommand => "unrecognized command",
                AoeWire.ErrBadArgument => "bad argument",
                AoeWire.ErrDeviceUnavailable => "device unavailable",
                AoeWire.ErrConfigStringPresent => "config string present",
                AoeWire.ErrUnsupportedVersion => "unsupported version",
                AoeWire.ErrTargetReserved => "target reserved",
                _ => "unknown",
            };
            return $"AoE error {code} ({name})";
        }
        return command switch
        {
            AoeWire.CmdAta => AtaStatus(At(reply, AoeWire.AtaCmdStatusOffset), At(reply, AoeWire.AtaErrFeatureOffset)),
            AoeWire.CmdMacMask when At(reply, AoeWire.MaskErrorOffset) != 0 => $"MError {At(reply, AoeWire.MaskErrorOffset)}",
            _ => "answered",
        };
    }

    private static string AtaStatus(byte status, byte error)
    {
        if ((status & AoeEngine.FailingStatusBits) == 0)
            return $"ATA status 0x{status:x2} (ok)";
        string kind = error switch
        {
            Ata.ErrorAbrt => "ABRT",
            Ata.ErrorIdnf => "IDNF",
            Ata.ErrorUnc => "UNC",
            _ => "error",
        };
        return $"ATA status 0x{status:x2} error 0x{error:x2} ({kind})";
    }
}
