using System.Collections.Generic;
using Ggaoed.Daemon.Config;

namespace Ggaoed.Tests.Config;

/// <summary>A machine made of dictionaries: which paths exist, what /etc/ethers holds, which UUIDs resolve.</summary>
internal sealed class FakeConfigHost : IConfigHost
{
    public Dictionary<string, PathKind> Paths { get; } = new();
    public Dictionary<string, string> Uuids { get; } = new();
    public string? EthersText { get; set; }
    public int EthersReads { get; private set; }

    public string? ReadEthers(out string where)
    {
        EthersReads++;
        where = "/etc/ethers";
        return EthersText;
    }

    public PathKind GetPathKind(string path) => Paths.TryGetValue(path, out PathKind k) ? k : PathKind.Missing;

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

    public FakeConfigHost WithFile(string path)
    {
        Paths[path] = PathKind.RegularFile;
        return this;
    }

    public FakeConfigHost WithBlockDevice(string path)
    {
        Paths[path] = PathKind.BlockDevice;
        return this;
    }
}
