using System;
using System.Collections.Generic;
using System.Text;
using Ggaoed.Native;
using Ggaoed.Network;
using Xunit;

namespace Ggaoed.Tests.Network;

/// <summary>Collects link events into a list (tests may allocate; the parser itself does not).</summary>
internal struct RecordingLinkHandler : ILinkEventHandler
{
    public List<(bool Deleted, int Index, string Name, int Mtu, uint Flags, string Mac)> Links;
    public int DumpsDone;

    public static RecordingLinkHandler Create() => new() { Links = new() };

    public void OnLink(in LinkEvent link) =>
        Links.Add((link.Deleted, link.Index, link.NameString(), link.Mtu, link.Flags, Convert.ToHexStringLower(link.Address)));

    public void OnDumpDone() => DumpsDone++;
}

/// <summary>Builds rtnetlink datagrams byte by byte (host order, 4-byte alignment), as the kernel does.</summary>
internal sealed class NetlinkBuilder
{
    private readonly List<byte> _bytes = new();

    public byte[] ToArray() => _bytes.ToArray();

    public NetlinkBuilder Link(ushort type, int index, uint flags, string? name = null, int mtu = -1, byte[]? mac = null, byte family = 0,
        ushort nameAttrFlags = 0, ushort hardwareType = IfArp.ARPHRD_ETHER)
    {
        var body = new List<byte> { family, 0 };
        body.AddRange(BitConverter.GetBytes(hardwareType));
        body.AddRange(BitConverter.GetBytes(index));
        body.AddRange(BitConverter.GetBytes(flags));
        body.AddRange(BitConverter.GetBytes(0xFFFFFFFFu)); // ifi_change
        if (mac != null)
            Attr(body, Netlink.IFLA_ADDRESS, mac);
        if (name != null)
        {
            var z = new byte[Encoding.UTF8.GetByteCount(name) + 1];
            Encoding.UTF8.GetBytes(name, z);
            Attr(body, (ushort)(Netlink.IFLA_IFNAME | nameAttrFlags), z);
        }
        if (mtu >= 0)
            Attr(body, Netlink.IFLA_MTU, BitConverter.GetBytes(mtu));
        Attr(body, Netlink.IFLA_OPERSTATE, [6]); // an attribute the parser skips
        return Message(type, body.ToArray());
    }

    public NetlinkBuilder Done() => Message(Netlink.NLMSG_DONE, BitConverter.GetBytes(0));

    public NetlinkBuilder Error(int negativeErrno) => Message(Netlink.NLMSG_ERROR, [.. BitConverter.GetBytes(negativeErrno), .. new byte[16]]);

    public NetlinkBuilder Message(ushort type, byte[] body)
    {
        int len = 16 + body.Length;
        _bytes.AddRange(BitConverter.GetBytes((uint)len));
        _bytes.AddRange(BitConverter.GetBytes(type));
        _bytes.AddRange(BitConverter.GetBytes((ushort)Netlink.NLM_F_MULTI));
        _bytes.AddRange(BitConverter.GetBytes(7u));
        _bytes.AddRange(BitConverter.GetBytes(0u));
        _bytes.AddRange(body);
        while (_bytes.Count % 4 != 0)
            _bytes.Add(0);
        return this;
    }

    private static void Attr(List<byte> body, ushort type, byte[] payload)
    {
        body.AddRange(BitConverter.GetBytes((ushort)(4 + payload.Length)));
        body.AddRange(BitConverter.GetBytes(type));
        body.AddRange(payload);
        while (body.Count % 4 != 0)
            body.Add(0);
    }
}

public class LinkMessageParserTests
{
    private const uint UpRunningLowerUp = 0x1 | 0x40 | 0x10000 | 0x2 | 0x1000;

    [Fact]
    public void NewLink_ReportsIndexNameMtuMacAndFlags()
    {
        byte[] d = new NetlinkBuilder().Link(Netlink.RTM_NEWLINK, 7, UpRunningLowerUp, "eth0", 9000, [0x02, 0, 0, 0, 0, 0x2a]).ToArray();
        var h = RecordingLinkHandler.Create();
        LinkParseResult r = LinkMessageParser.Parse(d, ref h);
        Assert.Equal(1, r.Links);
        Assert.False(r.Malformed);
        var l = Assert.Single(h.Links);
        Assert.Equal((false, 7, "eth0", 9000, UpRunningLowerUp, "02000000002a"), l);
    }

