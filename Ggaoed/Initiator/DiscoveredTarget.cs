using System;

namespace Ggaoed.Initiator;

/// <summary>One target (shelf.slot at one MAC) as found by <see cref="AoeClient.Discover"/>.</summary>
public sealed class DiscoveredTarget
{
    public DiscoveredTarget(ushort shelf, byte slot, byte[] mac, ConfigInfo config)
    {
        Shelf = shelf;
        Slot = slot;
        Mac = mac;
        Config = config;
    }

    public ushort Shelf { get; }
    public byte Slot { get; }

    /// <summary>The source MAC of the config response: where ATA requests go.</summary>
    public byte[] Mac { get; }

    public ConfigInfo Config { get; }

    /// <summary>Set by IDENTIFY; null when the target did not answer it.</summary>
    public IdentifyInfo? Identify { get; set; }

    public ulong Sectors => Identify?.Sectors ?? 0;
    public bool Lba48 => Identify?.Lba48 ?? false;

    /// <summary>
    /// Sectors per ATA request on a link with this MTU: Linux's min((mtu - 36) / 512, advertised count),
    /// where an advertised 0 means 2 sectors (drivers/block/aoe aoecmd_cfg_rsp). Capped at 255 (one byte).
    /// </summary>
    public int MaxSectorsPerFrame(int mtu)
    {
        int advertised = Config.SectorCount == 0 ? 2 : Config.SectorCount;
        return Math.Min(255, Math.Min(AoeWire.SectorsForMtu(mtu), advertised));
    }

    public string Address => Shelf + "." + Slot;

    public static string FormatMac(ReadOnlySpan<byte> mac)
    {
        const string hex = "0123456789abcdef";
        Span<char> s = stackalloc char[17];
        for (int i = 0; i < 6; i++)
        {
            s[3 * i] = hex[mac[i] >> 4];
            s[3 * i + 1] = hex[mac[i] & 15];
            if (i < 5)
                s[3 * i + 2] = ':';
        }
        return new string(s);
    }

    /// <summary>Parses "S.L" (shelf 0-65534, slot 0-254).</summary>
    public static bool TryParseAddress(string s, out ushort shelf, out byte slot)
    {
        shelf = 0;
        slot = 0;
        int dot = s.IndexOf('.');
        if (dot <= 0 || !ushort.TryParse(s.AsSpan(0, dot), out shelf) || !byte.TryParse(s.AsSpan(dot + 1), out slot))
            return false;
        return shelf != AoeWire.BroadcastShelf && slot != AoeWire.BroadcastSlot;
    }
}
