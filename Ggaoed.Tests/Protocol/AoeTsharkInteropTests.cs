using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using Ggaoed.Protocol;
using Xunit;
using Xunit.Abstractions;
using static Ggaoed.Tests.Protocol.AoeFrames;
using Ggaoed.Storage;

namespace Ggaoed.Tests.Protocol;

/// <summary>A fact that needs tshark (Debian package "tshark"); skipped with the reason when it is missing.</summary>
public sealed class TsharkFactAttribute : FactAttribute
{
    public TsharkFactAttribute()
    {
        if (Tshark.Path == null)
            Skip = "tshark not found on PATH (install the Debian package 'tshark' to run the Wireshark AoE dissector interop test)";
    }
}

internal static class Tshark
{
    public static readonly string? Path = Find();

    private static string? Find()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            if (dir.Length == 0)
                continue;
            string candidate = System.IO.Path.Combine(dir, "tshark");
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    public static string Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Path!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        // Keep tshark away from the user's Wireshark profile.
        psi.Environment["WIRESHARK_CONFIG_DIR"] = System.IO.Path.GetTempPath();
        using Process p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, "tshark failed: " + stderr.Result);
        return stdout;
    }
}

/// <summary>Classic libpcap file (magic a1b2c3d4, version 2.4, link type 1 = Ethernet).</summary>
internal static class Pcap
{
    public static void Write(string path, IReadOnlyList<byte[]> frames)
    {
        using var w = new BinaryWriter(File.Create(path)); // BinaryWriter is little-endian: the magic says so
        w.Write(0xA1B2C3D4u);
        w.Write((ushort)2);
        w.Write((ushort)4);
        w.Write(0);      // thiszone
        w.Write(0u);     // sigfigs
        w.Write(65535u); // snaplen
        w.Write(1u);     // LINKTYPE_ETHERNET
        for (int i = 0; i < frames.Count; i++)
        {
            w.Write(1_700_000_000u + (uint)i);
            w.Write(0u);
            w.Write((uint)frames[i].Length);
            w.Write((uint)frames[i].Length);
            w.Write(frames[i]);
        }
    }
}

public class AoeTsharkInteropTests
{
    private readonly ITestOutputHelper _output;

    public AoeTsharkInteropTests(ITestOutputHelper output) => _output = output;

    private static readonly long? X = null; // field absent or not ours to check

    private static readonly string[] FieldNames =
    {
        "frame.len", "aoe.version", "aoe.response", "aoe.flags_error", "aoe.error", "aoe.major", "aoe.minor", "aoe.cmd",
        "aoe.tag", "aoe.aflags.e", "aoe.aflags.w", "aoe.err_feature", "aoe.sector_count", "aoe.ata.cmd", "aoe.ata.status", "aoe.lba",
    };

