using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ggaoed.Initiator;

namespace Ggaoed.Ctl;

/// <summary>
/// <c>ggaoectl bench IFACE --target S.L [...]</c>: an AoE load generator. Keeps N single-frame requests
/// outstanding for a fixed time and reports IOPS, throughput and latency percentiles.
/// </summary>
public static class BenchCommand
{
    public const string Usage =
        "usage: ggaoectl bench IFACE --target S.L [--depth N] [--size BYTES | --sectors N]\n" +
        "         [--rw randread|randwrite|read|write] [--duration S] [--range-mib N] [--seed N] [--rto-ms N] [--spin] [--json]\n" +
        "  --sectors defaults to the largest that fits: min((mtu - 36) / 512, the target's advertised count)\n" +
        "  --spin busy-polls for answers instead of sleeping in recvmmsg: one CPU at 100 %, less wake-up latency";

    internal sealed class Options
    {
        public string Iface = "";
        public ushort Shelf;
        public byte Slot;
        public int Depth = 16;
        public int Sectors; // 0 = largest that fits
        public BenchPattern Pattern = BenchPattern.RandRead;
        public double Duration = 5;
        public ulong RangeMib; // 0 = whole device
        public ulong Seed = 0x9E3779B97F4A7C15;
        /// <summary>First retransmit timeout: Linux's initial RTO is 250 ms; 200 ms keeps loss visible in short runs.</summary>
        public int RtoMs = 200;
        public bool Spin;
        public bool Json;
    }

