using System;
using System.Buffers.Binary;
using System.Text;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// The uevent parser on byte-exact messages. The kernel ones were captured on Linux 6.18 from a
/// NETLINK_KOBJECT_UEVENT socket bound to group 1 ('|' below stands for the NUL separator).
/// </summary>
public class UeventParserTests
{
    /// <summary>losetup -c after the backing file grew: the block layer's capacity change (180 bytes).</summary>
    internal const string LoopResize =
        "change@/devices/virtual/block/loop0|ACTION=change|DEVPATH=/devices/virtual/block/loop0|SUBSYSTEM=block|RESIZE=1|MAJOR=7|MINOR=0|DEVNAME=loop0|DEVTYPE=disk|DISKSEQ=109|SEQNUM=16579|";

    /// <summary>losetup attaching a file: a change without RESIZE although the size went from 0 to 8 MiB.</summary>
    private const string LoopAttach =
        "change@/devices/virtual/block/loop0|ACTION=change|DEVPATH=/devices/virtual/block/loop0|SUBSYSTEM=block|MAJOR=7|MINOR=0|DEVNAME=loop0|DEVTYPE=disk|DISKSEQ=109|SEQNUM=16578|";

    /// <summary>A veth end appearing in a network namespace: not a block device.</summary>
    private const string NetAdd = "add@/devices/virtual/net/vb|ACTION=add|DEVPATH=/devices/virtual/net/vb|SUBSYSTEM=net|INTERFACE=vb|IFINDEX=2|SEQNUM=16588|";

    internal static byte[] Bytes(string withBars) => Encoding.ASCII.GetBytes(withBars.Replace('|', '\0'));

    [Fact]
    public void CapturedResize_YieldsActionDeviceAndResize()
    {
        byte[] m = Bytes(LoopResize);
        Assert.Equal(180, m.Length);
        Assert.True(UeventParser.TryParse(m, out Uevent e));
        Assert.Equal(UeventAction.Change, e.Action);
        Assert.True(e.IsBlock);
        Assert.True(e.Resize);
        Assert.Equal("loop0", e.DevNameString());
        Assert.Equal("disk", Encoding.ASCII.GetString(e.DevType));
        Assert.Equal("/devices/virtual/block/loop0", Encoding.ASCII.GetString(e.DevPath));
        Assert.True(e.TryGetDeviceNumber(out DeviceNumber d));
        Assert.Equal(new DeviceNumber(7, 0), d);
        Assert.Equal(16579UL, e.SeqNum);
    }

    [Fact]
    public void CapturedAttach_IsAChangeWithoutResize()
    {
        Assert.True(UeventParser.TryParse(Bytes(LoopAttach), out Uevent e));
        Assert.Equal(UeventAction.Change, e.Action);
        Assert.False(e.Resize);
        Assert.Equal(7, e.Major);
    }

    [Fact]
    public void CapturedNetworkEvent_ParsesButIsNotBlock()
    {
        Assert.True(UeventParser.TryParse(Bytes(NetAdd), out Uevent e));
        Assert.Equal(UeventAction.Add, e.Action);
        Assert.False(e.IsBlock);
        Assert.Equal("net", Encoding.ASCII.GetString(e.Subsystem));
        Assert.False(e.TryGetDeviceNumber(out _));
    }

    [Fact]
    public void PartitionAdd_HasItsOwnNumberAndType()
    {
        byte[] m = Bytes("add@/devices/virtual/block/loop3/loop3p1|ACTION=add|DEVPATH=/devices/virtual/block/loop3/loop3p1|SUBSYSTEM=block"
            + "|MAJOR=259|MINOR=4|DEVNAME=loop3p1|DEVTYPE=partition|DISKSEQ=12|PARTN=1|SEQNUM=2041|");
        Assert.True(UeventParser.TryParse(m, out Uevent e));
        Assert.Equal(UeventAction.Add, e.Action);
        Assert.Equal("partition", Encoding.ASCII.GetString(e.DevType));
        Assert.True(e.TryGetDeviceNumber(out DeviceNumber d));
        Assert.Equal(new DeviceNumber(259, 4), d);
    }