    // What we meant, frame by frame (request, then our reply). Wireshark shows the request's ATA command on the
    // reply too (it pairs them by tag), and dissects nothing past the header for commands 2 and 3 or version != 1.
    private static readonly long?[][] Expected =
    {
        //          len  ver  R  E  err  major minor cmd  tag          e  w  err/f scnt atacmd status lba
        new long?[] { 32,   1, 0, 0, X,   1,    2,   1,   0x01020304,  X, X, X,    X,   X,     X,     X },
        new long?[] { 60,   1, 1, 0, X,   1,    2,   1,   0x01020304,  X, X, X,    X,   X,     X,     X },
        new long?[] { 36,   1, 0, 0, X,   1,    2,   0,   0x00010001,  0, 0, 0,    1,   0xEC,  X,     0xA0000000 },
        new long?[] { 548,  1, 1, 0, X,   1,    2,   0,   0x00010001,  0, 0, 0,    1,   0xEC,  0x40,  0xA0000000 },
        new long?[] { 36,   1, 0, 0, X,   1,    2,   0,   0x00020002,  0, 0, 0,    2,   0x20,  X,     0xE0000010 },
        new long?[] { 1060, 1, 1, 0, X,   1,    2,   0,   0x00020002,  0, 0, 0,    2,   0x20,  0x40,  0xE0000010 },
        new long?[] { 8740, 1, 0, 0, X,   1,    2,   0,   0x00030003,  1, 1, 0,    17,  0x34,  X,     0x3A5 },
        new long?[] { 60,   1, 1, 0, X,   1,    2,   0,   0x00030003,  1, 1, 0,    17,  0x34,  0x40,  0x3A5 },
        new long?[] { 36,   1, 0, 0, X,   1,    2,   0,   0x00040004,  1, 0, 0,    2,   0x24,  X,     999 },
        new long?[] { 60,   1, 1, 0, X,   1,    2,   0,   0x00040004,  1, 0, 0x10, 2,   0x24,  0x41,  999 },
        new long?[] { 36,   1, 0, 0, X,   1,    2,   0,   0x00050005,  0, 0, 0,    1,   0x91,  X,     0 },
        new long?[] { 60,   1, 1, 0, X,   1,    2,   0,   0x00050005,  0, 0, 0x04, 1,   0x91,  0x41,  0 },
        new long?[] { 36,   1, 0, 0, X,   1,    2,   0,   0x00060006,  1, 0, 0,    1,   0x24,  X,     7 },
        new long?[] { 60,   1, 1, 0, X,   1,    2,   0,   0x00060006,  1, 0, 0x40, 1,   0x24,  0x41,  7 },
        new long?[] { 36,   1, 0, 0, X,   1,    2,   0,   0x00070007,  0, 0, 0,    0,   0xEA,  X,     0 },
        new long?[] { 60,   1, 1, 0, X,   1,    2,   0,   0x00070007,  0, 0, 0,    0,   0xEA,  0x40,  0 },
        new long?[] { 32,   2, X, X, X,   X,    X,   X,   X,           X, X, X,    X,   X,     X,     X },
        new long?[] { 60,   1, 1, 1, 5,   1,    2,   1,   0x00080008,  X, X, X,    X,   X,     X,     X },
        new long?[] { 26,   1, 0, 0, X,   1,    2,   9,   0x00090009,  X, X, X,    X,   X,     X,     X },
        new long?[] { 60,   1, 1, 1, 1,   1,    2,   9,   0x00090009,  X, X, X,    X,   X,     X,     X },
        new long?[] { 36,   1, 0, 0, X,   1,    2,   2,   0x01020304,  X, X, X,    X,   X,     X,     X },
        new long?[] { 60,   1, 1, 0, X,   1,    2,   2,   0x01020304,  X, X, X,    X,   X,     X,     X },
        new long?[] { 26,   1, 0, 0, X,   1,    2,   3,   0x01020304,  X, X, X,    X,   X,     X,     X },
        new long?[] { 60,   1, 1, 0, X,   1,    2,   3,   0x01020304,  X, X, X,    X,   X,     X,     X },
    };

    /// <summary>tshark prints numbers as decimal or 0x-hex and booleans as 1/0 or True/False, depending on version.</summary>
    private static long? ParseNumber(string text)
    {
        text = text.Trim();
        if (text.Length == 0)
            return null;
        if (text.Equals("True", StringComparison.OrdinalIgnoreCase))
            return 1;
        if (text.Equals("False", StringComparison.OrdinalIgnoreCase))
            return 0;
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return Convert.ToInt64(text.Substring(2), 16);
        return long.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
    }

