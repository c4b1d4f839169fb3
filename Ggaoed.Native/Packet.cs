using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>
/// AF_PACKET sockets and mmap'd rings (linux/if_packet.h, linux/if_ether.h, linux/filter.h).
/// </summary>
[CHeader("linux/if_packet.h", "linux/if_ether.h", "linux/filter.h", "sys/socket.h")]
public static class Packet
{
    public const int SOL_PACKET = 263;

    public const int ETH_ALEN = 6;
    public const int ETH_HLEN = 14;
    public const int ETH_ZLEN = 60;
    public const int ETH_DATA_LEN = 1500;
    public const int ETH_P_ALL = 0x0003;
    public const int ETH_P_AOE = 0x88A2;

    public const int PACKET_ADD_MEMBERSHIP = 1;
    public const int PACKET_DROP_MEMBERSHIP = 2;
    public const int PACKET_RX_RING = 5;
    public const int PACKET_STATISTICS = 6;
    public const int PACKET_VERSION = 10;
    public const int PACKET_HDRLEN = 11;
    public const int PACKET_RESERVE = 12;
    public const int PACKET_TX_RING = 13;
    public const int PACKET_LOSS = 14;
    public const int PACKET_TX_HAS_OFF = 19;
    public const int PACKET_QDISC_BYPASS = 20;
    public const int PACKET_IGNORE_OUTGOING = 23;

    public const int PACKET_HOST = 0;
    public const int PACKET_BROADCAST = 1;
    public const int PACKET_MULTICAST = 2;
    public const int PACKET_OTHERHOST = 3;
    public const int PACKET_OUTGOING = 4;

    public const int PACKET_MR_MULTICAST = 0;
    public const int PACKET_MR_PROMISC = 1;
    public const int PACKET_MR_ALLMULTI = 2;

    public const int TPACKET_V1 = 0;
    public const int TPACKET_V2 = 1;
    public const int TPACKET_V3 = 2;
    public const int TPACKET_ALIGNMENT = 16;

    public const uint TP_STATUS_KERNEL = 0;
    public const uint TP_STATUS_USER = 1 << 0;
    public const uint TP_STATUS_COPY = 1 << 1;
    public const uint TP_STATUS_LOSING = 1 << 2;
    public const uint TP_STATUS_CSUMNOTREADY = 1 << 3;
    public const uint TP_STATUS_VLAN_VALID = 1 << 4;
    public const uint TP_STATUS_AVAILABLE = 0;
    public const uint TP_STATUS_SEND_REQUEST = 1 << 0;
    public const uint TP_STATUS_SENDING = 1 << 1;
    public const uint TP_STATUS_WRONG_FORMAT = 1 << 2;

    // Classic BPF opcodes (linux/bpf_common.h via linux/filter.h).
    public const ushort BPF_LD = 0x00;
    public const ushort BPF_JMP = 0x05;
    public const ushort BPF_RET = 0x06;
    public const ushort BPF_H = 0x08;
    public const ushort BPF_B = 0x10;
    public const ushort BPF_ABS = 0x20;
    public const ushort BPF_JEQ = 0x10;
    public const ushort BPF_JSET = 0x40;
    public const ushort BPF_K = 0x00;
}

/// <summary>struct sockaddr_ll (linux/if_packet.h).</summary>
[CHeader("linux/if_packet.h")]
public unsafe struct sockaddr_ll
{
    public ushort sll_family;
    /// <summary>Network byte order.</summary>
    public ushort sll_protocol;
    public int sll_ifindex;
    public ushort sll_hatype;
    public byte sll_pkttype;
    public byte sll_halen;
    public fixed byte sll_addr[8];
}

/// <summary>struct tpacket_req (linux/if_packet.h): geometry of one ring.</summary>
[CHeader("linux/if_packet.h")]
public struct tpacket_req
{
    public uint tp_block_size;
    public uint tp_block_nr;
    public uint tp_frame_size;
    public uint tp_frame_nr;
}

/// <summary>struct tpacket2_hdr (linux/if_packet.h): the header at the start of every ring frame.</summary>
[CHeader("linux/if_packet.h")]
public unsafe struct tpacket2_hdr
{
    public uint tp_status;
    public uint tp_len;
    public uint tp_snaplen;
    public ushort tp_mac;
    public ushort tp_net;
    public uint tp_sec;
    public uint tp_nsec;
    public ushort tp_vlan_tci;
    public ushort tp_vlan_tpid;
    public fixed byte tp_padding[4];
}

/// <summary>struct tpacket_stats (linux/if_packet.h): PACKET_STATISTICS, reset on every read.</summary>
[CHeader("linux/if_packet.h")]
public struct tpacket_stats
{
    public uint tp_packets;
    public uint tp_drops;
}

/// <summary>struct packet_mreq (linux/if_packet.h).</summary>
[CHeader("linux/if_packet.h")]
public unsafe struct packet_mreq
{
    public int mr_ifindex;
    public ushort mr_type;
    public ushort mr_alen;
    public fixed byte mr_address[8];
}

/// <summary>struct sock_filter (linux/filter.h): one classic BPF instruction.</summary>
[CHeader("linux/filter.h")]
public struct sock_filter
{
    public ushort code;
    public byte jt;
    public byte jf;
    public uint k;
}

/// <summary>struct sock_fprog (linux/filter.h).</summary>
[CHeader("linux/filter.h")]
public unsafe struct sock_fprog
{
    public ushort len;
    public sock_filter* filter;
}
