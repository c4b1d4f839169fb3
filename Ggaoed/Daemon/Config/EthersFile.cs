using System;
using System.Collections.Generic;

namespace Ggaoed.Daemon.Config;

/// <summary>
/// The /etc/ethers host table (ethers(5)): one <c>MAC hostname</c> pair per line, <c>#</c> starts a comment.
/// Parsed here instead of through ether_hostton(3), because that goes through NSS, which a static binary
/// cannot load. Malformed lines are skipped, as glibc does; the first entry for a name wins.
/// </summary>
public sealed class EthersFile
{
    public const string DefaultPath = "/etc/ethers";

    private readonly Dictionary<string, ulong> _byName;

    private EthersFile(Dictionary<string, ulong> byName) => _byName = byName;

    public static EthersFile Empty { get; } = new(new Dictionary<string, ulong>(StringComparer.Ordinal));

    public int Count => _byName.Count;

    public static EthersFile Parse(string text)
    {
        var map = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (string rawLine in text.Split('\n'))
        {
            ReadOnlySpan<char> line = rawLine;
            int hash = line.IndexOf('#');
            if (hash >= 0)
                line = line[..hash];
            line = line.Trim();
            if (line.IsEmpty)
                continue;
            int sep = line.IndexOfAny(' ', '\t');
            if (sep < 0)
                continue;
            ReadOnlySpan<char> macText = line[..sep];
            ReadOnlySpan<char> rest = line[sep..].Trim();
            int sep2 = rest.IndexOfAny(' ', '\t');
            ReadOnlySpan<char> name = sep2 < 0 ? rest : rest[..sep2];
            if (name.IsEmpty || !MacText.TryParse(macText, out ulong mac))
                continue;
            map.TryAdd(name.ToString(), mac);
        }
        return new EthersFile(map);
    }

    public bool TryLookup(string hostName, out ulong mac) => _byName.TryGetValue(hostName, out mac);
}
