using System;
using System.Buffers.Binary;
using System.Text;
using Ggaoed.Protocol;
using static Ggaoed.Tests.Protocol.AoeFrames;

namespace Ggaoed.Tests.Protocol;

/// <summary>
/// xoshiro256** seeded through SplitMix64: fast, allocation-free and the same sequence on every
/// runtime, so a seed printed by a failing run replays it exactly (System.Random's seeded algorithm
/// is fixed too, but several times slower per call, and the fuzz draws ~20 numbers a frame).
/// </summary>
internal struct FuzzRng
{
    private ulong _s0, _s1, _s2, _s3;

    public FuzzRng(ulong seed)
    {
        _s0 = SplitMix(ref seed);
        _s1 = SplitMix(ref seed);
        _s2 = SplitMix(ref seed);
        _s3 = SplitMix(ref seed);
    }

    /// <summary>The seed of round <paramref name="round"/> of a run: rounds replay independently.</summary>
    public static ulong RoundSeed(ulong seed, int round)
    {
        ulong x = seed ^ ((ulong)round * 0x9E37_79B9_7F4A_7C15UL);
        return SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E37_79B9_7F4A_7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextU64()
    {
        // Rotations written out: the test assembly is built Debug (MinOpts), where every call costs.
        ulong x = _s1 * 5;
        ulong result = ((x << 7) | (x >> 57)) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = (_s3 << 45) | (_s3 >> 19);
        return result;
    }

    /// <summary>0 &lt;= result &lt; n (n &gt; 0), by multiply-shift (Lemire); the bias is below 2^-32.</summary>
    public int Next(int n) => (int)(((NextU64() >> 32) * (ulong)(uint)n) >> 32);

    public int Next(int min, int maxExclusive) => min + Next(maxExclusive - min);

    public bool Chance(int percent) => (int)(((NextU64() >> 32) * 100) >> 32) < percent;

    public byte NextByte() => (byte)(NextU64() >> 56);

    public void Fill(Span<byte> bytes)
    {
        while (bytes.Length >= 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, NextU64());
            bytes = bytes.Slice(8);
        }
        ulong last = NextU64();
        for (int i = 0; i < bytes.Length; i++, last >>= 8)
            bytes[i] = (byte)last;
    }
}

/// <summary>What a generated frame was built as (before mutation), for the coverage table.</summary>
internal enum FuzzKind
{
    Noise, Template,
    AtaRead, AtaWrite, AtaIdentify, AtaFlush, AtaSetFeatures, AtaPowerSmart, AtaUnknown,
    ConfigRead, ConfigTest, ConfigSetIfEmpty, ConfigForceSet, ConfigUnknown,
    MaskRead, MaskEdit, MaskUnknown,
    ReserveRead, ReserveSet, ReserveForceSet, ReserveUnknown,
    UnknownCommand,
    Count,
}