    [Fact]
    public void NewLink_WithIflaAddress_GivesTheMac_AndTheHardwareType()
    {
        byte[] d = new NetlinkBuilder()
            .Link(Netlink.RTM_NEWLINK, 7, UpRunningLowerUp, "eth0", 1500, [0x02, 0x11, 0x22, 0x33, 0x44, 0x55])
            .Link(Netlink.RTM_NEWLINK, 1, 0x49, "lo", 65536, new byte[6], hardwareType: IfArp.ARPHRD_LOOPBACK)
            .Link(Netlink.RTM_NEWLINK, 8, UpRunningLowerUp, "ib0", 2044, new byte[20], hardwareType: 32) // InfiniBand: 20-byte address
            .Link(Netlink.RTM_NEWLINK, 9, UpRunningLowerUp, "eth1", 1500) // no IFLA_ADDRESS
            .ToArray();
        var h = new MacHandler { Macs = new() };
        LinkMessageParser.Parse(d, ref h);
        Assert.Equal(
            [
                ("eth0", IfArp.ARPHRD_ETHER, (MacBytes?)new MacBytes(0x02_11_22_33_44_55)),
                ("lo", IfArp.ARPHRD_LOOPBACK, new MacBytes(0)),
                ("ib0", 32, null),
                ("eth1", IfArp.ARPHRD_ETHER, null),
            ],
            h.Macs);
    }

    private struct MacHandler : ILinkEventHandler
    {
        public List<(string Name, int Type, MacBytes? Mac)> Macs;

        public void OnLink(in LinkEvent link) =>
            Macs.Add((link.NameString(), link.HardwareType, link.TryGetMac(out MacBytes mac) ? mac : null));

        public void OnDumpDone()
        {
        }
    }

    [Fact]
    public void LinkEvent_DecodesUpRunningAndCarrierFlags()
    {
        byte[] d = new NetlinkBuilder().Link(Netlink.RTM_NEWLINK, 3, 0x1 | 0x1000, "eth1", 1500).ToArray();
        var h = new FlagHandler();
        LinkMessageParser.Parse(d, ref h);
        Assert.Equal((true, false, false), (h.Up, h.Running, h.LowerUp));
        d = new NetlinkBuilder().Link(Netlink.RTM_NEWLINK, 3, UpRunningLowerUp, "eth1", 1500).ToArray();
        LinkMessageParser.Parse(d, ref h);
        Assert.Equal((true, true, true), (h.Up, h.Running, h.LowerUp));
    }

    private struct FlagHandler : ILinkEventHandler
    {
        public bool Up, Running, LowerUp;

        public void OnLink(in LinkEvent link) => (Up, Running, LowerUp) = (link.IsUp, link.IsRunning, link.IsLowerUp);

        public void OnDumpDone()
        {
        }
    }

    [Fact]
    public void DelLink_IsReportedAsDeleted()
    {
        byte[] d = new NetlinkBuilder().Link(Netlink.RTM_DELLINK, 9, 0, "vif3.0", 1500).ToArray();
        var h = RecordingLinkHandler.Create();
        LinkMessageParser.Parse(d, ref h);
        Assert.True(Assert.Single(h.Links).Deleted);
        Assert.Equal("vif3.0", h.Links[0].Name);
    }

    [Fact]
    public void DumpDatagram_WithSeveralLinksAndDone_ReportsAllThenDone()
    {
        byte[] d = new NetlinkBuilder()
            .Link(Netlink.RTM_NEWLINK, 1, 0x49, "lo", 65536)
            .Link(Netlink.RTM_NEWLINK, 2, UpRunningLowerUp, "eth0", 1500, [1, 2, 3, 4, 5, 6])
            .Link(Netlink.RTM_NEWLINK, 3, 0x1002, "br0", 9000)
            .Done()
            .ToArray();
        var h = RecordingLinkHandler.Create();
        LinkParseResult r = LinkMessageParser.Parse(d, ref h);
        Assert.Equal(3, r.Links);
        Assert.True(r.DumpDone);
        Assert.Equal(1, h.DumpsDone);
        Assert.Equal(["lo", "eth0", "br0"], h.Links.ConvertAll(l => l.Name));
        Assert.Equal([65536, 1500, 9000], h.Links.ConvertAll(l => l.Mtu));
    }

