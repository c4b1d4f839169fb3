using System;
using System.Runtime.InteropServices;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// One interface as described by an RTM_NEWLINK or RTM_DELLINK message. The spans point into the
/// receive buffer and are valid only during <see cref="ILinkEventHandler.OnLink"/>.
/// </summary>
internal readonly ref struct LinkEvent
{
    public LinkEvent(bool deleted, int index, int hardwareType, uint flags, int mtu, ReadOnlySpan<byte> name, ReadOnlySpan<byte> address)
    {
        Deleted = deleted;
        Index = index;
        HardwareType = hardwareType;
        Flags = flags;
        Mtu = mtu;
        Name = name;
        Address = address;
    }

    /// <summary>RTM_DELLINK: the interface is gone (or left this namespace).</summary>
    public bool Deleted { get; }

    public int Index { get; }

    /// <summary>ifi_type: ARPHRD_* (<see cref="IfArp"/>), what IFLA_ADDRESS holds.</summary>
    public int HardwareType { get; }

    /// <summary>ifi_flags: IFF_* (net/if.h) plus IFF_LOWER_UP/IFF_DORMANT (linux/if.h).</summary>
    public uint Flags { get; }

    /// <summary>IFLA_MTU, or -1 when the message did not carry it.</summary>
    public int Mtu { get; }

    /// <summary>IFLA_IFNAME in UTF-8 without its NUL; empty when absent.</summary>
    public ReadOnlySpan<byte> Name { get; }

    /// <summary>IFLA_ADDRESS (the MAC for Ethernet); empty when absent.</summary>
    public ReadOnlySpan<byte> Address { get; }

    /// <summary>
    /// The interface's MAC, when the message carries a 6-byte IFLA_ADDRESS (Ethernet, and loopback's
    /// all-zero one). RTM_NEWLINK carries it on every change, so this is how a new MAC
    /// (<c>ip link set dev X address ...</c>) is noticed.
    /// </summary>
    public bool TryGetMac(out MacBytes mac)
    {
        if (Address.Length != Packet.ETH_ALEN)
        {
            mac = default;
            return false;
        }
        mac = MacBytes.Read(Address);
        return true;
    }

    public bool IsUp => (Flags & Libc.IFF_UP) != 0;

    public bool IsRunning => (Flags & Libc.IFF_RUNNING) != 0;

    /// <summary>The carrier is up (IFF_LOWER_UP): only netlink reports it; SIOCGIFFLAGS is 16 bits.</summary>
    public bool IsLowerUp => (Flags & LinuxIf.IFF_LOWER_UP) != 0;

    /// <summary>Allocates the name: fine on this rare path (interfaces come and go seldom).</summary>
    public string NameString() => Encoding.UTF8.GetString(Name);
}

/// <summary>Receives parsed link messages. A struct, passed by ref, so calls are specialised and inlined.</summary>
internal interface ILinkEventHandler
{
    void OnLink(in LinkEvent link);

    /// <summary>An RTM_GETLINK dump finished: every existing interface has been reported since it began.</summary>
    void OnDumpDone();
}

/// <summary>What a datagram held besides link events, for the monitor's own bookkeeping.</summary>
internal struct LinkParseResult
{
    public int Links;
    public bool DumpDone;

    /// <summary>errno of an NLMSG_ERROR that was not an ack (0 when none).</summary>
    public int Error;

    /// <summary>A header or attribute length pointed past the datagram: the rest was skipped.</summary>
    public bool Malformed;
}

/// <summary>
/// Parses rtnetlink datagrams (a sequence of nlmsghdr-framed messages, each 4-byte aligned). Pure:
/// bytes in, callbacks out, no allocation. Netlink uses host byte order throughout.
/// </summary>
internal static class LinkMessageParser
{
    private const int NlmsgHdrLen = 16;
    private const int IfInfoMsgLen = 16;
    private const int RtaHdrLen = 4;

    /// <summary>NLA_F_NESTED | NLA_F_NET_BYTEORDER: flag bits in rta_type, not part of the type.</summary>
    private const int NlaTypeMask = 0x3FFF;

