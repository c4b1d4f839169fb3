using System;
using System.Buffers.Binary;

namespace Ggaoed.Protocol;

/// <summary>
/// A 48-bit Ethernet address held in the low 48 bits of a <see cref="ulong"/>, first wire byte most
/// significant. A value type so that sets, lists and I/O requests carry MACs without allocating.
/// </summary>
public readonly struct MacAddress : IEquatable<MacAddress>, IComparable<MacAddress>
{
    private const ulong Mask48 = 0xFFFF_FFFF_FFFFUL;

    public static readonly MacAddress Broadcast = new(Mask48);
    public static readonly MacAddress Zero = default;

    public MacAddress(ulong value) => Value = value & Mask48;

    /// <summary>The address as a 48-bit number, first wire byte in bits 40-47.</summary>
    public ulong Value { get; }

    /// <summary>Group (multicast or broadcast) addresses have the I/G bit, bit 0 of the first byte.</summary>
    public bool IsGroup => (Value & 0x0100_0000_0000UL) != 0;

    public bool IsBroadcast => Value == Mask48;

    /// <summary>Reads six bytes in wire order. The span must hold at least six bytes.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> source)
    {
        ulong high = BinaryPrimitives.ReadUInt16BigEndian(source);
        ulong low = BinaryPrimitives.ReadUInt32BigEndian(source.Slice(2));
        return new MacAddress((high << 32) | low);
    }

    /// <summary>Writes the six bytes in wire order.</summary>
    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(2), (uint)Value);
    }

    /// <summary>
    /// Parses "00:11:22:33:44:55" or "00-11-22-33-44-55" (hex digits of either case, two per byte,
    /// one separator kind throughout). Anything else, including surrounding text, is rejected.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out MacAddress mac)
    {
        mac = default;
        if (text.Length != 17)
            return false;
        char separator = text[2];
        if (separator != ':' && separator != '-')
            return false;
        ulong value = 0;
        for (int i = 0; i < 6; i++)
        {
            int pos = i * 3;
            if (i > 0 && text[pos - 1] != separator)
                return false;
            int hi = HexValue(text[pos]);
            int lo = HexValue(text[pos + 1]);
            if (hi < 0 || lo < 0)
                return false;
            value = (value << 8) | (uint)(hi << 4 | lo);
        }
        mac = new MacAddress(value);
        return true;
    }

    public static MacAddress Parse(string text) =>
        TryParse(text, out MacAddress mac) ? mac : throw new FormatException("not a MAC address (expected xx:xx:xx:xx:xx:xx): " + text);

    /// <summary>Formats as lower-case "xx:xx:xx:xx:xx:xx" into 17 chars; false if too small.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten)
    {
        charsWritten = 0;
        if (destination.Length < 17)
            return false;
        for (int i = 0; i < 6; i++)
        {
            int b = (int)(Value >> (40 - 8 * i)) & 0xFF;
            int pos = i * 3;
            destination[pos] = HexDigit(b >> 4);
            destination[pos + 1] = HexDigit(b & 0xF);
            if (i < 5)
                destination[pos + 2] = ':';
        }
        charsWritten = 17;
        return true;
    }

    public override string ToString()
    {
        Span<char> buffer = stackalloc char[17];
        TryFormat(buffer, out _);
        return new string(buffer);
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private static char HexDigit(int v) => (char)(v < 10 ? '0' + v : 'a' + v - 10);

    public bool Equals(MacAddress other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is MacAddress other && Equals(other);
    public override int GetHashCode() => Value.GetHashCode();
    public int CompareTo(MacAddress other) => Value.CompareTo(other.Value);
    public static bool operator ==(MacAddress left, MacAddress right) => left.Value == right.Value;
    public static bool operator !=(MacAddress left, MacAddress right) => left.Value != right.Value;
}
