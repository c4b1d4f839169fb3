using System.Collections.Generic;
using Ggaoed.Daemon.Config;

namespace Ggaoed.Tests.Config;

/// <summary>What the loader tests share: a minimal device, loading against a fake machine, diagnostics as printed.</summary>
internal static class ConfigText
{
    /// <summary>A device on /srv/a at e1.1, lines 1 to 4.</summary>
    public const string Device = "[d]\npath = /srv/a\nshelf = 1\nslot = 1\n";

    /// <summary>Loads <paramref name="text"/> as g.conf; the default machine has the regular files /srv/a and /srv/b.</summary>
    public static ConfigLoadResult Load(string text, FakeConfigHost? host = null) =>
        ConfigLoader.LoadText(text, "g.conf", host ?? new FakeConfigHost().WithFile("/srv/a").WithFile("/srv/b"));

    public static string[] Lines(IReadOnlyList<ConfigDiagnostic> diagnostics)
    {
        var list = new List<string>();
        foreach (ConfigDiagnostic d in diagnostics)
            list.Add(d.ToString());
        return list.ToArray();
    }
}
