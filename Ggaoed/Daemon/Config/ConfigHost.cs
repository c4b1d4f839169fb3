using System;
using System.Globalization;
using System.IO;
using Ggaoed.Native;
using Ggaoed.Storage;

namespace Ggaoed.Daemon.Config;

/// <summary>What a device's <c>path</c> turned out to be.</summary>
public enum PathKind
{
    Missing,
    RegularFile,
    BlockDevice,
    Directory,
    /// <summary>A character device, FIFO, socket: nothing that can be exported.</summary>
    Other,
    /// <summary>stat failed for another reason than ENOENT (e.g. EACCES).</summary>
    Inaccessible,
}

/// <summary>
/// Which backing store a path reaches, whatever name it goes by (a symlink, a second device node, the
/// /dev/disk/by-uuid link): <c>st_dev</c> and <c>st_ino</c> for a regular file, <c>st_rdev</c> for a block device
/// (every node of one disk or partition carries the same device number; the inode is 0 then).
/// </summary>
public readonly record struct StoreIdentity(bool BlockDevice, ulong Device, ulong Inode);

/// <summary>
/// What stat(2) says of a path, following symlinks. <see cref="Identity"/> is meaningful for regular files and
/// block devices only; <see cref="SizeBytes"/> is -1 when it could not be had cheaply.
/// </summary>
public readonly record struct PathInfo(PathKind Kind, StoreIdentity Identity, long SizeBytes)
{
    public static PathInfo Of(PathKind kind) => new(kind, default, -1);
}

/// <summary>
/// Everything the configuration loader needs from the machine, behind one seam so that pure tests can
/// decide which paths exist, what they are, what /etc/ethers says and which UUIDs resolve.
/// </summary>
public interface IConfigHost
{
    /// <summary>Text of the ethers file, or null if it does not exist; <paramref name="where"/> names it.</summary>
    string? ReadEthers(out string where);

    /// <summary>Kind, identity and (when cheap) size of <paramref name="path"/>, following symlinks.</summary>
    PathInfo Examine(string path);

    /// <summary>The block device carrying <paramref name="uuid"/>, or null with <paramref name="error"/> set.</summary>
    string? ResolveUuid(string uuid, out string error);
}

/// <summary>The real machine: files, stat(2), /sys/dev/block, /dev/disk/by-uuid and superblock scanning.</summary>
public sealed class SystemConfigHost : IConfigHost
{
    private readonly string _ethersPath;
    private readonly UuidLookup _uuids;

    public SystemConfigHost(string ethersPath = EthersFile.DefaultPath, UuidLookup? uuids = null)
    {
        _ethersPath = ethersPath;
        _uuids = uuids ?? new UuidLookup();
    }

    public string? ReadEthers(out string where)
    {
        where = _ethersPath;
        try
        {
            return File.ReadAllText(_ethersPath);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        catch (UnauthorizedAccessException) when (Directory.Exists(_ethersPath))
        {
            // .NET says "access denied" for a directory; the admin needs to hear what is wrong.
            throw new IOException(_ethersPath + " is a directory, not a file of MAC addresses and host names");
        }
    }

    public PathInfo Examine(string path) => ExaminePath(path);

    public string? ResolveUuid(string uuid, out string error) => _uuids.Find(uuid, out error);

    /// <summary>Classifies <paramref name="path"/> (following symlinks).</summary>
    public static PathKind StatPath(string path) => ExaminePath(path).Kind;

    /// <summary>
    /// stat(2) of <paramref name="path"/>, following symlinks. A block device's size comes from
    /// /sys/dev/block/MAJOR:MINOR/size (512-byte units), which needs no open(2) of the device.
    /// </summary>
    public static unsafe PathInfo ExaminePath(string path)
    {
        stat st;
        if (Libc.stat_path(path, &st) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            const int ENOENT = 2, ENOTDIR = 20;
            return PathInfo.Of(errno is ENOENT or ENOTDIR ? PathKind.Missing : PathKind.Inaccessible);
        }
        return (st.st_mode & Libc.S_IFMT) switch
        {
            Libc.S_IFREG => new PathInfo(PathKind.RegularFile, new StoreIdentity(false, st.st_dev, st.st_ino), st.st_size),
            Libc.S_IFBLK => new PathInfo(PathKind.BlockDevice, new StoreIdentity(true, st.st_rdev, 0), BlockDeviceBytes(st.st_rdev)),
            Libc.S_IFDIR => PathInfo.Of(PathKind.Directory),
            _ => PathInfo.Of(PathKind.Other),
        };
    }

    private static long BlockDeviceBytes(ulong rdev)
    {
        // glibc's gnu_dev_major/gnu_dev_minor split of a dev_t (sys/sysmacros.h).
        ulong major = ((rdev >> 8) & 0xFFF) | ((rdev >> 32) & 0xFFFFF000);
        ulong minor = (rdev & 0xFF) | ((rdev >> 12) & 0xFFFFFF00);
        string sizeFile = "/sys/dev/block/" + major.ToString(CultureInfo.InvariantCulture) + ":"
            + minor.ToString(CultureInfo.InvariantCulture) + "/size";
        try
        {
            return long.TryParse(File.ReadAllText(sizeFile).AsSpan().Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long sectors)
                ? sectors * 512
                : -1;
        }
        catch (IOException)
        {
            return -1;
        }
        catch (System.UnauthorizedAccessException)
        {
            return -1;
        }
    }
}
