using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Microsoft.Win32.SafeHandles;

namespace Ggaoed.Storage;

/// <summary>
/// Finds the block device that carries a filesystem, swap, LUKS or partition UUID, without libblkid:
/// first the udev symlinks in /dev/disk/by-uuid and /dev/disk/by-partuuid, then (no udev, or udev has not
/// caught up with a device that just appeared) every device in /sys/class/block, reading its superblock
/// with <see cref="UuidSuperblock"/>. The directories are constructor parameters so tests can point the
/// scan at a loop device without udev.
/// </summary>
public sealed class UuidLookup
{
    private readonly string[] _linkDirectories;
    private readonly string _sysClassBlock;
    private readonly string _devDirectory;

    public UuidLookup(string[]? linkDirectories = null, string sysClassBlock = "/sys/class/block", string devDirectory = "/dev")
    {
        _linkDirectories = linkDirectories ?? ["/dev/disk/by-uuid", "/dev/disk/by-partuuid"];
        _sysClassBlock = sysClassBlock;
        _devDirectory = devDirectory;
    }

    /// <summary>The device node path, or null with <paramref name="error"/> saying what was tried.</summary>
    public string? Find(string uuid, out string error)
    {
        error = "";
        string want = UuidSuperblock.Normalize(uuid);
        if (want.Length == 0 || want.IndexOfAny(['/', ' ', '\t']) >= 0)
        {
            error = "'" + uuid + "' is not a UUID";
            return null;
        }

        foreach (string dir in _linkDirectories)
        {
            string? viaLink = FindInLinkDirectory(dir, want);
            if (viaLink != null)
                return viaLink;
        }

        var hits = new List<string>();
        int scanned = ScanSysfs(want, hits);
        if (hits.Count == 1)
            return hits[0];
        if (hits.Count > 1)
        {
            error = "UUID " + want + " is on more than one device (" + string.Join(", ", hits) + "): use path to pick one";
            return null;
        }
        error = "no block device has UUID " + want + " (looked in " + string.Join(", ", _linkDirectories) + " and read the headers of "
            + scanned.ToString(CultureInfo.InvariantCulture) + " devices in " + _sysClassBlock + "): check the UUID with blkid, or use path";
        return null;
    }

    private static string? FindInLinkDirectory(string dir, string want)
    {
        if (!Directory.Exists(dir))
            return null;
        try
        {
            foreach (string link in Directory.EnumerateFileSystemEntries(dir))
            {
                // udev escapes some characters in names; UUIDs of the supported kinds never need it.
                if (!string.Equals(Path.GetFileName(link), want, StringComparison.OrdinalIgnoreCase))
                    continue;
                FileSystemInfo? target = File.ResolveLinkTarget(link, returnFinalTarget: true);
                return target?.FullName ?? link;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>Probes every non-empty block device; returns how many were read.</summary>
    private int ScanSysfs(string want, List<string> hits)
    {
        if (!Directory.Exists(_sysClassBlock))
            return 0;
        int scanned = 0;
        byte[] head = new byte[UuidSuperblock.HeadBytes];
        string[] entries;
        try
        {
            entries = Directory.GetFileSystemEntries(_sysClassBlock);
        }
        catch (IOException) { return 0; }
        catch (UnauthorizedAccessException) { return 0; }
        Array.Sort(entries, StringComparer.Ordinal);
        foreach (string entry in entries)
        {
            string name = Path.GetFileName(entry);
            // Empty loop devices and ejected media have size 0; opening them is pointless.
            if (ReadSmallFile(Path.Combine(entry, "size"))?.Trim() == "0")
                continue;
            string node = DeviceNode(entry, name);
            int n = ReadHead(node, head, 0);
            if (n <= 0)
                continue;
            scanned++;
            string? found = UuidSuperblock.Probe(head.AsSpan(0, n), out _);
            if (found != null && found == want)
            {
                hits.Add(node);
                continue;
            }
            string? partUuid = PartitionUuid(entry);
            if (partUuid != null && partUuid == want)
                hits.Add(node);
        }
        return scanned;
    }

    /// <summary>The unique GPT GUID (or MBR PARTUUID) of a partition, read from its parent disk.</summary>
    private string? PartitionUuid(string entry)
    {
        string? partText = ReadSmallFile(Path.Combine(entry, "partition"));
        if (partText == null || !int.TryParse(partText.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int number) || number < 1)
            return null;
        string? parentDir;
        try
        {
            FileSystemInfo? real = Directory.ResolveLinkTarget(entry, returnFinalTarget: true);
            parentDir = Path.GetDirectoryName(real?.FullName ?? entry);
        }
        catch (IOException) { return null; }
        if (parentDir == null)
            return null;
        string parentName = Path.GetFileName(parentDir);
        string parentNode = DeviceNode(parentDir, parentName);
        int sector = 512;
        if (int.TryParse(ReadSmallFile(Path.Combine(parentDir, "queue", "logical_block_size"))?.Trim(), NumberStyles.None,
                CultureInfo.InvariantCulture, out int lbs) && lbs >= 512 && lbs <= 65536)
            sector = lbs;

        byte[] first = new byte[sector * 2];
        int n = ReadHead(parentNode, first, 0);
        if (n < first.Length)
            return null;
        if (UuidSuperblock.TryReadGptHeader(first, sector, out long entriesLba, out uint count, out uint entrySize))
        {
            if ((uint)(number - 1) >= count)
                return null;
            // Read just enough of the disk to cover the entry; the pure reader wants offsets from LBA 0.
            long end = entriesLba * sector + (long)number * entrySize;
            if (end > 16 * 1024 * 1024)
                return null;
            byte[] disk = new byte[end];
            if (ReadHead(parentNode, disk, 0) < disk.Length)
                return null;
            return UuidSuperblock.ReadGptPartitionGuid(disk, sector, number - 1);
        }
        return UuidSuperblock.ReadMbrPartUuid(first, number);
    }

    private string DeviceNode(string sysEntry, string name)
    {
        string? uevent = ReadSmallFile(Path.Combine(sysEntry, "uevent"));
        if (uevent != null)
        {
            foreach (string line in uevent.Split('\n'))
                if (line.StartsWith("DEVNAME=", StringComparison.Ordinal))
                    return Path.Combine(_devDirectory, line[8..].Trim());
        }
        return Path.Combine(_devDirectory, name);
    }

    private static int ReadHead(string path, byte[] buffer, long offset)
    {
        try
        {
            using SafeFileHandle h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            int total = 0;
            while (total < buffer.Length)
            {
                int r = RandomAccess.Read(h, buffer.AsSpan(total), offset + total);
                if (r <= 0)
                    break;
                total += r;
            }
            return total;
        }
        catch (IOException) { return -1; }
        catch (UnauthorizedAccessException) { return -1; }
    }

    private static string? ReadSmallFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
