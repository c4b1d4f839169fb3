using System.Collections.Generic;
using Ggaoed.Daemon.Config;

namespace Ggaoed.Tests.Config;

/// <summary>
/// A machine made of dictionaries: which paths exist and what they are (each path its own store unless
/// <see cref="WithAlias"/> says otherwise), what /etc/ethers holds, which UUIDs resolve.
/// </summary>
internal sealed class FakeConfigHost : IConfigHost
{
    /// <summary>Size of every store unless <see cref="WithFile"/> or <see cref="WithBlockDevice"/> says otherwise: 1 GiB.</summary>
    public const long DefaultSizeBytes = 1L << 30;

    private ulong _nextInode = 100;

    public Dictionary<string, PathInfo> Paths { get; } = new();
    public Dictionary<string, string> Uuids { get; } = new();
    public string? EthersText { get; set; }
    public int EthersReads { get; private set; }

    /// <summary>When set, reading /etc/ethers throws it (a directory there, a disk error).</summary>
    public System.Exception? EthersFailure { get; set; }

    public string? ReadEthers(out string where)
    {
        EthersReads++;
        where = "/etc/ethers";
        if (EthersFailure != null)
            throw EthersFailure;
        return EthersText;
    }

    public PathInfo Examine(string path) => Paths.TryGetValue(path, out PathInfo p) ? p : PathInfo.Of(PathKind.Missing);

    public string? ResolveUuid(string uuid, out string error)
    {
        if (Uuids.TryGetValue(uuid, out string? dev))
        {
            error = "";
            return dev;
        }
        error = "no block device has UUID " + uuid + ": check the UUID with blkid, or use path";
        return null;
    }

    /// <summary>A regular file on device 8:1 with an inode of its own.</summary>
    public FakeConfigHost WithFile(string path, long sizeBytes = DefaultSizeBytes)
    {
        Paths[path] = new PathInfo(PathKind.RegularFile, new StoreIdentity(false, 0x801, _nextInode++), sizeBytes);
        return this;
    }

    /// <summary>A block device with a device number of its own.</summary>
    public FakeConfigHost WithBlockDevice(string path, long sizeBytes = DefaultSizeBytes)
    {
        Paths[path] = new PathInfo(PathKind.BlockDevice, new StoreIdentity(true, _nextInode++, 0), sizeBytes);
        return this;
    }

    /// <summary>Something that is not a file or a block device (or cannot be examined).</summary>
    public FakeConfigHost With(string path, PathKind kind)
    {
        Paths[path] = PathInfo.Of(kind);
        return this;
    }

    /// <summary><paramref name="alias"/> reaches the same store as <paramref name="target"/> (a symlink, a second node).</summary>
    public FakeConfigHost WithAlias(string alias, string target)
    {
        Paths[alias] = Paths[target];
        return this;
    }
}
