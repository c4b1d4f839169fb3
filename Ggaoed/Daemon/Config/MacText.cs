using System;
using System.Globalization;

namespace Ggaoed.Daemon.Config;

/// <summary>
/// Text form of Ethernet addresses for the configuration. A MAC travels as a <see cref="ulong"/> holding the
/// 48-bit address in its low bits, first octet most significant (so 00:1b:21:aa:bb:cc is 0x001B21AABBCC),
/// which keeps ACLs as plain sortable arrays.
/// </summary>
/// <remarks>Minimal on purpose: a shared MAC type in Ggaoed.Protocol may replace it.</remarks>
public static class MacText
{
    /// <summary>
    /// Accepts six colon-separated octets of one or two hex digits each (<c>0:1b:21:aa:bb:cc</c> is valid, as
    /// in /etc/ethers and ether_aton(3)).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ulong mac)
    {
        mac = 0;
        int octets = 0;
        int i = 0;
        while (true)
        {
            int digits = 0;
            uint octet = 0;
            while (i < text.Length && digits < 3 && IsHex(text[i]))
            {
                octet = (octet << 4) | (uint)HexValue(text[i]);
                digits++;
                i++;
            }
            if (digits == 0 || digits > 2)
                return false;
            mac = (mac << 8) | octet;
            octets++;
            if (octets == 6)
                return i == text.Length;
            if (i >= text.Length || text[i] != ':')
                return false;
            i++;
        }
    }

    /// <summary>Lower-case, two digits per octet: <c>00:1b:21:aa:bb:cc</c>.</summary>
    public static string Format(ulong mac)
    {
        Span<char> buf = stackalloc char[17];
        for (int k = 0; k < 6; k++)
        {
            byte b = (byte)(mac >> (8 * (5 - k)));
            b.TryFormat(buf.Slice(k * 3, 2), out _, "x2", CultureInfo.InvariantCulture);
            if (k < 5)
                buf[k * 3 + 2] = ':';
        }
        return new string(buf);
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