    [Fact]
    public void BridgePortMessages_AreIgnored_EvenDeletes()
    {
        byte[] d = new NetlinkBuilder()
            .Link(Netlink.RTM_DELLINK, 4, 0, "eth2", 1500, family: Libc.AF_BRIDGE)
            .Link(Netlink.RTM_NEWLINK, 4, 0, "eth2", 1500, family: Libc.AF_BRIDGE)
            .ToArray();
        var h = RecordingLinkHandler.Create();
        LinkParseResult r = LinkMessageParser.Parse(d, ref h);
        Assert.Empty(h.Links);
        Assert.False(r.Malformed);
    }

    [Fact]
    public void MissingAttributes_GiveEmptyNameAndMtuMinusOne()
    {
        byte[] d = new NetlinkBuilder().Link(Netlink.RTM_NEWLINK, 5, 0).ToArray();
        var h = RecordingLinkHandler.Create();
        LinkMessageParser.Parse(d, ref h);
        Assert.Equal((false, 5, "", -1, 0u, ""), Assert.Single(h.Links));
    }

    [Fact]
    public void AttributeTypeFlagBits_AreMaskedOff()
    {
        byte[] d = new NetlinkBuilder().Link(Netlink.RTM_NEWLINK, 5, 0, "eth9", 1500, nameAttrFlags: 0x8000).ToArray();
        var h = RecordingLinkHandler.Create();
        LinkMessageParser.Parse(d, ref h);
        Assert.Equal("eth9", Assert.Single(h.Links).Name);
    }

    [Fact]
    public void ErrorMessage_ReportsErrno_AndAckDoesNot()
    {
        var h = RecordingLinkHandler.Create();
        Assert.Equal((int)Errno.EBUSY, LinkMessageParser.Parse(new NetlinkBuilder().Error(-(int)Errno.EBUSY).ToArray(), ref h).Error);
        Assert.Equal(0, LinkMessageParser.Parse(new NetlinkBuilder().Error(0).ToArray(), ref h).Error);
    }

    [Fact]
    public void TruncatedDatagram_KeepsTheWholeMessagesBeforeIt()
    {
        byte[] d = new NetlinkBuilder()
            .Link(Netlink.RTM_NEWLINK, 1, 0, "eth0", 1500)
            .Link(Netlink.RTM_NEWLINK, 2, 0, "eth1", 1500)
            .ToArray();
        var h = RecordingLinkHandler.Create();
        LinkParseResult r = LinkMessageParser.Parse(d.AsSpan(0, d.Length - 8), ref h);
        Assert.True(r.Malformed);
        Assert.Equal("eth0", Assert.Single(h.Links).Name);
    }

    [Fact]
    public void AttributeLongerThanItsMessage_DropsThatMessage()
    {
        byte[] d = new NetlinkBuilder().Link(Netlink.RTM_NEWLINK, 1, 0, "eth0", 1500).ToArray();
        // The first attribute (IFLA_IFNAME) starts at 16 + 16: claim it is huge.
        BitConverter.GetBytes((ushort)4000).CopyTo(d, 32);
        var h = RecordingLinkHandler.Create();
        LinkParseResult r = LinkMessageParser.Parse(d, ref h);
        Assert.True(r.Malformed);
        Assert.Empty(h.Links);
    }

    [Fact]
    public void Parsing_AllocatesNothing()
    {
        byte[] d = new NetlinkBuilder()
            .Link(Netlink.RTM_NEWLINK, 2, UpRunningLowerUp, "eth0", 1500, [1, 2, 3, 4, 5, 6])
            .Link(Netlink.RTM_DELLINK, 3, 0, "eth1", 9000)
            .Done()
            .ToArray();
        var h = new FlagHandler();
        LinkMessageParser.Parse(d, ref h);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
            LinkMessageParser.Parse(d, ref h);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
