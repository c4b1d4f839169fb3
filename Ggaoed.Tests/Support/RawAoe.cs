using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Threading;
using Ggaoed.Initiator;
using Xunit;

namespace Ggaoed.Tests.Support;

/// <summary>
/// Requests our initiator library will not send (broadcast state changes, ATA to a broadcast address,
/// SET FEATURES, writes whose count and data disagree), sent as raw frames over a test initiator's
/// packet socket. Frames are built byte by byte by <see cref="Ggaoed.Tests.Protocol.AoeFrames"/>;
/// <see cref="Address"/> points one at a real target with a fresh tag, and the replies are collected
/// by that tag, so a test can count the answers it gets, none included.
/// </summary>
internal static class RawAoe
{
    public static readonly byte[] BroadcastMac = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

    private static int s_tag = Random.Shared.Next(0, 0x1000_0000);

    /// <summary>
    /// A copy of <paramref name="frame"/> sent from <paramref name="source"/> to <paramref name="destination"/>
    /// (a MAC or <see cref="BroadcastMac"/>), for <paramref name="shelf"/>.<paramref name="slot"/>, with a tag
    /// no other request of this test run carries.
    /// </summary>
    public static byte[] Address(byte[] frame, ReadOnlySpan<byte> destination, ReadOnlySpan<byte> source, ushort shelf, byte slot)
    {
        byte[] copy = (byte[])frame.Clone();
        destination.CopyTo(copy);
        source.CopyTo(copy.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(16), shelf);
        copy[18] = slot;
        BinaryPrimitives.WriteUInt32BigEndian(copy.AsSpan(20), 0x6000_0000u | (uint)Interlocked.Increment(ref s_tag));
        return copy;
    }

    public static uint Tag(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadUInt32BigEndian(frame.Slice(20));

    /// <summary>
    /// Sends every frame once, then returns the responses carrying one of their tags: waits for
    /// <paramref name="expected"/> of them (up to 10 s), then <paramref name="settle"/> more for any too
    /// many (see <see cref="Answers.Collect"/>). Veth loses nothing, so one send is enough.
    /// </summary>
    public static List<byte[]> Exchange(PacketSocket socket, IReadOnlyList<byte[]> frames, int expected, TimeSpan settle)
    {
        var tags = new HashSet<uint>();
        foreach (byte[] f in frames)
        {
            Assert.True(tags.Add(Tag(f)), "two frames with one tag");
            Assert.True(socket.Send(f), "send failed");
        }
        return Answers.Collect(socket, rx => rx.Length >= AoeWire.HeaderLength
            && BinaryPrimitives.ReadUInt16BigEndian(rx.AsSpan(12)) == AoeWire.EtherType
            && (rx[14] & AoeWire.FlagResponse) != 0 && tags.Contains(Tag(rx)), expected, settle);
    }

    /// <summary>Sends one request and returns its one reply (asserting there is exactly one).</summary>
    public static byte[] Ask(PacketSocket socket, byte[] frame)
    {
        List<byte[]> replies = Exchange(socket, [frame], 1, TimeSpan.FromMilliseconds(200));
        Assert.True(replies.Count == 1, $"{replies.Count} replies to tag 0x{Tag(frame):x8} (command {frame[19]}), expected one");
        return replies[0];
    }

    /// <summary>AoE Error flag set in a reply.</summary>
    public static bool IsAoeError(ReadOnlySpan<byte> reply) => (reply[14] & AoeWire.FlagError) != 0;
}
