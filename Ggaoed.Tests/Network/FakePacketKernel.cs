using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using Ggaoed.Native;
using Ggaoed.Network;

namespace Ggaoed.Tests.Network;

/// <summary>
/// The state behind <see cref="FakePacketKernel"/>: one interface, one packet socket, and the
/// kernel's side of its rings, played the way net/packet/af_packet.c plays it (tpacket_rcv fills RX
/// frames at its own head and stops at one still owned by user space; tpacket_snd takes SEND_REQUEST
/// frames from its own TX head, skips malformed ones with PACKET_LOSS, leaves a frame SEND_REQUEST when
/// the qdisc refuses it with ENOBUFS, and returns the bytes sent when the send buffer fills up after
/// some). Knobs let a test decide what the network does.
/// </summary>
internal sealed unsafe class FakePacket : IDisposable
{
    public const int Fd = 77;

    // ---- the interface
    public string Name = "fake0";
    public int Index = 7;
    public MacBytes Mac = new(0x02_00_00_00_00_01);
    public int Mtu = 1500;
    public int HardwareType = IfArp.ARPHRD_ETHER;
    public bool Up = true;

    /// <summary>The interface was unregistered: sends fail with ENXIO (tpacket_snd/packet_snd find no device).</summary>
    public bool Gone;

    // ---- what the port asked for
    public readonly List<string> Calls = new();
    public readonly Dictionary<(int Level, int Option), int> IntOptions = new();
    public tpacket_req? RxRing;
    public tpacket_req? TxRing;
    public bool FilterAttached;
    public sockaddr_ll? BoundTo;
    public bool Closed;

    // ---- knobs
    /// <summary>setsockopt(PACKET_RX_RING/TX_RING) fails with ENOMEM for blocks at least this large.</summary>
    public int RefuseBlocksFrom = int.MaxValue;

    /// <summary>setsockopt(SOL_PACKET, option) fails with this errno (e.g. PACKET_LOSS refused).</summary>
    public readonly Dictionary<int, int> RefuseOption = new();

    /// <summary>Per send/sendmmsg call: a value n &gt; 0 is returned as -n (an errno) before anything is sent.</summary>
    public readonly Queue<int> SendScript = new();

    /// <summary>Frames the qdisc still takes; one more is refused with ENOBUFS and stays queued. -1: no limit.</summary>
    public int QdiscRoom = -1;

    /// <summary>Frames the socket's send buffer still takes (then EAGAIN, or the bytes so far). -1: no limit.</summary>
    public int SendBufferRoom = -1;

    /// <summary>Taken TX ring frames stay TP_STATUS_SENDING (a NIC still holds them) until <see cref="CompleteDriver"/>.</summary>
    public bool HoldInDriver;

    /// <summary>Behaves as a kernel without PACKET_LOSS for the TX ring frame with this index: marks it WRONG_FORMAT and stops.</summary>
    public int WrongFormatFrame = -1;

    public long Now;

    // ---- what happened
    public readonly List<byte[]> Sent = new();
    public int SendCalls;
    public int ReceiveCalls;
    public uint StatPackets;
    public uint StatDrops;

    // ---- socket mode receive queue
    public readonly Queue<byte[]> RxQueue = new();

    // ---- the rings
    private byte* _map;
    private nuint _mapLength;
    private int _rxHead;
    private int _txHead;
    private readonly List<int> _inDriver = new();

    public bool HasRings => _map != null;

    private tpacket_req Geometry => RxRing ?? throw new InvalidOperationException("no ring");

    public int FrameCount => (int)Geometry.tp_frame_nr;

    public int FrameSize => (int)Geometry.tp_frame_size;

    public tpacket2_hdr* RxFrame(int i) => (tpacket2_hdr*)Frame(_map, i);

    public tpacket2_hdr* TxFrame(int i) => (tpacket2_hdr*)Frame(_map + (nint)Geometry.tp_block_size * Geometry.tp_block_nr, i);