    [TsharkFact]
    public void WiresharkDissectsRequestsAndReplies_WithoutErrors_AndSeesTheFieldsWeMeant()
    {
        AoeTarget t = NewTarget(1000);
        t.SetConfigString("cfg"u8);
        var frames = new List<byte[]>();
        var reply = new byte[9014];

        void Exchange(byte[] request, AoeInterface iface, byte status = Ata.StatusOk, byte error = 0)
        {
            frames.Add(request);
            AoeDecision d = AoeEngine.Handle(request, t, iface, reply, out int n, out AoeIoRequest io);
            if (d == AoeDecision.Io)
            {
                if (io.Kind == IoKind.Read)
                    reply.AsSpan(36, io.ByteLength).Fill(0x42);
                n = AoeEngine.WriteIoReply(reply, io, iface, status, error);
            }
            Assert.NotEqual(AoeDecision.Drop, d);
            frames.Add(reply.AsSpan(0, n).ToArray());
        }

        Exchange(ConfigQuery(0, default), Iface1500);
        Exchange(AtaFrame(0, 0, 1, 0xEC, 0x0000_A000_0000, tag: 0x0001_0001), Iface1500);
        Exchange(AtaFrame(0x00, 0, 2, 0x20, 0x0000_E000_0010, tag: 0x0002_0002), Iface1500);
        Exchange(AtaFrame(0x41, 0, 17, 0x34, 0x3A5, payloadBytes: 17 * 512, tag: 0x0003_0003), Iface9000);
        Exchange(AtaFrame(0x40, 0, 2, 0x24, 999, tag: 0x0004_0004), Iface1500);      // IDNF
        Exchange(AtaFrame(0x00, 0, 1, 0x91, 0, tag: 0x0005_0005), Iface1500);        // ABRT
        Exchange(AtaFrame(0x40, 0, 1, 0x24, 7, tag: 0x0006_0006), Iface1500, Ata.StatusFailed, Ata.ErrorUnc); // EIO
        Exchange(AtaFrame(0, 0, 0, 0xEA, 0, tag: 0x0007_0007), Iface1500);           // flush
        Exchange(Frame(1, new byte[8], verFlags: 0x20, tag: 0x0008_0008), Iface1500); // AoE error 5
        Exchange(Frame(9, new byte[2], tag: 0x0009_0009), Iface1500);                 // AoE error 1
        Exchange(Mask(1, (1, Host)), Iface1500);
        Exchange(Reserve(0, Host), Iface1500);

        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ggaoed-protocol-{Environment.ProcessId}.pcap");
        try
        {
            Pcap.Write(path, frames);
            string verbose = Tshark.Run("-r", path, "-V");
            Assert.DoesNotContain("Malformed", verbose);
            Assert.DoesNotContain("Expert Info (Error", verbose);
            Assert.DoesNotContain("Expert Info (Warn", verbose);
            Assert.DoesNotContain("Exception", verbose);

            string fields = Tshark.Run("-r", path, "-T", "fields", "-E", "separator=|", "-E", "occurrence=f",
                "-e", "frame.len", "-e", "aoe.version", "-e", "aoe.response", "-e", "aoe.flags_error", "-e", "aoe.error",
                "-e", "aoe.major", "-e", "aoe.minor", "-e", "aoe.cmd", "-e", "aoe.tag",
                "-e", "aoe.aflags.e", "-e", "aoe.aflags.w", "-e", "aoe.err_feature", "-e", "aoe.sector_count",
                "-e", "aoe.ata.cmd", "-e", "aoe.ata.status", "-e", "aoe.lba", "-e", "eth.src", "-e", "eth.dst");
            _output.WriteLine(fields);
            string[] lines = fields.TrimEnd('\n').Split('\n');
            Assert.Equal(Expected.Length, lines.Length);
            for (int i = 0; i < lines.Length; i++)
            {
                string[] got = lines[i].Split('|');
                long?[] want = Expected[i];
                for (int c = 0; c < want.Length; c++)
                {
                    if (want[c] is long w)
                        Assert.True(ParseNumber(got[c]) == w, $"frame {i + 1} ({FieldNames[c]}): tshark says '{got[c]}', we meant {w:x}");
                }
                // Requests go host -> us; replies us -> host.
                bool isReply = i % 2 == 1;
                Assert.Equal(isReply ? "02:00:00:00:00:01" : "02:00:00:00:00:02", got[16]);
                Assert.Equal(isReply ? "02:00:00:00:00:02" : "02:00:00:00:00:01", got[17]);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
