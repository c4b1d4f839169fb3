using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>
/// Says who keeps a backing store from being claimed, for the error an admin reads when an export is
/// refused: what holds a block device (a mount of it or of one of its partitions, device-mapper or md
/// on top of it, swap, the processes that have it open) and which processes hold a lock on a file. It
/// only reads /sys and /proc, and only on that refusal path, so it may allocate and scan every process.
/// The roots are constructor parameters so tests can point it at a made-up tree.
/// </summary>
internal sealed class StoreHolders
{
    /// <summary>More processes than this are summed up as "and N more": the message stays one line.</summary>
    private const int MaxProcessesNamed = 4;

    private readonly string _sysDevBlock;
    private readonly string _mountInfo;
    private readonly string _swaps;
    private readonly string _proc;
    private readonly int _selfPid;

    public StoreHolders(string sysDevBlock = "/sys/dev/block", string mountInfo = "/proc/self/mountinfo",
        string swaps = "/proc/swaps", string proc = "/proc", int selfPid = -1)
    {
        _sysDevBlock = sysDevBlock;
        _mountInfo = mountInfo;
        _swaps = swaps;
        _proc = proc;
        _selfPid = selfPid >= 0 ? selfPid : Environment.ProcessId;
    }

    /// <summary>
    /// Why an O_EXCL open of the block device <paramref name="device"/> failed with EBUSY, e.g.
    /// "mounted on /mnt/data", "partition sdb1 is mounted on /boot", "used by device-mapper dm-0 (vg0-lv1:
    /// LVM, dm-crypt or multipath)", "its disk sdb is in use: ...", or, when the system tells nothing,
    /// "another program has it open exclusively (another ggaoed?)" with the processes that have it open.
    /// </summary>
    public string DescribeBusyBlockDevice(DeviceNumber device)
    {
        var reasons = new List<string>();
        List<MountEntry> mounts = ReadMounts();
        string? dir = ResolveSysDir(device);
        string name = dir != null ? Path.GetFileName(dir) : "";
        DescribeUse(dir, name, device, mounts, "", reasons);
        DeviceNumber? wholeDisk = null;
        if (dir != null)
        {
            // Claiming a whole disk fails while one of its partitions is claimed, and the other way round.
            foreach (string sub in SafeDirectories(dir))
            {
                if (!File.Exists(Path.Combine(sub, "partition")) || ReadDeviceNumber(sub) is not DeviceNumber part)
                    continue;
                string partName = Path.GetFileName(sub);
                DescribeUse(sub, partName, part, mounts, "partition " + partName + " is ", reasons);
            }
            string? parent = Path.GetDirectoryName(dir);
            if (File.Exists(Path.Combine(dir, "partition")) && parent != null && ReadDeviceNumber(parent) is DeviceNumber whole)
            {
                wholeDisk = whole;
                var wholeReasons = new List<string>();
                DescribeUse(parent, Path.GetFileName(parent), whole, mounts, "", wholeReasons);
                if (wholeReasons.Count > 0)
                    reasons.Add("its disk " + Path.GetFileName(parent) + " is " + string.Join(", ", wholeReasons));
            }
        }
        if (reasons.Count > 0)
            return string.Join("; ", reasons);
        // An exclusive opener of a partition's whole disk keeps the partition from being claimed, too.
        string openers = ProcessesWithBlockDeviceOpen(device, wholeDisk ?? device);
        return "another program has it open exclusively (another ggaoed?)" + (openers.Length > 0 ? "; it is open in " + openers : "");
    }

