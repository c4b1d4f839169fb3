namespace Ggaoed.Native;

/// <summary>
/// Classic BPF pieces Packet.cs does not name (linux/filter.h, linux/bpf_common.h): the greater-than
/// jump, the word load, and the ancillary loads that read skb metadata (packet type, VLAN tag) rather
/// than packet bytes.
/// </summary>
[CHeader("linux/filter.h")]
public static class PacketFilter
{
    public const ushort BPF_W = 0x00;
    public const ushort BPF_JGT = 0x20;

    /// <summary>Loads at k = SKF_AD_OFF + n read skb metadata n instead of packet bytes.</summary>
    public const int SKF_AD_OFF = -0x1000;
    public const int SKF_AD_PKTTYPE = 4;
    public const int SKF_AD_VLAN_TAG_PRESENT = 48;
}