    private byte* Frame(byte* ring, int i)
    {
        tpacket_req g = Geometry;
        int perBlock = (int)(g.tp_block_size / g.tp_frame_size);
        return ring + (nint)(i / perBlock) * g.tp_block_size + (nint)(i % perBlock) * g.tp_frame_size;
    }

    /// <summary>A frame arrives from the wire (after the socket filter). False when the kernel had to drop it.</summary>
    public bool Deliver(ReadOnlySpan<byte> frame)
    {
        StatPackets++;
        if (!HasRings)
        {
            RxQueue.Enqueue(frame.ToArray());
            return true;
        }
        tpacket2_hdr* hdr = RxFrame(_rxHead);
        if (Volatile.Read(ref hdr->tp_status) != Packet.TP_STATUS_KERNEL)
        {
            StatDrops++; // the frame at the kernel's head is still user space's
            return false;
        }
        int room = FrameSize - (RingGeometry.RxNetworkOffset - Packet.ETH_HLEN);
        int snap = Math.Min(frame.Length, room);
        hdr->tp_len = (uint)frame.Length;
        hdr->tp_snaplen = (uint)snap;
        hdr->tp_mac = RingGeometry.RxNetworkOffset - Packet.ETH_HLEN;
        hdr->tp_net = RingGeometry.RxNetworkOffset;
        frame.Slice(0, snap).CopyTo(new Span<byte>((byte*)hdr + hdr->tp_mac, snap));
        Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_USER);
        _rxHead = (_rxHead + 1) % FrameCount;
        return true;
    }

    /// <summary>The NIC finished the frames it held: they become TP_STATUS_AVAILABLE (tpacket_destruct_skb).</summary>
    public void CompleteDriver()
    {
        foreach (int i in _inDriver)
            Volatile.Write(ref TxFrame(i)->tp_status, Packet.TP_STATUS_AVAILABLE);
        _inDriver.Clear();
    }

    public uint TxStatus(int i) => Volatile.Read(ref TxFrame(i)->tp_status);

    /// <summary>The sequence numbers (TestFrames.Seq) of every frame sent, in order.</summary>
    public List<int> SentSeqs()
    {
        var seqs = new List<int>();
        foreach (byte[] f in Sent)
            seqs.Add(TestFrames.Seq(f));
        return seqs;
    }

    // ---- syscalls

    public int SetSockOpt(int level, int option, void* value, int length)
    {
        Calls.Add($"setsockopt {level} {option}");
        if (level == Packet.SOL_PACKET && RefuseOption.TryGetValue(option, out int refusal))
            return -refusal;
        if (level == Libc.SOL_SOCKET && option == Libc.SO_ATTACH_FILTER)
        {
            FilterAttached = true;
            return 0;
        }
        if (level == Packet.SOL_PACKET && (option == Packet.PACKET_RX_RING || option == Packet.PACKET_TX_RING))
        {
            tpacket_req req = *(tpacket_req*)value;
            if (req.tp_block_nr == 0)
            {
                if (option == Packet.PACKET_RX_RING)
                    RxRing = null;
                else
                    TxRing = null;
                return 0;
            }
            if (req.tp_block_size >= RefuseBlocksFrom)
                return -(int)Errno.ENOMEM;
            if (option == Packet.PACKET_RX_RING)
                RxRing = req;
            else
                TxRing = req;
            return 0;
        }
        if (length == sizeof(int))
            IntOptions[(level, option)] = *(int*)value;
        return 0;
    }

    public int GetSockOpt(int level, int option, void* value, int* length)
    {
        if (level == Packet.SOL_PACKET && option == Packet.PACKET_STATISTICS)
        {
            *(tpacket_stats*)value = new tpacket_stats { tp_packets = StatPackets, tp_drops = StatDrops };
            StatPackets = StatDrops = 0;
            return 0;
        }
        return -(int)Errno.ENOPROTOOPT;
    }

    public int Ioctl(uint request, ifreq* req)
    {
        string name = Marshal.PtrToStringUTF8((nint)req->ifr_name)!;
        if (name != Name || Gone)
            return -(int)Errno.ENODEV;
        switch (request)
        {
            case Libc.SIOCGIFINDEX:
                req->ifr_ifindex = Index;
                return 0;
            case Libc.SIOCGIFHWADDR:
                req->ifr_hwaddr_family = (ushort)HardwareType;
                Mac.Write(new Span<byte>(req->ifr_hwaddr_data, 6));
                return 0;
            case Libc.SIOCGIFMTU:
                req->ifr_mtu = Mtu;
                return 0;
            case Libc.SIOCGIFFLAGS:
                req->ifr_flags = (short)(Up ? Libc.IFF_UP | Libc.IFF_RUNNING : 0);
                return 0;
        }
        return -(int)Errno.EINVAL;
    }

    public int Map(nuint length, out byte* address)
    {
        Calls.Add("mmap");
        tpacket_req rx = RxRing ?? default, tx = TxRing ?? default;
        nuint expected = (nuint)rx.tp_block_size * rx.tp_block_nr + (nuint)tx.tp_block_size * tx.tp_block_nr;
        if (length != expected || length == 0)
        {
            address = null;
            return -(int)Errno.EINVAL; // packet_mmap wants exactly both rings
        }
        _map = (byte*)NativeMemory.AlignedAlloc(length, 4096);
        new Span<byte>(_map, (int)length).Clear(); // every frame TP_STATUS_KERNEL / AVAILABLE
        _mapLength = length;
        address = _map;
        return 0;
    }

    public int Unmap(byte* address, nuint length)
    {
        Calls.Add("munmap");
        if (address != _map || length != _mapLength)
            return -(int)Errno.EINVAL;
        NativeMemory.AlignedFree(_map);
        _map = null;
        return 0;
    }

    public nint SendRing()
    {
        SendCalls++;
        if (SendScript.Count > 0)
            return -SendScript.Dequeue();
        if (Gone)
            return -(int)Errno.ENXIO;
        if (!Up)
            return -(int)Errno.ENETDOWN;
        int sizeMax = Math.Min(FrameSize - RingGeometry.TxDataOffset, Mtu + Packet.ETH_HLEN + 4);
        nint bytes = 0;
        while (true)
        {
            tpacket2_hdr* hdr = TxFrame(_txHead);
            if (Volatile.Read(ref hdr->tp_status) != Packet.TP_STATUS_SEND_REQUEST)
                return bytes;
            int len = (int)hdr->tp_len;
            if (_txHead == WrongFormatFrame)
            {
                WrongFormatFrame = -1;
                Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_WRONG_FORMAT);
                return -(int)Errno.EINVAL;
            }
            if (len < Packet.ETH_HLEN || len > sizeMax)
            {
                // PACKET_LOSS: marked available and skipped.
                if (IntOptions.GetValueOrDefault((Packet.SOL_PACKET, Packet.PACKET_LOSS)) == 0)
                {
                    Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_WRONG_FORMAT);
                    return -(int)Errno.EINVAL;
                }
                Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_AVAILABLE);
                _txHead = (_txHead + 1) % FrameCount;
                continue;
            }
            if (SendBufferRoom == 0)
                return bytes > 0 ? bytes : -(int)Errno.EAGAIN;
            if (QdiscRoom == 0)
                return -(int)Errno.ENOBUFS; // the frame goes back to SEND_REQUEST, the head stays
            if (SendBufferRoom > 0)
                SendBufferRoom--;
            if (QdiscRoom > 0)
                QdiscRoom--;
            Sent.Add(new ReadOnlySpan<byte>((byte*)hdr + RingGeometry.TxDataOffset, len).ToArray());
            if (HoldInDriver)
            {
                Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_SENDING);
                _inDriver.Add(_txHead);
            }
            else
            {
                Volatile.Write(ref hdr->tp_status, Packet.TP_STATUS_AVAILABLE);
            }
            _txHead = (_txHead + 1) % FrameCount;
            bytes += len;
        }
    }

    public int SendMany(mmsghdr* messages, int count)
    {
        SendCalls++;
        if (SendScript.Count > 0)
            return -SendScript.Dequeue();
        int sent = 0;
        for (; sent < count; sent++)
        {
            int err = 0;
            iovec* v = messages[sent].msg_hdr.msg_iov;
            if (Gone)
                err = (int)Errno.ENXIO;
            else if (!Up)
                err = (int)Errno.ENETDOWN;
            else if ((int)v->iov_len > Mtu + Packet.ETH_HLEN + 4)
                err = (int)Errno.EMSGSIZE;
            else if (SendBufferRoom == 0)
                err = (int)Errno.EAGAIN;
            else if (QdiscRoom == 0)
                err = (int)Errno.ENOBUFS;
            if (err != 0)
                return sent > 0 ? sent : -err; // sendmmsg: an error after the first datagram is reported next time
            if (SendBufferRoom > 0)
                SendBufferRoom--;
            if (QdiscRoom > 0)
                QdiscRoom--;
            Sent.Add(new ReadOnlySpan<byte>(v->iov_base, (int)v->iov_len).ToArray());
            messages[sent].msg_len = (uint)v->iov_len;
        }
        return sent;
    }

    public int ReceiveMany(mmsghdr* messages, int count, int flags)
    {
        ReceiveCalls++;
        int n = 0;
        while (n < count && RxQueue.Count > 0)
        {
            byte[] frame = RxQueue.Dequeue();
            iovec* v = messages[n].msg_hdr.msg_iov;
            int copy = Math.Min(frame.Length, (int)v->iov_len);
            frame.AsSpan(0, copy).CopyTo(new Span<byte>(v->iov_base, copy));
            messages[n].msg_hdr.msg_flags = copy < frame.Length ? Libc.MSG_TRUNC : 0;
            messages[n].msg_len = (flags & Libc.MSG_TRUNC) != 0 ? (uint)frame.Length : (uint)copy;
            n++;
        }
        return n > 0 ? n : -(int)Errno.EAGAIN;
    }

    public void Dispose()
    {
        if (_map != null)
        {
            NativeMemory.AlignedFree(_map);
            _map = null;
        }
    }
}

