using System;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Ggaoed.Initiator;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// The AoE commands the initiator library has no call for (AoEr11 3.2 Query Config set, 3.3 Mac Mask
/// List, 3.4 Reserve/Release), built byte by byte here and sent over the initiator's packet socket.
/// </summary>
internal static class AoeRequests
{
    public const byte CommandMacMask = 2;
    public const byte CommandReserve = 3;

    /// <summary>Config command 4: set the config string unconditionally.</summary>
    public const byte ConfigForceSet = 4;
    public const byte MaskEdit = 1;
    public const byte DirectiveAdd = 1;
    public const byte ReserveSet = 1;

    /// <summary>A response: the whole frame and whether the Error flag was set.</summary>
    public readonly record struct Reply(byte[] Frame, bool IsError, byte Error);

    public static Reply ForceSetConfig(AoeClient client, DiscoveredTarget target, string value)
    {
        byte[] text = Encoding.ASCII.GetBytes(value);
        var arg = new byte[8 + text.Length];
        arg[5] = ConfigForceSet; // version nibble 0, as Linux sends it
        BinaryPrimitives.WriteUInt16BigEndian(arg.AsSpan(6), (ushort)text.Length);
        text.CopyTo(arg, 8);
        return Call(client, target, AoeWire.CommandConfig, arg);
    }

    public static Reply AddToMaskList(AoeClient client, DiscoveredTarget target, ReadOnlySpan<byte> mac)
    {
        var arg = new byte[4 + 8];
        arg[1] = MaskEdit;
        arg[3] = 1; // one directive
        arg[5] = DirectiveAdd;
        mac.CopyTo(arg.AsSpan(6));
        return Call(client, target, CommandMacMask, arg);
    }

    public static Reply Reserve(AoeClient client, DiscoveredTarget target, ReadOnlySpan<byte> mac)
    {
        var arg = new byte[2 + 6];
        arg[0] = ReserveSet;
        arg[1] = 1;
        mac.CopyTo(arg.AsSpan(2));
        return Call(client, target, CommandReserve, arg);
    }

    /// <summary>Sends one request and waits for the response with its tag (three tries of a second each).</summary>
    public static Reply Call(AoeClient client, DiscoveredTarget target, byte command, ReadOnlySpan<byte> arg)
    {
        int length = Math.Max(AoeWire.MinFrame, AoeWire.HeaderLength + arg.Length);
        var frame = new byte[length];
        var rx = new byte[65536];
        for (int attempt = 0; attempt < 3; attempt++)
        {
            uint tag = client.NextTag();
            AoeWire.WriteHeader(frame, target.Mac, client.Mac, target.Shelf, target.Slot, command, tag);
            arg.CopyTo(frame.AsSpan(AoeWire.HeaderLength));
            client.Socket.Send(frame);
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(1))
            {
                int n = client.Socket.Receive(rx);
                if (n == 0 || !AoeWire.TryParseResponse(rx.AsSpan(0, n), out AoeResponseHeader h) || h.Tag != tag)
                    continue;
                return new Reply(rx.AsSpan(0, n).ToArray(), h.IsError, h.Error);
            }
        }
        throw new AoeTimeoutException($"{target.Address}: no answer to AoE command {command}");
    }
}
