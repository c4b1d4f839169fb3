using System;
using System.Buffers.Binary;
using Ggaoed.Protocol;
using Xunit;

namespace Ggaoed.Tests.Protocol;

/// <summary>Builds request frames byte by byte (independently of the engine's own writers) for tests.</summary>
internal static class AoeFrames
{
    public static readonly MacAddress Ours = MacAddress.Parse("02:00:00:00:00:01");
    public static readonly MacAddress Host = MacAddress.Parse("02:00:00:00:00:02");
    public static readonly MacAddress OtherHost = MacAddress.Parse("02:00:00:00:00:03");
    public const ushort Shelf = 1;
    public const byte Slot = 2;
    public const uint Tag = 0x01020304;
    public static readonly AoeInterface Iface1500 = new(Ours, 1500);
    public static readonly AoeInterface Iface9000 = new(Ours, 9000);

    public static AoeTarget NewTarget(ulong sectors = 1000) => new(Shelf, Slot, sectors);

    /// <summary>Ethernet + AoE header followed by the argument bytes.</summary>
    public static byte[] Frame(byte command, ReadOnlySpan<byte> arg, ushort shelf = Shelf, byte slot = Slot,
        uint tag = Tag, byte verFlags = 0x10, MacAddress? source = null, MacAddress? destination = null, byte error = 0)
    {
        var f = new byte[24 + arg.Length];
        (destination ?? Ours).Write(f.AsSpan(0));
        (source ?? Host).Write(f.AsSpan(6));
        f[12] = 0x88;
        f[13] = 0xA2;
        f[14] = verFlags;
        f[15] = error;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), shelf);
        f[18] = slot;
        f[19] = command;
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(20), tag);
        arg.CopyTo(f.AsSpan(24));
        return f;
    }

    public static byte[] AtaFrame(byte aflags, byte feature, byte count, byte command, ulong lba, int payloadBytes = 0,
        ushort shelf = Shelf, byte slot = Slot, MacAddress? source = null, uint tag = Tag, byte payloadFill = 0xA5)
    {
        var arg = new byte[12 + payloadBytes];
        arg[0] = aflags;
        arg[1] = feature;
        arg[2] = count;
        arg[3] = command;
        for (int i = 0; i < 6; i++)
            arg[4 + i] = (byte)(lba >> (8 * i));
        arg.AsSpan(12).Fill(payloadFill);
        return Frame(0, arg, shelf, slot, tag, source: source);
    }

    public static byte[] ConfigQuery(byte ccmd, ReadOnlySpan<byte> value, ushort shelf = Shelf, byte slot = Slot, MacAddress? source = null, int? lengthField = null)
    {
        var arg = new byte[8 + value.Length];
        arg[5] = ccmd; // Linux leaves the version nibble 0; so do we here.
        BinaryPrimitives.WriteUInt16BigEndian(arg.AsSpan(6), (ushort)(lengthField ?? value.Length));
        value.CopyTo(arg.AsSpan(8));
        return Frame(1, arg, shelf, slot, source: source);
    }

    public static byte[] Mask(byte mcmd, params (byte Dcmd, MacAddress Mac)[] directives) => MaskFrom(Host, mcmd, directives);

    public static byte[] MaskFrom(MacAddress source, byte mcmd, params (byte Dcmd, MacAddress Mac)[] directives)
    {
        var arg = new byte[4 + 8 * directives.Length];
        arg[1] = mcmd;
        arg[3] = (byte)directives.Length;
        for (int i = 0; i < directives.Length; i++)
        {
            arg[4 + 8 * i + 1] = directives[i].Dcmd;
            directives[i].Mac.Write(arg.AsSpan(4 + 8 * i + 2));
        }
        return Frame(2, arg, source: source);
    }

    public static byte[] Reserve(byte rcmd, MacAddress source, params MacAddress[] macs)
    {
        var arg = new byte[2 + 6 * macs.Length];
        arg[0] = rcmd;
        arg[1] = (byte)macs.Length;
        for (int i = 0; i < macs.Length; i++)
            macs[i].Write(arg.AsSpan(2 + 6 * i));
        return Frame(3, arg, source: source);
    }

    /// <summary>A copy of the frame sent to another shelf/slot (broadcast, for instance).</summary>
    public static byte[] Readdress(byte[] frame, ushort shelf, byte slot)
    {
        byte[] copy = frame.AsSpan().ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(16), shelf);
        copy[18] = slot;
        return copy;
    }

    /// <summary>The same frame from another source MAC.</summary>
    public static byte[] From(byte[] frame, MacAddress source)
    {
        byte[] copy = frame.AsSpan().ToArray();
        source.Write(copy.AsSpan(6));
        return copy;
    }

    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "").Replace("\n", ""));

    public static string ToHex(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);

    /// <summary>Runs the engine and returns the reply bytes (asserting that the decision is Reply).</summary>
    public static byte[] Reply(byte[] frame, AoeTarget target, AoeInterface? iface = null)
    {
        var buffer = new byte[9014];
        AoeDecision d = AoeEngine.Handle(frame, target, iface ?? Iface1500, buffer, out int length, out _);
        Assert.Equal(AoeDecision.Reply, d);
        return buffer.AsSpan(0, length).ToArray();
    }

    public static AoeDecision Run(byte[] frame, AoeTarget target, out byte[] reply, out AoeIoRequest io, AoeInterface? iface = null)
    {
        var buffer = new byte[9014];
        AoeDecision d = AoeEngine.Handle(frame, target, iface ?? Iface1500, buffer, out int length, out io);
        reply = buffer.AsSpan(0, length).ToArray();
        return d;
    }

    /// <summary>Reply Ethernet + AoE header as hex: to Host from Ours, ver 1 + R (+E), our shelf/slot.</summary>
    public static string ReplyHeader(byte command, byte error = 0, uint tag = Tag) =>
        "020000000002" + "020000000001" + "88a2" + (error == 0 ? "18" : "1c") + error.ToString("x2")
        + "0001" + "02" + command.ToString("x2") + tag.ToString("x8");

    /// <summary>A whole Query Config reply as hex: bufcnt 64, firmware 0x0200, sectors (2 = MTU 1500), version 1 | ccmd.</summary>
    public static string ConfigReply(byte ccmd, string config, byte error = 0, byte sectors = 2) =>
        ReplyHeader(1, error) + "0040" + "0200" + sectors.ToString("x2") + (0x10 | ccmd).ToString("x2")
        + config.Length.ToString("x4") + ToHex(System.Text.Encoding.ASCII.GetBytes(config)) + Zeros(Math.Max(0, 28 - config.Length));

    public static string Zeros(int bytes) => new string('0', 2 * bytes);
}