/// <summary>
/// One round's target configuration, drawn from the round's seed: which hosts of
/// <see cref="FuzzPool"/> are on the accept, deny, admin-accept, Mac Mask and reserve lists (bit i =
/// host i; -1 = no such list, 0 = a list naming nobody), plus size, shelf/slot, flags, write cache.
/// </summary>
internal readonly record struct FuzzTargetConfig(
    ushort Shelf, byte Slot, ulong Sectors, bool ReadOnly, bool Shared, bool AnnounceByBroadcast, bool WriteCacheEnabled, bool WriteCachePinned,
    int Accept, int Deny, int Admin, int Mask, int Reserve, string Config, ushort BufferCount)
{
    public static FuzzTargetConfig Draw(ref FuzzRng rng)
    {
        ushort shelf = rng.Chance(70) ? AoeFrames.Shelf : (ushort)rng.Next(0xFFFF);
        byte slot = rng.Chance(70) ? AoeFrames.Slot : (byte)rng.Next(0xFF);
        ulong sectors = rng.Next(9) switch
        {
            0 => 0,
            1 => 1,
            2 => 3,
            3 => 1000,
            4 => 0x0FFF_FFFF + (ulong)rng.Next(3), // around the LBA28 limit
            5 => 0x1_0000_0000,
            6 => 0xFFFF_FFFF_FFFF,                 // every 48-bit LBA but the last
            7 => 0x1_0000_0000_0000,               // every 48-bit LBA
            _ => rng.NextU64() >> rng.Next(16, 64),
        };
        // Accept and mask lists include most hosts, so that most frames still reach the handlers.
        return new FuzzTargetConfig(shelf, slot, sectors,
            ReadOnly: rng.Chance(25),
            Shared: rng.Chance(20),
            AnnounceByBroadcast: rng.Chance(30), // the engine ignores it (README): no frame may behave differently
            WriteCacheEnabled: rng.Chance(50),
            WriteCachePinned: rng.Chance(50),
            Accept: rng.Next(10) switch { < 5 => -1, 5 => 0, _ => Subset(ref rng, 75) },
            Deny: rng.Chance(60) ? 0 : Subset(ref rng, 20),
            Admin: rng.Next(10) switch { < 4 => -1, 4 => 0, _ => Subset(ref rng, 50) },
            Mask: rng.Chance(55) ? 0 : Subset(ref rng, 70),
            Reserve: rng.Chance(60) ? 0 : Subset(ref rng, 40),
            Config: rng.Next(4) switch { 0 => "", 1 => "abc", 2 => "ggaoed fuzz", _ => new string('c', rng.Next(1, 1025)) },
            BufferCount: (ushort)rng.Next(0, 300));
    }

    private static int Subset(ref FuzzRng rng, int percent)
    {
        int bits = 0;
        for (int i = 0; i < FuzzPool.Hosts.Length; i++)
        {
            if (rng.Chance(percent))
                bits |= 1 << i;
        }
        return bits;
    }

    public AoeTarget Build()
    {
        var t = new AoeTarget(Shelf, Slot, Sectors)
        {
            ReadOnly = ReadOnly, Shared = Shared, AnnounceByBroadcast = AnnounceByBroadcast, BufferCount = BufferCount,
        };
        t.ConfigureWriteCache(WriteCacheEnabled, WriteCachePinned);
        t.AcceptList = FuzzPool.Set(Accept);
        t.DenyList = FuzzPool.Set(Deny) ?? MacSet.Empty;
        t.AdminAcceptList = FuzzPool.Set(Admin);
        t.ImportState(Encoding.ASCII.GetBytes(Config), FuzzPool.Macs(Mask), FuzzPool.Macs(Reserve));
        return t;
    }

    public override string ToString() =>
        $"shelf {Shelf} slot {Slot}, {Sectors} sectors, read-only {ReadOnly}, shared {Shared}, broadcast {AnnounceByBroadcast}, "
        + $"write cache {(WriteCacheEnabled ? "on" : "off")} {(WriteCachePinned ? "pinned" : "unpinned")}, "
        + $"accept {FuzzPool.Describe(Accept)}, deny {FuzzPool.Describe(Deny)}, admin-accept {FuzzPool.Describe(Admin)}, "
        + $"mask {FuzzPool.Describe(Mask)}, reserve {FuzzPool.Describe(Reserve)}, config length {Config.Length}, buffers {BufferCount}";
}

/// <summary>The initiator MACs the fuzz sends from and puts on lists.</summary>
internal static class FuzzPool
{
    public static readonly MacAddress[] Hosts =
    {
        Host, OtherHost,
        MacAddress.Parse("02:00:00:00:00:04"), MacAddress.Parse("02:00:00:00:00:05"),
        MacAddress.Parse("02:00:00:00:00:06"), MacAddress.Parse("0a:00:00:00:00:07"),
    };

    /// <summary>Filler for Mac Mask adds, 128 distinct MACs, so that edits can fill the 64-entry list.</summary>
    public static MacAddress Filler(int i) => new(0x02AA_0000_0000UL | (uint)i);

    public static MacSet? Set(int bits) => bits < 0 ? null : new MacSet(Macs(bits));

    public static MacAddress[] Macs(int bits)
    {
        if (bits <= 0)
            return [];
        var macs = new MacAddress[int.PopCount(bits)];
        int n = 0;
        for (int i = 0; i < Hosts.Length; i++)
        {
            if ((bits & (1 << i)) != 0)
                macs[n++] = Hosts[i];
        }
        return macs;
    }

