using System;
using Ggaoed.Native;

namespace Ggaoed.Network;

/// <summary>
/// The classic BPF program attached to every AoE packet socket (SO_ATTACH_FILTER). It runs in the
/// kernel before a frame is queued or put in the RX ring, so traffic the daemon would drop anyway never
/// costs a wakeup or a ring slot. A frame passes only if it is:
/// <list type="bullet">
/// <item>addressed to us, broadcast or multicast (pkt_type ≤ PACKET_MULTICAST): a frame for another
/// host's MAC seen in promiscuous mode (a bridge port) is not a request for us, and our own outgoing
/// frames (PACKET_OUTGOING) are not requests either;</item>
/// <item>untagged: on the base interface a VLAN tag still present means the frame belongs to a VLAN
/// without its own interface here;</item>
/// <item>EtherType 0x88A2 (the socket is bound to it already; this is defence in depth);</item>
/// <item>an AoE request: the Response flag 0x08 in the ver/flags byte (offset 14) is clear. Responses
/// are other targets' replies (or ours), never something to answer (AoE notes 0.2).</item>
/// </list>
/// A frame too short to hold byte 14 fails the load, which rejects it.
/// </summary>
internal static class AoeSocketFilter
{
    /// <summary>The AoE header's ver/flags byte: the frame's 15th byte.</summary>
    public const int FlagsOffset = Packet.ETH_HLEN;

    /// <summary>AoE header flag R: the frame is a response.</summary>
    public const byte ResponseFlag = 0x08;

    /// <summary>Bytes to keep of an accepted frame: all of it (the kernel keeps min(k, length)).</summary>
    public const uint AcceptAll = 0x40000;

    private const ushort LdW = Packet.BPF_LD | PacketFilter.BPF_W | Packet.BPF_ABS;
    private const ushort LdH = Packet.BPF_LD | Packet.BPF_H | Packet.BPF_ABS;
    private const ushort LdB = Packet.BPF_LD | Packet.BPF_B | Packet.BPF_ABS;
    private const ushort Jgt = Packet.BPF_JMP | PacketFilter.BPF_JGT | Packet.BPF_K;
    private const ushort Jeq = Packet.BPF_JMP | Packet.BPF_JEQ | Packet.BPF_K;
    private const ushort Jset = Packet.BPF_JMP | Packet.BPF_JSET | Packet.BPF_K;
    private const ushort Ret = Packet.BPF_RET | Packet.BPF_K;

    /// <summary>The program. Jump offsets count instructions after the jump; index 9 is "drop".</summary>
    public static ReadOnlySpan<sock_filter> Program => s_program;

    private static readonly sock_filter[] s_program =
    [
        /* 0 */ Insn(LdW, 0, 0, unchecked((uint)(PacketFilter.SKF_AD_OFF + PacketFilter.SKF_AD_PKTTYPE))),
        /* 1 */ Insn(Jgt, 7, 0, Packet.PACKET_MULTICAST),
        /* 2 */ Insn(LdW, 0, 0, unchecked((uint)(PacketFilter.SKF_AD_OFF + PacketFilter.SKF_AD_VLAN_TAG_PRESENT))),
        /* 3 */ Insn(Jeq, 0, 5, 0),
        /* 4 */ Insn(LdH, 0, 0, 12),
        /* 5 */ Insn(Jeq, 0, 3, Packet.ETH_P_AOE),
        /* 6 */ Insn(LdB, 0, 0, FlagsOffset),
        /* 7 */ Insn(Jset, 1, 0, ResponseFlag),
        /* 8 */ Insn(Ret, 0, 0, AcceptAll),
        /* 9 */ Insn(Ret, 0, 0, 0),
    ];

    private static sock_filter Insn(ushort code, byte jt, byte jf, uint k) => new() { code = code, jt = jt, jf = jf, k = k };

    /// <summary>Attaches the program to a socket; returns 0 or the errno.</summary>
    public static unsafe int Attach<TKernel>(ref TKernel kernel, int fd) where TKernel : struct, IPacketKernel
    {
        fixed (sock_filter* insns = s_program)
        {
            var prog = new sock_fprog { len = (ushort)s_program.Length, filter = insns };
            return -kernel.SetSockOpt(fd, Libc.SOL_SOCKET, Libc.SO_ATTACH_FILTER, &prog, sizeof(sock_fprog));
        }
    }
}
