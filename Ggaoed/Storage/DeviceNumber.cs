using System.Globalization;

namespace Ggaoed.Storage;

/// <summary>
/// A block device's number (dev_t) as major and minor: how a uevent (MAJOR=, MINOR=), /sys/dev/block,
/// /proc/self/mountinfo and a store's st_rdev name the same disk.
/// </summary>
public readonly record struct DeviceNumber(uint Major, uint Minor)
{
    /// <summary>glibc's split of a 64-bit dev_t (sys/sysmacros.h: gnu_dev_major, gnu_dev_minor).</summary>
    public static DeviceNumber FromDev(ulong dev)
        => new((uint)(((dev >> 8) & 0xFFF) | ((dev >> 32) & 0xFFFFF000)),
               (uint)((dev & 0xFF) | ((dev >> 12) & 0xFFFFFF00)));

    /// <summary>"7:0", as /sys/dev/block and mountinfo write it.</summary>
    public override string ToString()
        => Major.ToString(CultureInfo.InvariantCulture) + ":" + Minor.ToString(CultureInfo.InvariantCulture);
}
