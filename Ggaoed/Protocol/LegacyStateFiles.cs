using System;
using System.Buffers.Binary;

namespace Ggaoed.Protocol;

/// <summary>
/// Reads the state files of ggaoed 1.1 (C) so an upgrade keeps each device's AoE config string,
/// Mac Mask List and reserve list. Pure: file bytes in, content or an error out; the daemon finds
/// the files (<c>&lt;device&gt;.config</c>, <c>&lt;device&gt;.mac_mask</c>, <c>&lt;device&gt;.reserve</c>
/// in the state directory), prefixes errors with the path, and applies the result with
/// <see cref="AoeTarget.ImportState"/>.
/// </summary>
/// <remarks>
/// ggaoed 1.1 wrote its structs raw, in host byte order. It ran on x86-64 and other little-endian
/// hosts, and a state directory is only ever read on the host that wrote it, so the fields are read
/// little-endian; a file written big-endian is named as such rather than called corrupt.
/// <code>
/// config:  u32 magic 0x38A0BFAE, u32 length (≤ 1024), u8 data[1024]                   1032 bytes
/// MAC list: u32 magic 0xE92A716B, u32 count (≤ 255), 255 × { u8 mac[6], u8 pad[2] }   2048 bytes
/// </code>
/// Bytes past the length or count (stale data, padding) are ignored. ggaoed 1.1 itself reset a file
/// with a bad magic or length; here such a file is an error the daemon reports and skips.
/// </remarks>
public static class LegacyStateFiles
{
    public const uint ConfigMagic = 0x38A0BFAE;
    public const int ConfigDataLength = 1024;
    public const int ConfigFileLength = 8 + ConfigDataLength; // 1032

    public const uint MacListMagic = 0xE92A716B;
    public const int MacListSlots = 255;
    public const int MacListEntryLength = 8; // 6-byte MAC + 2 bytes of struct padding
    public const int MacListFileLength = 8 + MacListSlots * MacListEntryLength; // 2048

    /// <summary>
    /// Parses a <c>&lt;device&gt;.config</c> file: true with the config string (0 to 1024 bytes), or
    /// false with <paramref name="error"/> saying what is wrong.
    /// </summary>
    public static bool TryParseConfig(ReadOnlySpan<byte> file, out byte[] config, out string? error)
    {
        config = Array.Empty<byte>();
        if (!TryReadHeader(file, ConfigFileLength, ConfigMagic, "config", out uint length, out error))
            return false;
        if (length > ConfigDataLength)
        {
            error = $"config string length {length} is more than {ConfigDataLength}";
            return false;
        }
        config = file.Slice(8, (int)length).ToArray();
        return true;
    }

    /// <summary>
    /// Parses a <c>&lt;device&gt;.mac_mask</c> or <c>&lt;device&gt;.reserve</c> file: true with its MACs
    /// in order (duplicates collapsed), or false with <paramref name="error"/>. ggaoed 1.1 held up to
    /// 255, our lists <paramref name="capacity"/> (<see cref="AoeTarget.MaskListCapacity"/>,
    /// <see cref="AoeTarget.ReserveListCapacity"/>): the first <paramref name="capacity"/> are kept and
    /// <paramref name="dropped"/> says how many were not, for the daemon to warn about.
    /// </summary>
    /// <remarks>
    /// Why cut rather than refuse: both lists restrict access, and an import that failed would leave
    /// the device with an empty list, which means open to every host (an empty mask admits all, an
    /// empty reserve list reserves nothing). Keeping the first entries fails closed: only the hosts
    /// past the cut lose access, and the warning names how many, so the administrator can fix it.
    /// </remarks>
    public static bool TryParseMacList(ReadOnlySpan<byte> file, int capacity, out MacAddress[] macs, out int dropped,
        out string? error)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        macs = Array.Empty<MacAddress>();
        dropped = 0;
        if (!TryReadHeader(file, MacListFileLength, MacListMagic, "MAC list", out uint count, out error))
            return false;
        if (count > MacListSlots)
        {
            error = $"MAC count {count} is more than {MacListSlots}";
            return false;
        }
        var list = new MacList(capacity);
        for (int i = 0; i < (int)count; i++)
        {
            MacAddress mac = MacAddress.Read(file.Slice(8 + i * MacListEntryLength));
            if (!list.TryAdd(mac))
                dropped++;
        }
        macs = list.AsSpan().ToArray();
        return true;
    }

    private static bool TryReadHeader(ReadOnlySpan<byte> file, int expectedLength, uint magic, string what,
        out uint value, out string? error)
    {
        value = 0;
        if (file.Length != expectedLength)
        {
            error = $"is {file.Length} bytes, a ggaoed 1.1 {what} file has {expectedLength}";
            return false;
        }
        uint found = BinaryPrimitives.ReadUInt32LittleEndian(file);
        if (found != magic)
        {
            error = found == BinaryPrimitives.ReverseEndianness(magic)
                ? $"was written by a big-endian host (magic 0x{found:X8}); it cannot be imported here"
                : $"bad magic 0x{found:X8}, a ggaoed 1.1 {what} file starts with 0x{magic:X8}";
            return false;
        }
        value = BinaryPrimitives.ReadUInt32LittleEndian(file.Slice(4));
        error = null;
        return true;
    }
}