    /// <summary>
    /// udev's re-broadcast of the same event in libudev's format: "libudev\0", magic 0xfeedcafe (big-endian),
    /// then header size, properties offset and length, two filter hashes and a 64-bit tag bloom filter (host
    /// order), then the properties. It arrives on udev's group (2), or on ours from a misbehaving sender.
    /// </summary>
    internal static byte[] LibudevMessage()
    {
        byte[] properties = Bytes("ACTION=change|DEVPATH=/devices/virtual/block/loop0|SUBSYSTEM=block|RESIZE=1|MAJOR=7|MINOR=0|DEVNAME=/dev/loop0"
            + "|DEVTYPE=disk|SEQNUM=16579|USEC_INITIALIZED=4207|");
        const int header = 40;
        byte[] m = new byte[header + properties.Length];
        Encoding.ASCII.GetBytes("libudev\0").CopyTo(m, 0);
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(8), 0xfeedcafe);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(12), header);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(16), header);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(20), (uint)properties.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(24), 0x1234abcd); // subsystem hash
        properties.CopyTo(m, header);
        return m;
    }

    [Fact]
    public void LibudevFormat_IsNotAKernelUevent()
    {
        Assert.False(UeventParser.TryParse(LibudevMessage(), out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("||")]
    [InlineData("no-at-sign|ACTION=change|SUBSYSTEM=block|")]
    [InlineData("change@|ACTION=change|")]                 // no DEVPATH
    [InlineData("@/devices/virtual/block/loop0|")]         // no action
    [InlineData("change@devices/relative|SUBSYSTEM=block|")] // DEVPATH always starts with /
    [InlineData("libudev|")]
    public void NotAUevent_IsRefused(string text)
    {
        Assert.False(UeventParser.TryParse(Bytes(text), out _));
    }

    [Fact]
    public void MissingFinalNul_StillReadsTheLastPair()
    {
        Assert.True(UeventParser.TryParse(Bytes("change@/devices/virtual/block/loop1|SUBSYSTEM=block|RESIZE=1"), out Uevent e));
        Assert.True(e.Resize);
        Assert.True(e.IsBlock);
        Assert.Equal(-1, e.Major);
    }

    [Theory]
    [InlineData("MAJOR=abc", -1)]
    [InlineData("MAJOR=-7", -1)]
    [InlineData("MAJOR=+7", -1)]
    [InlineData("MAJOR=", -1)]
    [InlineData("MAJOR=7x", -1)]
    [InlineData("MAJOR=253", 253)]
    public void Numbers_MustBePlainDecimal(string pair, long major)
    {
        Assert.True(UeventParser.TryParse(Bytes("change@/devices/x|" + pair + "|MINOR=1|"), out Uevent e));
        Assert.Equal(major, e.Major);
        Assert.Equal(major >= 0, e.TryGetDeviceNumber(out _));
    }

    [Fact]
    public void ANumberBeyondADevT_HasNoDeviceNumber()
    {
        Assert.True(UeventParser.TryParse(Bytes("change@/devices/x|MAJOR=4294967296|MINOR=1|"), out Uevent e));
        Assert.False(e.TryGetDeviceNumber(out _));
    }

    [Theory]
    [InlineData("RESIZE=0", false)]
    [InlineData("RESIZE=11", false)]
    [InlineData("RESIZE=1", true)]
    [InlineData("XRESIZE=1", false)]
    public void OnlyResizeEqualsOne_IsAResize(string pair, bool resize)
    {
        Assert.True(UeventParser.TryParse(Bytes("change@/devices/x|SUBSYSTEM=block|" + pair + "|"), out Uevent e));
        Assert.Equal(resize, e.Resize);
    }

    [Theory]
    [InlineData("remove", (int)UeventAction.Remove)]
    [InlineData("move", (int)UeventAction.Move)]
    [InlineData("online", (int)UeventAction.Online)]
    [InlineData("offline", (int)UeventAction.Offline)]
    [InlineData("bind", (int)UeventAction.Bind)]
    [InlineData("unbind", (int)UeventAction.Unbind)]
    [InlineData("frobnicate", (int)UeventAction.Other)]
    public void Actions_AreNamed_TheActionKeyWinsOverTheHead(string action, int expectedAction)
    {
        var expected = (UeventAction)expectedAction;
        Assert.True(UeventParser.TryParse(Bytes("change@/devices/x|ACTION=" + action + "|"), out Uevent e));
        Assert.Equal(expected, e.Action);
        Assert.True(UeventParser.TryParse(Bytes(action + "@/devices/x|"), out e));
        Assert.Equal(expected, e.Action);
    }

    [Fact]
    public void Parsing_AllocatesNothing()
    {
        byte[] resize = Bytes(LoopResize), net = Bytes(NetAdd), udev = LibudevMessage();
        long sum = Parse(resize, net, udev, 100);
        long before = GC.GetAllocatedBytesForCurrentThread();
        sum += Parse(resize, net, udev, 10_000);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(10_100 * (7 + 1), sum);
    }

    private static long Parse(byte[] a, byte[] b, byte[] c, int rounds)
    {
        long sum = 0;
        for (int i = 0; i < rounds; i++)
        {
            if (UeventParser.TryParse(a, out Uevent e) && e.Resize && e.IsBlock)
                sum += e.Major;
            if (UeventParser.TryParse(b, out e) && !e.IsBlock)
                sum++;
            if (UeventParser.TryParse(c, out _))
                sum += 1000;
        }
        return sum;
    }
}