    /// <summary>
    /// The processes holding a lock on the file (st_dev <paramref name="fileSystem"/>, inode
    /// <paramref name="inode"/>), "pid 1234 (ggaoed)", found by the "lock:" lines of /proc/PID/fdinfo
    /// (F_OFD_GETLK reports -1 as the pid of an OFD lock). Empty when none can be seen.
    /// </summary>
    public string ProcessesLocking(DeviceNumber fileSystem, ulong inode)
    {
        // /proc/locks and fdinfo name a file as "MAJ:MIN:INODE", the numbers of its device in hex, two digits at least.
        string key = fileSystem.Major.ToString("x2", CultureInfo.InvariantCulture) + ":"
            + fileSystem.Minor.ToString("x2", CultureInfo.InvariantCulture) + ":" + inode.ToString(CultureInfo.InvariantCulture) + " ";
        var pids = new List<int>();
        foreach ((int pid, string procDir) in Processes())
        {
            foreach (string info in SafeFiles(Path.Combine(procDir, "fdinfo")))
            {
                string? text = ReadSmall(info);
                if (text == null || !HoldsLock(text, key))
                    continue;
                pids.Add(pid);
                break;
            }
        }
        return NameProcesses(pids);
    }

    private static bool HoldsLock(string fdinfo, string key)
    {
        foreach (string line in fdinfo.Split('\n'))
            if (line.StartsWith("lock:", StringComparison.Ordinal) && line.Contains(key, StringComparison.Ordinal)
                && (line.Contains("OFDLCK", StringComparison.Ordinal) || line.Contains("POSIX", StringComparison.Ordinal)))
                return true;
        return false;
    }

    /// <summary>Mounts, holders (dm, md) and swap use of one device, each as a phrase; prefix as "partition sdb1 is ".</summary>
    private void DescribeUse(string? dir, string name, DeviceNumber device, List<MountEntry> mounts, string prefix, List<string> reasons)
    {
        string number = device.ToString();
        foreach (MountEntry m in mounts)
            if (m.Device == number || (name.Length > 0 && m.Source == "/dev/" + name))
                reasons.Add(prefix + "mounted on " + m.MountPoint);
        if (dir != null)
        {
            foreach (string holder in SafeEntries(Path.Combine(dir, "holders")))
                reasons.Add(prefix + DescribeHolder(holder));
        }
        if (IsSwap(device))
            reasons.Add(prefix + "in use as swap");
    }

    private static string DescribeHolder(string holderDir)
    {
        string holder = Path.GetFileName(holderDir);
        string? dmName = ReadSmall(Path.Combine(holderDir, "dm", "name"))?.Trim();
        if (dmName != null)
            return "used by device-mapper " + holder + " (" + dmName + ": LVM, dm-crypt or multipath)";
        if (holder.StartsWith("md", StringComparison.Ordinal))
            return "a member of RAID array " + holder;
        return "held by " + holder;
    }

    private bool IsSwap(DeviceNumber device)
    {
        string? text = ReadSmall(_swaps);
        if (text == null)
            return false;
        string[] lines = text.Split('\n');
        for (int i = 1; i < lines.Length; i++) // the first line is the column header
        {
            int end = lines[i].IndexOfAny([' ', '\t']);
            if (end <= 0)
                continue;
            if (StatBlockDevice(Unescape(lines[i].Substring(0, end))) is DeviceNumber d && d == device)
                return true;
        }
        return false;
    }

    /// <summary>The device's directory in sysfs with symlinks resolved (so its parent is the whole disk for a partition).</summary>
    private string? ResolveSysDir(DeviceNumber device)
    {
        string link = Path.Combine(_sysDevBlock, device.ToString());
        try
        {
            if (!Directory.Exists(link))
                return null;
            FileSystemInfo? real = Directory.ResolveLinkTarget(link, returnFinalTarget: true);
            return real?.FullName ?? Path.GetFullPath(link);
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static DeviceNumber? ReadDeviceNumber(string sysDir)
    {
        string? text = ReadSmall(Path.Combine(sysDir, "dev"))?.Trim();
        if (text == null)
            return null;
        int colon = text.IndexOf(':');
        if (colon <= 0
            || !uint.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out uint major)
            || !uint.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out uint minor))
            return null;
        return new DeviceNumber(major, minor);
    }

    private readonly record struct MountEntry(string Device, string MountPoint, string Source);