    internal static Options Parse(string[] args)
    {
        var o = new Options();
        bool haveTarget = false;
        string? iface = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--target":
                    if (!DiscoveredTarget.TryParseAddress(CtlArgs.Value(args, ref i), out o.Shelf, out o.Slot))
                        throw new FormatException("--target wants shelf.slot, e.g. 1.1");
                    haveTarget = true;
                    break;
                case "--depth": o.Depth = int.Parse(CtlArgs.Value(args, ref i), CultureInfo.InvariantCulture); break;
                case "--sectors": o.Sectors = int.Parse(CtlArgs.Value(args, ref i), CultureInfo.InvariantCulture); break;
                case "--size":
                    int bytes = int.Parse(CtlArgs.Value(args, ref i), CultureInfo.InvariantCulture);
                    if (bytes <= 0 || bytes % AoeWire.SectorSize != 0)
                        throw new FormatException("--size must be a positive multiple of " + AoeWire.SectorSize);
                    o.Sectors = bytes / AoeWire.SectorSize;
                    break;
                case "--rw":
                    o.Pattern = CtlArgs.Value(args, ref i) switch
                    {
                        "randread" => BenchPattern.RandRead,
                        "randwrite" => BenchPattern.RandWrite,
                        "read" => BenchPattern.SeqRead,
                        "write" => BenchPattern.SeqWrite,
                        string s => throw new FormatException("unknown --rw " + s),
                    };
                    break;
                case "--duration": o.Duration = double.Parse(CtlArgs.Value(args, ref i), CultureInfo.InvariantCulture); break;
                case "--range-mib": o.RangeMib = ulong.Parse(CtlArgs.Value(args, ref i), CultureInfo.InvariantCulture); break;
                case "--seed": o.Seed = ulong.Parse(CtlArgs.Value(args, ref i), CultureInfo.InvariantCulture); break;
                case "--rto-ms": o.RtoMs = int.Parse(CtlArgs.Value(args, ref i), CultureInfo.InvariantCulture); break;
                case "--spin": o.Spin = true; break;
                case "--json": o.Json = true; break;
                default:
                    CtlArgs.Interface(args[i], ref iface);
                    break;
            }
        }
        if (iface == null)
            throw new FormatException("missing interface");
        if (!haveTarget)
            throw new FormatException("missing --target S.L");
        if (o.Depth < 1 || o.Depth > AoePipeline.MaxDepth)
            throw new FormatException($"--depth must be 1..{AoePipeline.MaxDepth}");
        if (o.Sectors < 0 || o.Sectors > 255)
            throw new FormatException("--sectors must be 1..255");
        if (o.RtoMs < 1 || o.RtoMs > 60_000)
            throw new FormatException("--rto-ms must be 1..60000");
        if (o.Duration <= 0 || o.Duration > 86400)
            throw new FormatException("--duration must be in (0, 86400] seconds");
        o.Iface = iface;
        return o;
    }

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] is "-h" or "--help")
        {
            Console.WriteLine(Usage);
            return 0;
        }
        Options o;
        try
        {
            o = Parse(args);
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            Console.Error.WriteLine("bench: " + e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        try
        {
            using var client = new AoeClient(o.Iface);
            // A config query addressed to the one target (still to the broadcast MAC: we don't know its MAC yet).
            List<DiscoveredTarget> found = client.Discover(TimeSpan.FromSeconds(1), o.Shelf, o.Slot);
            if (found.Count == 0)
            {
                Console.Error.WriteLine($"bench: no answer from e{o.Shelf}.{o.Slot} on {o.Iface}");
                return 1;
            }
            DiscoveredTarget target = found[0];
            if (target.Identify == null)
            {
                Console.Error.WriteLine($"bench: e{o.Shelf}.{o.Slot} did not answer IDENTIFY");
                return 1;
            }
            int maxSectors = target.MaxSectorsPerFrame(client.Mtu);
            int sectors = o.Sectors == 0 ? maxSectors : o.Sectors;
            if (sectors < 1 || AoeWire.AtaHeaderLength + sectors * AoeWire.SectorSize > client.Mtu + 14)
            {
                Console.Error.WriteLine($"bench: {sectors} sectors don't fit a frame on MTU {client.Mtu} (max {AoeWire.SectorsForMtu(client.Mtu)})");
                return 2;
            }
            ulong range = o.RangeMib == 0 ? target.Sectors : Math.Min(target.Sectors, o.RangeMib * 2048);
            if (range < (ulong)sectors)
            {
                Console.Error.WriteLine($"bench: target has {target.Sectors} sectors, fewer than one request");
                return 1;
            }
            var pipe = new AoePipeline(client.Socket, target, o.Depth, sectors, o.Pattern, 0, range, o.Seed)
            {
                RetransmitTimeout = TimeSpan.FromMilliseconds(o.RtoMs),
                Spin = o.Spin,
            };
            // 200 ms warm-up, not measured: the first requests pay for page faults in the buffers and in
            // the target (and for the JIT when not published), which would otherwise land in the tail.
            pipe.Run(TimeSpan.FromMilliseconds(200));
            pipe.Histogram.Reset();
            PipelineResult r = pipe.Run(TimeSpan.FromSeconds(o.Duration));
            Console.Write(o.Json ? FormatJson(o, target, client, sectors, r, pipe.Histogram) : FormatText(o, target, client, sectors, r, pipe.Histogram));
            return r.Errors == 0 && r.Completed > 0 ? 0 : 1;
        }
        catch (Exception e) when (e is System.IO.IOException or ArgumentException or AoeException)
        {
            Console.Error.WriteLine("bench: " + e.Message);
            return 1;
        }
    }

    private static string PatternName(BenchPattern p) => p switch
    {
        BenchPattern.RandRead => "randread",
        BenchPattern.RandWrite => "randwrite",
        BenchPattern.SeqRead => "read",
        _ => "write",
    };

    private static double Us(long ticks) => ticks * 1e6 / Stopwatch.Frequency;

    private static string F(double v, string format = "0.0") => v.ToString(format, CultureInfo.InvariantCulture);

    internal static string FormatText(Options o, DiscoveredTarget t, AoeClient c, int sectors, PipelineResult r, LatencyHistogram h)
    {
        double secs = Math.Max(r.Seconds, 1e-9);
        var sb = new StringBuilder();
        sb.Append($"e{t.Address} ({DiscoveredTarget.FormatMac(t.Mac)}) via {c.Interface} mtu {c.Mtu}: {PatternName(o.Pattern)}, {sectors * AoeWire.SectorSize} B/request, depth {o.Depth}, {F(secs, "0.00")} s\n");
        sb.Append($"  IOPS {F(r.Completed / secs, "0")}   {F(r.Bytes / secs / 1e6, "0.0")} MB/s   requests {r.Completed}\n");
        sb.Append($"  latency us: avg {F(Us((long)h.Mean))}  p50 {F(Us(h.Percentile(50)))}  p90 {F(Us(h.Percentile(90)))}  p99 {F(Us(h.Percentile(99)))}  p99.9 {F(Us(h.Percentile(99.9)))}  max {F(Us(h.Max))}\n");
        sb.Append($"  retransmits {r.Retransmits}  errors {r.Errors} (ata {r.AtaErrors}, aoe {r.AoeErrors}, timed out {r.TimedOut})  unexpected {r.Unexpected}\n");
        if (r.AtaErrors > 0)
            sb.Append($"  first ATA error: status 0x{r.FirstErrorStatus:x2} error 0x{r.FirstErrorRegister:x2}\n");
        return sb.ToString();
    }

    internal static string FormatJson(Options o, DiscoveredTarget t, AoeClient c, int sectors, PipelineResult r, LatencyHistogram h)
    {
        double secs = Math.Max(r.Seconds, 1e-9);
        var sb = new StringBuilder("{");
        sb.Append("\"target\": \"").Append(t.Address).Append('"');
        sb.Append(", \"iface\": ").Append(DiscoverCommand.JsonString(c.Interface));
        sb.Append(", \"mtu\": ").Append(c.Mtu);
        sb.Append(", \"rw\": \"").Append(PatternName(o.Pattern)).Append('"');
        sb.Append(", \"depth\": ").Append(o.Depth);
        sb.Append(", \"bytes_per_request\": ").Append(sectors * AoeWire.SectorSize);
        sb.Append(", \"seconds\": ").Append(F(secs, "0.000"));
        sb.Append(", \"requests\": ").Append(r.Completed);
        sb.Append(", \"iops\": ").Append(F(r.Completed / secs, "0"));
        sb.Append(", \"mb_per_s\": ").Append(F(r.Bytes / secs / 1e6, "0.0"));
        sb.Append(", \"lat_us\": {\"avg\": ").Append(F(Us((long)h.Mean)));
        sb.Append(", \"p50\": ").Append(F(Us(h.Percentile(50))));
        sb.Append(", \"p90\": ").Append(F(Us(h.Percentile(90))));
        sb.Append(", \"p99\": ").Append(F(Us(h.Percentile(99))));
        sb.Append(", \"p99_9\": ").Append(F(Us(h.Percentile(99.9))));
        sb.Append(", \"max\": ").Append(F(Us(h.Max))).Append('}');
        sb.Append(", \"retransmits\": ").Append(r.Retransmits);
        sb.Append(", \"errors\": ").Append(r.Errors);
        sb.Append(", \"ata_errors\": ").Append(r.AtaErrors);
        sb.Append(", \"aoe_errors\": ").Append(r.AoeErrors);
        sb.Append(", \"timed_out\": ").Append(r.TimedOut);
        sb.Append(", \"unexpected\": ").Append(r.Unexpected);
        sb.Append("}\n");
        return sb.ToString();
    }
}