/// <summary>The seam over <see cref="FakePacket"/>: one socket, fd <see cref="FakePacket.Fd"/>.</summary>
internal unsafe struct FakePacketKernel : IPacketKernel
{
    public FakePacket State;

    public FakePacketKernel(FakePacket state) => State = state;

    public int Socket(int domain, int type, int protocol)
    {
        State.Calls.Add("socket");
        return FakePacket.Fd;
    }

    public int Bind(int fd, sockaddr_ll* address)
    {
        State.Calls.Add("bind");
        if (State.Gone)
            return -(int)Errno.ENODEV;
        State.BoundTo = *address;
        return 0;
    }

    public int SetSockOpt(int fd, int level, int option, void* value, int length) => State.SetSockOpt(level, option, value, length);

    public int GetSockOpt(int fd, int level, int option, void* value, int* length) => State.GetSockOpt(level, option, value, length);

    public int Ioctl(int fd, uint request, ifreq* interfaceRequest) => State.Ioctl(request, interfaceRequest);

    public int Map(int fd, nuint length, out byte* address) => State.Map(length, out address);

    public int Unmap(byte* address, nuint length) => State.Unmap(address, length);

    public nint Send(int fd, void* buffer, nuint length, int flags)
    {
        if (buffer != null || length != 0)
            throw new InvalidOperationException("only ring kicks use send()");
        return State.SendRing();
    }

    public int SendMany(int fd, mmsghdr* messages, int count, int flags) => State.SendMany(messages, count);

    public int ReceiveMany(int fd, mmsghdr* messages, int count, int flags) => State.ReceiveMany(messages, count, flags);

    public int Close(int fd)
    {
        State.Calls.Add("close");
        State.Closed = true;
        return 0;
    }

    public long NowNanos() => State.Now;
}