    public static LinkParseResult Parse<THandler>(ReadOnlySpan<byte> datagram, ref THandler handler)
        where THandler : struct, ILinkEventHandler
    {
        var result = new LinkParseResult();
        int offset = 0;
        while (datagram.Length - offset >= NlmsgHdrLen)
        {
            ReadOnlySpan<byte> rest = datagram.Slice(offset);
            int length = (int)Read<uint>(rest);
            ushort type = Read<ushort>(rest.Slice(4));
            if (length < NlmsgHdrLen || length > rest.Length)
            {
                result.Malformed = true;
                break;
            }
            ReadOnlySpan<byte> message = rest.Slice(0, length);
            switch (type)
            {
                case Netlink.RTM_NEWLINK:
                case Netlink.RTM_DELLINK:
                    if (!ParseLink(message.Slice(NlmsgHdrLen), type == Netlink.RTM_DELLINK, ref handler, ref result))
                        result.Malformed = true;
                    break;
                case Netlink.NLMSG_DONE:
                    result.DumpDone = true;
                    handler.OnDumpDone();
                    break;
                case Netlink.NLMSG_ERROR:
                    // struct nlmsgerr: int error (negative errno; 0 is an ack), then the request header.
                    if (message.Length >= NlmsgHdrLen + 4)
                    {
                        int error = Read<int>(message.Slice(NlmsgHdrLen));
                        if (error != 0)
                            result.Error = -error;
                    }
                    break;
                case Netlink.NLMSG_OVERRUN:
                    result.Error = (int)Errno.ENOBUFS;
                    break;
            }
            offset += Align(length);
        }
        return result;
    }

    private static bool ParseLink<THandler>(ReadOnlySpan<byte> body, bool deleted, ref THandler handler, ref LinkParseResult result)
        where THandler : struct, ILinkEventHandler
    {
        if (body.Length < IfInfoMsgLen)
            return false;
        // Bridge port changes arrive on the same group with ifi_family AF_BRIDGE; a bridge RTM_DELLINK
        // means "no longer a bridge port", not "interface gone". Only AF_UNSPEC messages describe links.
        if (body[0] != Libc.AF_UNSPEC)
            return true;
        int hardwareType = Read<ushort>(body.Slice(2));
        int index = Read<int>(body.Slice(4));
        uint flags = Read<uint>(body.Slice(8));
        int mtu = -1;
        ReadOnlySpan<byte> name = default, address = default;
        ReadOnlySpan<byte> attrs = body.Slice(IfInfoMsgLen);
        bool ok = true;
        while (attrs.Length >= RtaHdrLen)
        {
            int rtaLength = Read<ushort>(attrs);
            int rtaType = Read<ushort>(attrs.Slice(2)) & NlaTypeMask;
            if (rtaLength < RtaHdrLen || rtaLength > attrs.Length)
            {
                ok = false;
                break;
            }
            ReadOnlySpan<byte> payload = attrs.Slice(RtaHdrLen, rtaLength - RtaHdrLen);
            switch (rtaType)
            {
                case Netlink.IFLA_IFNAME:
                    int nul = payload.IndexOf((byte)0);
                    name = nul >= 0 ? payload.Slice(0, nul) : payload;
                    break;
                case Netlink.IFLA_MTU:
                    if (payload.Length >= 4)
                        mtu = (int)Read<uint>(payload);
                    break;
                case Netlink.IFLA_ADDRESS:
                    address = payload;
                    break;
            }
            int step = Align(rtaLength);
            if (step >= attrs.Length)
                break;
            attrs = attrs.Slice(step);
        }
        if (!ok)
            return false; // a half-read message could misreport the MTU or name: drop it whole
        result.Links++;
        handler.OnLink(new LinkEvent(deleted, index, hardwareType, flags, mtu, name, address));
        return true;
    }

    private static int Align(int length) => (length + 3) & ~3;

    /// <summary>Host byte order, as netlink defines it (not a wire format between machines).</summary>
    private static T Read<T>(ReadOnlySpan<byte> source) where T : unmanaged => MemoryMarshal.Read<T>(source);
}
