using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Ggaoed.Daemon;
using Ggaoed.Initiator;

namespace Ggaoed.Ctl;

/// <summary><c>ggaoectl discover IFACE [--timeout S] [--json]</c>: lists every AoE target answering on a link.</summary>
public static class DiscoverCommand
{
    public const string Usage = "usage: ggaoectl discover IFACE [--timeout S] [--json]";

    public static int Run(string[] args)
    {
        string? iface = null;
        double timeout = 1.0;
        bool json = false;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--timeout": timeout = double.Parse(CtlArgs.Value(args, ref i), CultureInfo.InvariantCulture); break;
                    case "--json": json = true; break;
                    case "-h":
                    case "--help":
                        Console.WriteLine(Usage);
                        return 0;
                    default:
                        CtlArgs.Interface(args[i], ref iface);
                        break;
                }
            }
            if (iface == null)
                throw new FormatException("missing interface");
            if (timeout <= 0 || timeout > 3600)
                throw new FormatException("--timeout must be in (0, 3600] seconds");
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            Console.Error.WriteLine("discover: " + e.Message);
            Console.Error.WriteLine(Usage);
            return 2;
        }

        List<DiscoveredTarget> targets;
        int mtu;
        try
        {
            using var client = new AoeClient(iface);
            mtu = client.Mtu;
            targets = client.Discover(TimeSpan.FromSeconds(timeout));
        }
        catch (Exception e) when (e is System.IO.IOException or ArgumentException)
        {
            Console.Error.WriteLine("discover: " + e.Message);
            return 1;
        }
        Console.Write(json ? FormatJson(targets, mtu) : FormatTable(targets, mtu));
        if (!json && targets.Count == 0)
            Console.Error.WriteLine($"discover: no AoE target answered on {iface} within {timeout.ToString(CultureInfo.InvariantCulture)} s");
        return 0;
    }

    /// <summary>One row per target under a header; nothing at all when no target answered (a header
    /// with no rows would only stand in front of the message on stderr).</summary>
    internal static string FormatTable(List<DiscoveredTarget> targets, int mtu)
    {
        if (targets.Count == 0)
            return "";
        var rows = new List<string[]>
        {
            new[] { "shelf.slot", "MAC", "size", "sectors/frame", "bufcnt", "fw", "config-string" },
        };
        foreach (DiscoveredTarget t in targets)
        {
            rows.Add(new[]
            {
                t.Address,
                DiscoveredTarget.FormatMac(t.Mac),
                t.Identify == null ? "?" : FormatSize(t.Sectors * AoeWire.SectorSize),
                t.MaxSectorsPerFrame(mtu).ToString(CultureInfo.InvariantCulture),
                t.Config.BufferCount.ToString(CultureInfo.InvariantCulture),
                "0x" + t.Config.FirmwareVersion.ToString("x4", CultureInfo.InvariantCulture),
                Printable(t.Config.ConfigString),
            });
        }
        return TextTable.Append(new StringBuilder(), rows).ToString();
    }

    internal static string FormatJson(List<DiscoveredTarget> targets, int mtu)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < targets.Count; i++)
        {
            DiscoveredTarget t = targets[i];
            if (i > 0)
                sb.Append(',');
            sb.Append("\n  {\"shelf\": ").Append(t.Shelf)
              .Append(", \"slot\": ").Append(t.Slot)
              .Append(", \"mac\": \"").Append(DiscoveredTarget.FormatMac(t.Mac)).Append('"')
              .Append(", \"sectors\": ").Append(t.Sectors)
              .Append(", \"bytes\": ").Append(t.Sectors * AoeWire.SectorSize)
              .Append(", \"lba48\": ").Append(t.Lba48 ? "true" : "false")
              .Append(", \"sectors_per_frame\": ").Append(t.MaxSectorsPerFrame(mtu))
              .Append(", \"advertised_sectors\": ").Append(t.Config.SectorCount)
              .Append(", \"bufcnt\": ").Append(t.Config.BufferCount)
              .Append(", \"fw\": ").Append(t.Config.FirmwareVersion)
              .Append(", \"config\": ").Append(JsonString(Encoding.Latin1.GetString(t.Config.ConfigString)))
              .Append(", \"model\": ").Append(JsonString(t.Identify?.Model ?? ""))
              .Append(", \"serial\": ").Append(JsonString(t.Identify?.Serial ?? ""))
              .Append(", \"identified\": ").Append(t.Identify != null ? "true" : "false")
              .Append('}');
        }
        sb.Append(targets.Count > 0 ? "\n]\n" : "]\n");
        return sb.ToString();
    }

    /// <summary>Binary units, one decimal: 1073741824 → "1.0 GiB".</summary>
    internal static string FormatSize(ulong bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return u == 0 ? bytes + " B" : v.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[u];
    }

    private static string Printable(byte[] s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (byte b in s)
            sb.Append(b >= 0x20 && b < 0x7F ? (char)b : '.');
        return sb.ToString();
    }

    internal static string JsonString(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                default:
                    if (c < 0x20 || c > 0x7E)
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