    public static string Describe(int bits) => bits < 0 ? "unset" : bits == 0 ? "{}" : "{" + string.Join(",", Array.ConvertAll(Macs(bits), m => m.ToString()[^2..])) + "}";
}

/// <summary>
/// Builds one request frame in place: a command chosen by weight (every AoE command and
/// sub-command, the ATA commands the engine knows plus unknown ones, noise, the robustness
/// templates), addressed unicast or broadcast, from a pool host or a stranger, sometimes with a
/// bad version, padding, truncation or random byte mutations. Field values aim at the edges the
/// engine checks (sector counts around the interface maximum, LBAs around the device end and the
/// LBA28 limit, list sizes around capacity, lengths around the frame's).
/// </summary>
internal sealed class FuzzFrameGenerator
{
    private static readonly byte[] ReadCommands = { Ata.CmdReadSectors, Ata.CmdReadSectorsExt, Ata.CmdReadDmaExt, Ata.CmdReadDma };
    private static readonly byte[] WriteCommands = { Ata.CmdWriteSectors, Ata.CmdWriteSectorsExt, Ata.CmdWriteDmaExt, Ata.CmdWriteDma };
    private static readonly MacAddress Multicast = MacAddress.Parse("01:80:c2:00:00:0e");
    private static readonly MacAddress Stranger = MacAddress.Parse("02:00:00:00:00:99");
    private static readonly byte[][] Templates = AoeEngineRobustnessTests.Templates();

    /// <summary>Set by the last <see cref="Build"/>: the frame was cut short at random.</summary>
    public bool Truncated { get; private set; }

    public int Build(ref FuzzRng rng, byte[] f, AoeTarget t, in AoeInterface iface, out FuzzKind kind)
    {
        Truncated = false;
        int roll = rng.Next(100);
        int length;
        if (roll < 4)
        {
            kind = FuzzKind.Noise;
            length = rng.Next(0, 1600);
            rng.Fill(f.AsSpan(0, length));
            if (length >= 24 && rng.Chance(50))
            {
                WriteHeader(ref rng, f, t, iface, (byte)rng.Next(5));
                f[14] = 0x10;
            }
            return length;
        }
        if (roll < 9)
        {
            kind = FuzzKind.Template;
            byte[] template = Templates[rng.Next(Templates.Length)];
            template.CopyTo(f, 0);
            length = template.Length;
            if (rng.Chance(70))
                WriteAddress(ref rng, f, t);
            if (rng.Chance(50))
                ChooseSource(ref rng, t, ata: f[19] == 0).Write(f.AsSpan(6));
        }
        else if (roll < 45)
        {
            length = AtaRequest(ref rng, f, t, iface, out kind);
        }
        else if (roll < 60)
        {
            length = Config(ref rng, f, t, iface, out kind);
        }
        else if (roll < 75)
        {
            length = Mask(ref rng, f, t, iface, out kind);
        }
        else if (roll < 92)
        {
            length = Reserve(ref rng, f, t, iface, out kind);
        }
        else
        {
            kind = FuzzKind.UnknownCommand;
            byte command = rng.Chance(30) ? (byte)rng.Next(0xF0, 0x100) : (byte)rng.Next(4, 0x100);
            WriteHeader(ref rng, f, t, iface, command);
            length = 24 + rng.Next(0, 64);
            rng.Fill(f.AsSpan(24, length - 24));
        }

        // Real NICs pad to 60 bytes, veth and tap do not (AOE-NOTES 0.12); probes carry extra bytes (0.11).
        if (length < 60 && rng.Chance(40))
        {
            f.AsSpan(length, 60 - length).Clear();
            length = 60;
        }
        if (rng.Chance(4))
        {
            int extra = Math.Min(rng.Next(1, 1200), f.Length - length);
            f.AsSpan(length, extra).Clear();
            length += extra;
        }
        if (rng.Chance(15))
            length = Mutate(ref rng, f, length, t);
        if (rng.Chance(6))
        {
            length = rng.Next(0, length + 1);
            Truncated = true;
        }
        return length;
    }

    // ---- header ---------------------------------------------------------------------------------------

