using System.IO;
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
/// Everything the configuration loader needs from the machine, behind one seam so that pure tests can
/// decide which paths exist, what /etc/ethers says and which UUIDs resolve.
/// </summary>
public interface IConfigHost
{
    /// <summary>Text of the ethers file, or null if it does not exist; <paramref name="where"/> names it.</summary>
    string? ReadEthers(out string where);

    PathKind GetPathKind(string path);

    /// <summary>The block device carrying <paramref name="uuid"/>, or null with <paramref name="error"/> set.</summary>
    string? ResolveUuid(string uuid, out string error);
}

/// <summary>The real machine: files, statx(2), /dev/disk/by-uuid and superblock scanning.</summary>
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
    }

    public PathKind GetPathKind(string path) => StatPath(path);

    public string? ResolveUuid(string uuid, out string error) => _uuids.Find(uuid, out error);

    /// <summary>Classifies <paramref name="path"/> (following symlinks) with statx(2).</summary>
    public static unsafe PathKind StatPath(string path)
    {
        byte* buf = stackalloc byte[Native.Statx.StructSize];
        int rc = Native.Statx.Invoke(Native.Statx.AT_FDCWD, path, 0, Native.Statx.STATX_TYPE, buf);
        if (rc != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            const int ENOENT = 2, ENOTDIR = 20;
            return errno is ENOENT or ENOTDIR ? PathKind.Missing : PathKind.Inaccessible;
        }
        // struct statx is in host byte order: a plain load, not a wire-format read.
        int mode = *(ushort*)(buf + Native.Statx.OffsetMode);
        return (mode & Native.Statx.S_IFMT) switch
        {
            Native.Statx.S_IFREG => PathKind.RegularFile,
            Native.Statx.S_IFBLK => PathKind.BlockDevice,
            Native.Statx.S_IFDIR => PathKind.Directory,
            _ => PathKind.Other,
        };
    }
}