    /// <summary>
    /// /proc/self/mountinfo (proc(5)): "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE
    /// SUPEROPTIONS". Btrfs reports an anonymous MAJ:MIN, so the source is compared too.
    /// </summary>
    private List<MountEntry> ReadMounts()
    {
        var mounts = new List<MountEntry>();
        string? text = ReadSmall(_mountInfo);
        if (text == null)
            return mounts;
        foreach (string line in text.Split('\n'))
        {
            string[] f = line.Split(' ');
            if (f.Length < 7)
                continue;
            int dash = Array.IndexOf(f, "-", 6);
            string source = dash > 0 && dash + 2 < f.Length ? Unescape(f[dash + 2]) : "";
            mounts.Add(new MountEntry(f[2], Unescape(f[4]), source));
        }
        return mounts;
    }

    /// <summary>The kernel writes space, tab, newline and backslash in paths as \040, \011, \012 and \134.</summary>
    internal static string Unescape(string s)
    {
        if (!s.Contains('\\'))
            return s;
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && IsOctal(s[i + 1]) && IsOctal(s[i + 2]) && IsOctal(s[i + 3]))
            {
                sb.Append((char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
                i += 3;
            }
            else
            {
                sb.Append(s[i]);
            }
        }
        return sb.ToString();
    }

    private static bool IsOctal(char c) => c is >= '0' and <= '7';

    /// <summary>Processes with a descriptor on either device: /proc/PID/fd links into /dev whose stat has its st_rdev.</summary>
    private string ProcessesWithBlockDeviceOpen(DeviceNumber device, DeviceNumber alsoDevice)
    {
        var pids = new List<int>();
        foreach ((int pid, string procDir) in Processes())
        {
            foreach (string fd in SafeEntries(Path.Combine(procDir, "fd")))
            {
                string? target;
                try
                {
                    target = new FileInfo(fd).LinkTarget;
                }
                catch (IOException) { continue; }
                catch (UnauthorizedAccessException) { continue; }
                // Only device nodes: a stat through the link of a file on a dead NFS server could hang.
                if (target == null || !target.StartsWith("/dev/", StringComparison.Ordinal))
                    continue;
                if (StatBlockDevice(fd) is DeviceNumber d && (d == device || d == alsoDevice))
                {
                    pids.Add(pid);
                    break;
                }
            }
        }
        return NameProcesses(pids);
    }

    private static unsafe DeviceNumber? StatBlockDevice(string path)
    {
        stat st;
        if (Libc.stat_path(path, &st) != 0 || (st.st_mode & Libc.S_IFMT) != Libc.S_IFBLK)
            return null;
        return DeviceNumber.FromDev(st.st_rdev);
    }

    private IEnumerable<(int Pid, string Dir)> Processes()
    {
        foreach (string dir in SafeDirectories(_proc))
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                yield return (pid, dir);
    }

    /// <summary>"pid 812 (ggaoed), pid 4410 (this ggaoed)"; empty for none.</summary>
    private string NameProcesses(List<int> pids)
    {
        pids.Sort();
        var sb = new StringBuilder();
        for (int i = 0; i < pids.Count && i < MaxProcessesNamed; i++)
        {
            if (i > 0)
                sb.Append(", ");
            int pid = pids[i];
            sb.Append("pid ").Append(pid.ToString(CultureInfo.InvariantCulture));
            if (pid == _selfPid)
                sb.Append(" (this ggaoed)");
            else if (ReadSmall(Path.Combine(_proc, pid.ToString(CultureInfo.InvariantCulture), "comm"))?.Trim() is { Length: > 0 } comm)
                sb.Append(" (").Append(comm).Append(')');
        }
        if (pids.Count > MaxProcessesNamed)
            sb.Append(" and ").Append((pids.Count - MaxProcessesNamed).ToString(CultureInfo.InvariantCulture)).Append(" more");
        return sb.ToString();
    }

    private static string? ReadSmall(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    // Processes exit and devices vanish while we look: every listing tolerates it.
    private static string[] SafeDirectories(string dir)
    {
        try
        {
            return Directory.GetDirectories(dir);
        }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }

    private static string[] SafeFiles(string dir)
    {
        try
        {
            return Directory.GetFiles(dir);
        }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }

    private static string[] SafeEntries(string dir)
    {
        try
        {
            return Directory.GetFileSystemEntries(dir);
        }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }
}
