using System;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Threading;
using Ggaoed.Native;
using Ggaoed.Network;
using Ggaoed.Tests.Support;

namespace Ggaoed.Tests.Network;

/// <summary>
/// The initiator side of a test: a plain AF_PACKET socket for EtherType 0x88A2 on one interface, with
/// no filter (it sees responses), opened inside the initiator's network namespace.
/// </summary>
internal sealed unsafe class RawPeer : IDisposable
{
    private readonly int _fd;

    private RawPeer(int fd, InterfaceInfo info)
    {
        _fd = fd;
        Info = info;
    }

    public InterfaceInfo Info { get; }

    public int Fd => _fd;

    public static RawPeer Open(string netns, string interfaceName) => InNetNs.Run(netns, () =>
    {
        int fd = Libc.socket(Libc.AF_PACKET, Libc.SOCK_RAW | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
            throw new InvalidOperationException("socket: " + Marshal.GetLastPInvokeError());
        InterfaceInfo info = InterfaceInfo.Query(fd, interfaceName);
        int one = 1;
        Libc.setsockopt(fd, Packet.SOL_PACKET, Packet.PACKET_IGNORE_OUTGOING, &one, 4);
        // Bulk tests queue thousands of frames here before reading them.
        int big = 64 << 20;
        Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUFFORCE, &big, 4);
        Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_SNDBUFFORCE, &big, 4);
        var addr = new sockaddr_ll
        {
            sll_family = Libc.AF_PACKET,
            sll_protocol = BinaryPrimitives.ReverseEndianness((ushort)Packet.ETH_P_AOE),
            sll_ifindex = info.Index,
        };
        if (Libc.bind(fd, &addr, (uint)sizeof(sockaddr_ll)) != 0)
            throw new InvalidOperationException("bind: " + Marshal.GetLastPInvokeError());
        return new RawPeer(fd, info);
    });

    /// <summary>Sends one frame as is (any EtherType: the bytes decide; a bound socket only sets the device).</summary>
    public void Send(ReadOnlySpan<byte> frame)
    {
        while (true)
        {
            nint n;
            fixed (byte* p = frame)
                n = Libc.send(_fd, p, (nuint)frame.Length, 0);
            if (n == frame.Length)
                return;
            int err = Marshal.GetLastPInvokeError();
            if (n < 0 && (err == (int)Errno.EAGAIN || err == (int)Errno.ENOBUFS))
            {
                Thread.Yield();
                continue;
            }
            throw new InvalidOperationException($"send: {n} errno {err}");
        }
    }

    /// <summary>Receives one frame, waiting up to <paramref name="timeoutMs"/>; -1 when none came.</summary>
    public int Receive(Span<byte> buffer, int timeoutMs = 5000)
    {
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            nint n;
            fixed (byte* p = buffer)
                n = Libc.recv(_fd, p, (nuint)buffer.Length, Libc.MSG_DONTWAIT);
            if (n >= 0)
                return (int)n;
            if (Environment.TickCount64 > deadline)
                return -1;
            Thread.Yield();
        }
    }

    public void Dispose() => Libc.close(_fd);
}

/// <summary>Builds AoE-shaped test frames whose every byte depends on a sequence number.</summary>
internal static class TestFrames
{
    public static void Fill(Span<byte> frame, MacBytes dst, MacBytes src, int seq, byte verFlags = 0x10, int etherType = Packet.ETH_P_AOE)
    {
        dst.Write(frame);
        src.Write(frame.Slice(6));
        BinaryPrimitives.WriteUInt16BigEndian(frame.Slice(12), (ushort)etherType);
        if (frame.Length > 14)
            frame[14] = verFlags;
        for (int i = 15; i < frame.Length; i++)
            frame[i] = (byte)(seq * 31 + i * 7);
        if (frame.Length >= 24)
            BinaryPrimitives.WriteInt32BigEndian(frame.Slice(20), seq); // where the AoE tag lives
    }

    public static byte[] Make(int length, MacBytes dst, MacBytes src, int seq, byte verFlags = 0x10, int etherType = Packet.ETH_P_AOE)
    {
        var f = new byte[length];
        Fill(f, dst, src, seq, verFlags, etherType);
        return f;
    }

    public static int Seq(ReadOnlySpan<byte> frame) => BinaryPrimitives.ReadInt32BigEndian(frame.Slice(20));
}
