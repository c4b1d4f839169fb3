using System;
using Ggaoed.Native;
using Ggaoed.Network;
using Xunit;

namespace Ggaoed.Tests.Network;

/// <summary>
/// Runs the socket filter in a small classic-BPF interpreter (only the opcodes it uses), so its logic is
/// checked without root; the PacketPort root tests check the kernel agrees.
/// </summary>
public class AoeSocketFilterTests
{
    private const int Host = 0, Broadcast = 1, Multicast = 2, OtherHost = 3, Outgoing = 4;

    private static byte[] Frame(int etherType, byte verFlags, int length = 60)
    {
        var f = new byte[length];
        for (int i = 0; i < 6; i++)
            f[i] = 0xFF;
        f[6] = 0x02;
        f[12] = (byte)(etherType >> 8);
        f[13] = (byte)etherType;
        if (length > 14)
            f[14] = verFlags;
        return f;
    }

    [Theory]
    [InlineData(0x10)] // Linux initiator: version 1, no flags
    [InlineData(0x14)] // error flag alone is still a request
    [InlineData(0x00)]
    public void AoeRequest_IsAcceptedWhole(byte verFlags)
    {
        Assert.Equal(AoeSocketFilter.AcceptAll, Run(Frame(0x88A2, verFlags), Host, vlan: false));
        Assert.NotEqual(0u, Run(Frame(0x88A2, verFlags, 24), Broadcast, vlan: false));
        Assert.NotEqual(0u, Run(Frame(0x88A2, verFlags), Multicast, vlan: false));
    }

    [Theory]
    [InlineData(0x18)]
    [InlineData(0x1C)]
    [InlineData(0xFF)]
    public void AoeResponse_IsDropped(byte verFlags) => Assert.Equal(0u, Run(Frame(0x88A2, verFlags), Host, vlan: false));

    [Theory]
    [InlineData(0x0800)]
    [InlineData(0x86DD)]
    [InlineData(0x8100)]
    public void OtherEtherTypes_AreDropped(int etherType) => Assert.Equal(0u, Run(Frame(etherType, 0x10), Host, vlan: false));

    [Fact]
    public void FramesForOtherHosts_AndOurOwnOutput_AreDropped()
    {
        Assert.Equal(0u, Run(Frame(0x88A2, 0x10), OtherHost, vlan: false));
        Assert.Equal(0u, Run(Frame(0x88A2, 0x10), Outgoing, vlan: false));
    }

    [Fact]
    public void FrameWithAVlanTagStillPresent_IsDropped() => Assert.Equal(0u, Run(Frame(0x88A2, 0x10), Host, vlan: true));

    [Fact]
    public void FrameTooShortForTheFlagsByte_IsDropped() => Assert.Equal(0u, Run(Frame(0x88A2, 0, 14), Host, vlan: false));

    private static uint Run(byte[] packet, int pktType, bool vlan)
    {
        ReadOnlySpan<sock_filter> prog = AoeSocketFilter.Program;
        uint a = 0;
        int pc = 0;
        while (true)
        {
            sock_filter f = prog[pc++];
            switch (f.code)
            {
                case Packet.BPF_LD | PacketFilter.BPF_W | Packet.BPF_ABS:
                case Packet.BPF_LD | Packet.BPF_H | Packet.BPF_ABS:
                case Packet.BPF_LD | Packet.BPF_B | Packet.BPF_ABS:
                    int k = unchecked((int)f.k);
                    if (k == PacketFilter.SKF_AD_OFF + PacketFilter.SKF_AD_PKTTYPE)
                        a = (uint)pktType;
                    else if (k == PacketFilter.SKF_AD_OFF + PacketFilter.SKF_AD_VLAN_TAG_PRESENT)
                        a = vlan ? 1u : 0u;
                    else
                    {
                        int size = (f.code & 0x18) switch { Packet.BPF_B => 1, Packet.BPF_H => 2, _ => 4 };
                        if (k < 0 || k + size > packet.Length)
                            return 0; // an out-of-bounds load ends the program with "drop"
                        a = 0;
                        for (int i = 0; i < size; i++)
                            a = (a << 8) | packet[k + i];
                    }
                    break;
                case Packet.BPF_JMP | Packet.BPF_JEQ | Packet.BPF_K:
                    pc += a == f.k ? f.jt : f.jf;
                    break;
                case Packet.BPF_JMP | PacketFilter.BPF_JGT | Packet.BPF_K:
                    pc += a > f.k ? f.jt : f.jf;
                    break;
                case Packet.BPF_JMP | Packet.BPF_JSET | Packet.BPF_K:
                    pc += (a & f.k) != 0 ? f.jt : f.jf;
                    break;
                case Packet.BPF_RET | Packet.BPF_K:
                    return f.k;
                default:
                    throw new InvalidOperationException("opcode not modelled: " + f.code);
            }
        }
    }
}
