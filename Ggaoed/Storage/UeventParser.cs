using System;
using System.Buffers.Text;
using System.Text;

namespace Ggaoed.Storage;

/// <summary>The ACTION of a uevent (lib/kobject_uevent.c kobject_actions[]).</summary>
internal enum UeventAction : byte
{
    /// <summary>An action this parser does not know (a newer kernel's); the event is still reported.</summary>
    Other,
    Add,
    Remove,
    Change,
    Move,
    Online,
    Offline,
    Bind,
    Unbind,
}

/// <summary>
/// One kernel uevent. The spans point into the receive buffer and are valid only while the handler
/// runs (<see cref="IBlockEventHandler.OnBlockEvent"/>); copy what you keep.
/// </summary>
internal readonly ref struct Uevent
{
    public Uevent(UeventAction action, ReadOnlySpan<byte> devPath, ReadOnlySpan<byte> subsystem, ReadOnlySpan<byte> devName,
        ReadOnlySpan<byte> devType, long major, long minor, bool resize, ulong seqNum)
    {
        Action = action;
        DevPath = devPath;
        Subsystem = subsystem;
        DevName = devName;
        DevType = devType;
        Major = major;
        Minor = minor;
        Resize = resize;
        SeqNum = seqNum;
    }

    public UeventAction Action { get; }

    /// <summary>The sysfs path below /sys, e.g. "/devices/virtual/block/loop0".</summary>
    public ReadOnlySpan<byte> DevPath { get; }

    /// <summary>SUBSYSTEM, e.g. "block"; empty when absent.</summary>
    public ReadOnlySpan<byte> Subsystem { get; }

    /// <summary>DEVNAME: the node's name below /dev, e.g. "loop0" or "mapper/..."; empty when absent.</summary>
    public ReadOnlySpan<byte> DevName { get; }

    /// <summary>DEVTYPE: "disk" or "partition" for block devices; empty when absent.</summary>
    public ReadOnlySpan<byte> DevType { get; }

    /// <summary>MAJOR, or -1 when absent or not a number.</summary>
    public long Major { get; }

    /// <summary>MINOR, or -1 when absent or not a number.</summary>
    public long Minor { get; }

    /// <summary>RESIZE=1: the block layer announces a capacity change (losetup -c, lvextend, a grown virtual disk).</summary>
    public bool Resize { get; }

    /// <summary>SEQNUM, 0 when absent.</summary>
    public ulong SeqNum { get; }

    public bool IsBlock => Subsystem.SequenceEqual("block"u8);

    /// <summary>The device's number, to match a store's <see cref="BackingStore.DeviceNumber"/>.</summary>
    public bool TryGetDeviceNumber(out DeviceNumber device)
    {
        if (Major < 0 || Minor < 0 || Major > uint.MaxValue || Minor > uint.MaxValue)
        {
            device = default;
            return false;
        }
        device = new DeviceNumber((uint)Major, (uint)Minor);
        return true;
    }

    /// <summary>Allocates: for a log line only.</summary>
    public string DevNameString() => Encoding.UTF8.GetString(DevName);
}

/// <summary>
/// Parses one NETLINK_KOBJECT_UEVENT datagram as the kernel sends it: "ACTION@DEVPATH\0" then
/// "KEY=VALUE\0" pairs (lib/kobject_uevent.c). Pure: bytes in, a <see cref="Uevent"/> out, no
/// allocation. udev's own re-broadcasts (libudev's format: "libudev\0", a binary header, then the
/// properties) and anything else without the "ACTION@DEVPATH" head are refused, so only what the
/// kernel said is believed.
/// </summary>
internal static class UeventParser
{
    public static bool TryParse(ReadOnlySpan<byte> message, out Uevent uevent)
    {
        uevent = default;
        // A libudev message starts with the NUL-terminated "libudev" (then magic 0xfeedcafe, big-endian).
        if (message.StartsWith("libudev\0"u8))
            return false;
        int end = message.IndexOf((byte)0);
        ReadOnlySpan<byte> head = end >= 0 ? message.Slice(0, end) : message;
        int at = head.IndexOf((byte)'@');
        if (at <= 0 || at + 1 >= head.Length || head[at + 1] != (byte)'/')
            return false;
        UeventAction action = ParseAction(head.Slice(0, at));
        ReadOnlySpan<byte> devPath = head.Slice(at + 1);
        ReadOnlySpan<byte> subsystem = default, devName = default, devType = default;
        long major = -1, minor = -1;
        bool resize = false;
        ulong seqNum = 0;

        ReadOnlySpan<byte> rest = end >= 0 ? message.Slice(end + 1) : default;
        while (!rest.IsEmpty)
        {
            int n = rest.IndexOf((byte)0);
            ReadOnlySpan<byte> pair = n >= 0 ? rest.Slice(0, n) : rest;
            rest = n >= 0 ? rest.Slice(n + 1) : default;
            int eq = pair.IndexOf((byte)'=');
            if (eq <= 0)
                continue;
            ReadOnlySpan<byte> key = pair.Slice(0, eq);
            ReadOnlySpan<byte> value = pair.Slice(eq + 1);
            if (key.SequenceEqual("ACTION"u8))
                action = ParseAction(value);
            else if (key.SequenceEqual("SUBSYSTEM"u8))
                subsystem = value;
            else if (key.SequenceEqual("DEVNAME"u8))
                devName = value;
            else if (key.SequenceEqual("DEVTYPE"u8))
                devType = value;
            else if (key.SequenceEqual("MAJOR"u8))
                major = ParseNumber(value);
            else if (key.SequenceEqual("MINOR"u8))
                minor = ParseNumber(value);
            else if (key.SequenceEqual("RESIZE"u8))
                resize = value.SequenceEqual("1"u8);
            else if (key.SequenceEqual("SEQNUM"u8))
                seqNum = ParseNumber(value) is long s and >= 0 ? (ulong)s : 0;
        }
        uevent = new Uevent(action, devPath, subsystem, devName, devType, major, minor, resize, seqNum);
        return true;
    }

    private static UeventAction ParseAction(ReadOnlySpan<byte> a)
    {
        if (a.SequenceEqual("change"u8)) return UeventAction.Change;
        if (a.SequenceEqual("add"u8)) return UeventAction.Add;
        if (a.SequenceEqual("remove"u8)) return UeventAction.Remove;
        if (a.SequenceEqual("move"u8)) return UeventAction.Move;
        if (a.SequenceEqual("online"u8)) return UeventAction.Online;
        if (a.SequenceEqual("offline"u8)) return UeventAction.Offline;
        if (a.SequenceEqual("bind"u8)) return UeventAction.Bind;
        if (a.SequenceEqual("unbind"u8)) return UeventAction.Unbind;
        return UeventAction.Other;
    }

    /// <summary>A decimal number that fills the whole value, or -1.</summary>
    private static long ParseNumber(ReadOnlySpan<byte> value)
        => Utf8Parser.TryParse(value, out long n, out int used) && used == value.Length && n >= 0 && value[0] != (byte)'+' ? n : -1;
}
