using System;
using System.Collections.Generic;
using Ggaoed.Initiator;

namespace Ggaoed.Tests.Support;

/// <summary>Discovery for tests that expect a target to be there.</summary>
public static class Discovery
{
    /// <summary>
    /// Broadcasts discovery until <paramref name="enough"/> holds for the targets found, at most 10
    /// times, and returns the last list either way (the caller's assertion then says what is missing).
    /// One window is plenty on an idle machine, but a query or its answer can miss it on a loaded one,
    /// as a real initiator's would; like the real initiator, ask again instead of failing.
    /// </summary>
    public static List<AoeTarget> DiscoverUntil(this AoeClient client, Func<List<AoeTarget>, bool> enough, bool identify = true)
    {
        List<AoeTarget> found = [];
        for (int attempt = 0; attempt < 10; attempt++)
        {
            found = client.Discover(TimeSpan.FromSeconds(1), identify: identify);
            if (enough(found))
                break;
        }
        return found;
    }

    /// <summary>Discovers until a target matching <paramref name="match"/> answers; the list is returned.</summary>
    public static List<AoeTarget> DiscoverUntilFound(this AoeClient client, Predicate<AoeTarget> match, bool identify = true) =>
        client.DiscoverUntil(found => found.Exists(match), identify);
}