    private void WriteHeader(ref FuzzRng rng, byte[] f, AoeTarget t, in AoeInterface iface, byte command)
    {
        int d = rng.Next(100);
        MacAddress destination = d < 88 ? iface.Mac : d < 95 ? MacAddress.Broadcast : d < 97 ? Multicast : Stranger;
        destination.Write(f.AsSpan(0));
        ChooseSource(ref rng, t, ata: command == AoeWire.CmdAta).Write(f.AsSpan(6));
        f[12] = 0x88;
        f[13] = 0xA2;
        // The Linux initiator sends 0x10; other versions get AoE error 5; the Response flag is ignored
        // traffic; the Error flag and the two reserved bits mean nothing in a request.
        byte verFlags = 0x10;
        if (rng.Chance(4))
            verFlags = (byte)((rng.Next(2, 17) & 0x0F) << 4);
        if (rng.Chance(1))
            verFlags |= 0x08;
        if (rng.Chance(2))
            verFlags |= (byte)(rng.Next(8) & 0x07);
        f[14] = verFlags;
        f[15] = rng.Chance(2) ? rng.NextByte() : (byte)0;
        WriteAddress(ref rng, f, t);
        f[19] = command;
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(20), (uint)rng.NextU64());
    }

    /// <summary>Our shelf/slot most of the time; otherwise each kind of broadcast, or someone else's.</summary>
    private static void WriteAddress(ref FuzzRng rng, byte[] f, AoeTarget t)
    {
        int a = rng.Next(100);
        (ushort shelf, byte slot) = a switch
        {
            < 76 => (t.Shelf, t.Slot),
            < 84 => (AoeWire.BroadcastShelf, AoeWire.BroadcastSlot),
            < 88 => (AoeWire.BroadcastShelf, t.Slot),
            < 92 => (t.Shelf, AoeWire.BroadcastSlot),
            < 96 => (Other(ref rng, t.Shelf, AoeWire.BroadcastShelf), rng.Chance(50) ? t.Slot : AoeWire.BroadcastSlot),
            _ => (t.Shelf, (byte)Other(ref rng, t.Slot, AoeWire.BroadcastSlot)),
        };
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(16), shelf);
        f[18] = slot;
    }

    private static ushort Other(ref FuzzRng rng, int ours, int broadcast)
    {
        int v;
        do
            v = rng.Next(broadcast);
        while (v == ours);
        return (ushort)v;
    }

    /// <summary>
    /// Mostly a pool host the device answers (and, for ATA, one the reservation admits), so that
    /// lists and reservations filter part of the traffic instead of all of it; otherwise any pool
    /// host, a unicast stranger, the zero MAC or a group MAC (ignored).
    /// </summary>
    private MacAddress ChooseSource(ref FuzzRng rng, AoeTarget t, bool ata)
    {
        int s = rng.Next(100);
        if (s < 60)
        {
            int served = Served(t, ata);
            if (served != 0)
            {
                int pick = rng.Next(int.PopCount(served));
                for (int i = 0; ; i++)
                {
                    if ((served & (1 << i)) != 0 && pick-- == 0)
                        return FuzzPool.Hosts[i];
                }
            }
        }
        return s < 95 ? FuzzPool.Hosts[rng.Next(FuzzPool.Hosts.Length)]
            : s < 97 ? new MacAddress(rng.NextU64() & ~0x0100_0000_0000UL) // a unicast stranger
            : s < 98 ? MacAddress.Zero
            : Multicast;                                                    // group source: ignored
    }

    private AoeTarget? _servedTarget;
    private long _servedVersion;
    private int _visible, _admitted;

    /// <summary>The pool hosts the device answers (for ATA: and the reservation admits), as bits; recomputed when its state moves.</summary>
    private int Served(AoeTarget t, bool ata)
    {
        if (t != _servedTarget || t.StateVersion != _servedVersion)
        {
            _servedTarget = t;
            _servedVersion = t.StateVersion;
            _visible = _admitted = 0;
            for (int i = 0; i < FuzzPool.Hosts.Length; i++)
            {
                if (!t.IsVisibleTo(FuzzPool.Hosts[i]))
                    continue;
                _visible |= 1 << i;
                if (!t.IsReservedAgainst(FuzzPool.Hosts[i]))
                    _admitted |= 1 << i;
            }
        }
        return ata ? _admitted : _visible;
    }

    // ---- ATA ------------------------------------------------------------------------------------------

    private int AtaRequest(ref FuzzRng rng, byte[] f, AoeTarget t, in AoeInterface iface, out FuzzKind kind)
    {
        WriteHeader(ref rng, f, t, iface, AoeWire.CmdAta);
        int r = rng.Next(30);
        byte aflags = rng.Next(5) switch { 0 => 0, 1 => AoeWire.AflagLba48, 2 => AoeWire.AflagWrite, 3 => AoeWire.AflagLba48 | AoeWire.AflagWrite, _ => rng.NextByte() };
        byte feature = 0, count = 0, command;
        ulong lba = 0;
        int payload = 0;
        if (r < 18)
        {
            bool write = r >= 9;
            kind = write ? FuzzKind.AtaWrite : FuzzKind.AtaRead;
            command = (write ? WriteCommands : ReadCommands)[rng.Next(4)];
            int max = Math.Max(iface.MaxSectors, 1);
            int c = rng.Next(100);
            count = c < 60 ? (byte)rng.Next(1, max + 1) : c < 75 ? (byte)0 : c < 90 ? (byte)Math.Min(255, max + rng.Next(1, 4)) : rng.NextByte();
            lba = Lba(ref rng, t.SectorCount, count, lba48: command is Ata.CmdReadSectorsExt or Ata.CmdReadDmaExt or Ata.CmdWriteSectorsExt or Ata.CmdWriteDmaExt);
            int bytes = count * 512;
            int p = rng.Next(100);
            payload = write
                ? (p < 75 ? bytes : p < 90 ? rng.Next(0, Math.Max(bytes, 1)) : bytes + rng.Next(1, 1024))
                : (p < 10 ? bytes : 0); // Linux's probe: a read padded with as many bytes as it asks for
        }
        else if (r < 21)
        {
            kind = FuzzKind.AtaIdentify;
            command = Ata.CmdIdentify;
            count = 1;
            lba = 0xA0UL << 24;
            if (rng.Chance(10))
                payload = Math.Max(0, iface.MaxFrameLength - 36); // aoe-sancheck pads IDENTIFY to the MTU
        }
        else if (r < 23)
        {
            kind = FuzzKind.AtaFlush;
            command = rng.Chance(50) ? Ata.CmdFlushCache : Ata.CmdFlushCacheExt;
        }
        else if (r < 26)
        {
            kind = FuzzKind.AtaSetFeatures;
            command = Ata.CmdSetFeatures;
            feature = rng.Next(5) switch { < 2 => Ata.FeatureEnableWriteCache, < 4 => Ata.FeatureDisableWriteCache, _ => rng.NextByte() };
        }
        else if (r < 27)
        {
            kind = FuzzKind.AtaPowerSmart;
            command = rng.Chance(50) ? Ata.CmdCheckPowerMode : Ata.CmdSmart;
            feature = rng.Chance(70) ? Ata.SmartReturnStatus : rng.NextByte();
            lba = rng.NextU64() >> 16;
        }
        else
        {
            kind = FuzzKind.AtaUnknown;
            command = rng.NextByte();
            feature = rng.NextByte();
            count = rng.NextByte();
            lba = rng.NextU64() >> 16;
        }
        f[24] = aflags;
        f[25] = feature;
        f[26] = count;
        f[27] = command;
        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(28), (uint)lba);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(32), (ushort)(lba >> 32));
        f[34] = f[35] = 0;
        payload = Math.Min(payload, f.Length - 36 - 1300); // room for the padding added later
        return 36 + payload; // the payload bytes are whatever the buffer held: data is not looked at
    }

    /// <summary>An LBA near the start, near the device's end, at random, or around the LBA28 limit.</summary>
    private static ulong Lba(ref FuzzRng rng, ulong sectors, int count, bool lba48)
    {
        int r = rng.Next(100);
        ulong lba;
        if (r < 35)
            lba = (ulong)rng.Next(0, 16);
        else if (r < 65)
            lba = sectors - (ulong)count + (ulong)rng.Next(-2, 3); // wraps below 0 on tiny devices: far out
        else if (r < 80)
            lba = rng.NextU64();
        else
            lba = 0x0FFF_FFFFUL - (ulong)rng.Next(0, 3) + (ulong)rng.Next(0, 3);
        lba &= 0xFFFF_FFFF_FFFFUL;
        // LBA28 as Linux sends it: 0xE0 | bits 24-27 in lba3 (AOE-NOTES 0.9), sometimes junk above.
        if (!lba48 && rng.Chance(70))
            lba = (lba & 0x0FFF_FFFF) | (0xE0UL << 24) | (rng.Chance(20) ? (rng.NextU64() & 0xFFFF) << 32 : 0);
        return lba;
    }

    // ---- Query Config -----------------------------------------------------------------------------------

    private int Config(ref FuzzRng rng, byte[] f, AoeTarget t, in AoeInterface iface, out FuzzKind kind)
    {
        WriteHeader(ref rng, f, t, iface, AoeWire.CmdQueryConfig);
        int r = rng.Next(18);
        byte ccmd;
        (kind, ccmd) = r switch
        {
            < 5 => (FuzzKind.ConfigRead, AoeWire.CCmdRead),
            < 11 => (FuzzKind.ConfigTest, r < 8 ? AoeWire.CCmdTestExact : AoeWire.CCmdTestPrefix),
            < 14 => (FuzzKind.ConfigSetIfEmpty, AoeWire.CCmdSetIfEmpty),
            < 17 => (FuzzKind.ConfigForceSet, AoeWire.CCmdForceSet),
            _ => (FuzzKind.ConfigUnknown, (byte)rng.Next(5, 16)),
        };
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(24), (ushort)rng.Next(3));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(26), 0);
        f[28] = 0;
        // Linux leaves the version nibble 0 (AOE-NOTES 0.2); some tools put 1 there.
        f[29] = (byte)((rng.Chance(70) ? 0 : rng.Next(16)) << 4 | ccmd);
        ReadOnlySpan<byte> current = t.ConfigString;
        int s = rng.Next(100);
        int length;
        Span<byte> value = f.AsSpan(32);
        if (s < 30)
        {
            current.CopyTo(value);
            length = current.Length;
        }
        else if (s < 50)
        {
            length = current.Length == 0 ? 0 : rng.Next(0, current.Length + 1);
            current.Slice(0, length).CopyTo(value);
        }
        else if (s < 80)
        {
            length = rng.Next(0, 9);
            for (int i = 0; i < length; i++)
                value[i] = (byte)('a' + rng.Next(3));
        }
        else if (s < 95)
        {
            length = rng.Next(0, 65);
            rng.Fill(value.Slice(0, length));
        }
        else
        {
            length = rng.Next(900, 1100); // up to and past the 1024-byte maximum
            value.Slice(0, length).Fill((byte)'c');
        }
        int field = rng.Chance(85) ? length : rng.Chance(50) ? rng.Next(0, 2000) : length + rng.Next(-3, 4);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(30), (ushort)Math.Clamp(field, 0, 0xFFFF));
        return 32 + length;
    }

    // ---- Mac Mask List ------------------------------------------------------------------------------------

    private int Mask(ref FuzzRng rng, byte[] f, AoeTarget t, in AoeInterface iface, out FuzzKind kind)
    {
        WriteHeader(ref rng, f, t, iface, AoeWire.CmdMacMask);
        int r = rng.Next(16);
        byte mcmd;
        (kind, mcmd) = r switch
        {
            < 4 => (FuzzKind.MaskRead, AoeWire.MCmdRead),
            < 15 => (FuzzKind.MaskEdit, AoeWire.MCmdEdit),
            _ => (FuzzKind.MaskUnknown, (byte)rng.Next(2, 256)),
        };
        f[24] = 0;
        f[25] = mcmd;
        f[26] = rng.Chance(5) ? rng.NextByte() : (byte)0;
        int n;
        int shape = rng.Next(100);
        if (kind != FuzzKind.MaskEdit || shape < 10)
            n = 0;
        else if (shape < 80)
            n = rng.Next(1, 5);
        else
            n = rng.Next(20, 90); // bulk adds: the list fills up (MError 3)
        bool bulk = n >= 20;
        for (int i = 0; i < n; i++)
        {
            Span<byte> d = f.AsSpan(28 + 8 * i, 8);
            d[0] = 0;
            int c = rng.Next(100);
            d[1] = bulk ? (c < 95 ? AoeWire.DCmdAdd : AoeWire.DCmdDelete)
                : c < 50 ? AoeWire.DCmdAdd : c < 85 ? AoeWire.DCmdDelete : c < 95 ? AoeWire.DCmdNone : (byte)rng.Next(3, 256);
            MacAddress mac = bulk && rng.Chance(90) ? FuzzPool.Filler(rng.Next(128)) : FuzzPool.Hosts[rng.Next(FuzzPool.Hosts.Length)];
            mac.Write(d.Slice(2));
        }
        // Sometimes the count claims more directives than the frame holds.
        f[27] = (byte)(rng.Chance(5) ? Math.Min(255, n + rng.Next(1, 4)) : n);
        return 28 + 8 * n;
    }

    // ---- Reserve/Release ----------------------------------------------------------------------------------

    private int Reserve(ref FuzzRng rng, byte[] f, AoeTarget t, in AoeInterface iface, out FuzzKind kind)
    {
        WriteHeader(ref rng, f, t, iface, AoeWire.CmdReserve);
        int r = rng.Next(14);
        byte rcmd;
        (kind, rcmd) = r switch
        {
            < 4 => (FuzzKind.ReserveRead, AoeWire.RCmdRead),
            < 8 => (FuzzKind.ReserveSet, AoeWire.RCmdSet),
            < 12 => (FuzzKind.ReserveForceSet, AoeWire.RCmdForceSet),
            _ => (FuzzKind.ReserveUnknown, (byte)rng.Next(3, 256)),
        };
        f[24] = rcmd;
        int shape = rng.Next(100);
        int n = shape < 20 ? 0 : shape < 90 ? rng.Next(1, 4) : rng.Next(60, 70); // release, a few, about the capacity
        MacAddress source = MacAddress.Read(f.AsSpan(6));
        for (int i = 0; i < n; i++)
        {
            MacAddress mac = i == 0 && (n > 4 || rng.Chance(60)) ? source
                : n > 4 ? (i < FuzzPool.Hosts.Length ? FuzzPool.Hosts[i] : FuzzPool.Filler(i))
                : rng.Chance(15) && i > 0 ? MacAddress.Read(f.AsSpan(26 + 6 * (i - 1))) // a duplicate
                : FuzzPool.Hosts[rng.Next(FuzzPool.Hosts.Length)];
            mac.Write(f.AsSpan(26 + 6 * i));
        }
        f[25] = (byte)(rng.Chance(5) ? Math.Min(255, n + rng.Next(1, 4)) : n);
        return 26 + 6 * n;
    }

    // ---- mutation -----------------------------------------------------------------------------------------

    /// <summary>One to three of the robustness test's mutations: bit flips, counts, LBAs, versions, addresses, commands, lengths.</summary>
    private static int Mutate(ref FuzzRng rng, byte[] f, int length, AoeTarget t)
    {
        int mutations = rng.Next(1, 4);
        for (int m = 0; m < mutations; m++)
        {
            switch (rng.Next(11))
            {
                case 0: if (length > 0) f[rng.Next(length)] ^= (byte)(1 << rng.Next(8)); break;
                case 1: if (length > 0) f[rng.Next(length)] = rng.NextByte(); break;
                case 2: if (length > 26) f[26] = rng.NextByte(); break;
                case 3: if (length > 33) rng.Fill(f.AsSpan(28, 6)); break;
                case 4:
                    if (length > 33)
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(f.AsSpan(28), (uint)(t.SectorCount - (ulong)rng.Next(0, 20)));
                        f[32] = f[33] = 0;
                    }
                    break;
                case 5: f[14] = (byte)(rng.Next(16) << 4 | (f[14] & 0x0F)); break;
                case 6: if (length > 27) f[27] = rng.NextByte(); break;
                case 7: f[19] = (byte)rng.Next(6); break;
                case 8: FuzzPool.Hosts[rng.Next(FuzzPool.Hosts.Length)].Write(f.AsSpan(6)); break;
                case 9: if (length > 31) BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(30), (ushort)rng.Next(2000)); break;
                case 10: if (length > 25) f[25] = rng.NextByte(); break;
            }
        }
        return length;
    }
}
