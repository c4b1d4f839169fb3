using System;
using System.Collections.Generic;
using Ggaoed.Initiator;

namespace Ggaoed.Tests.Support;

/// <summary>Discovery for tests that expect a target to be there.</summary>
public static class Discovery
{
    /// <summary>
    /// Sends discovery (to <paramref name="shelf"/>.<paramref name="slot"/>, broadcast unless given)
    /// until <paramref name="enough"/> holds for the targets found, at most <paramref name="attempts"/>
    /// times with a <paramref name="window"/> (1 s unless given) each, and returns the last list either
    /// way (the caller's assertion then says what is missing). One window is plenty on an idle machine,
    /// but a query or its answer can miss it on a loaded one, or a target just started may not be
    /// listening yet; like a real initiator, ask again instead of failing.
    /// </summary>
    public static List<DiscoveredTarget> DiscoverUntil(this AoeClient client, Func<List<DiscoveredTarget>, bool> enough,
        TimeSpan? window = null, ushort shelf = AoeWire.BroadcastShelf, byte slot = AoeWire.BroadcastSlot,
        bool identify = true, int attempts = 10)
    {
        List<DiscoveredTarget> found = [];
        for (int attempt = 0; attempt < attempts; attempt++)
        {
            found = client.Discover(window ?? TimeSpan.FromSeconds(1), shelf, slot, identify);
            if (enough(found))
                break;
        }
        return found;
    }

    /// <summary>Discovers until a target matching <paramref name="match"/> answers; the list is returned.</summary>
    public static List<DiscoveredTarget> DiscoverUntilFound(this AoeClient client, Predicate<DiscoveredTarget> match, bool identify = true) =>
        client.DiscoverUntil(found => found.Exists(match), identify: identify);
}
