using System.Collections.Generic;
using Ggaoed.Daemon;
using Ggaoed.Daemon.Config;
using Ggaoed.Protocol;

namespace Ggaoed.Tests.Config;

/// <summary>What the loader tests share: a minimal device, loading against a fake machine, diagnostics as printed.</summary>
internal static class ConfigText
{
    /// <summary>A device on /srv/a at e1.1, lines 1 to 4.</summary>
    public const string Device = "[d]\npath = /srv/a\nshelf = 1\nslot = 1\n";

    /// <summary>Loads <paramref name="text"/> as g.conf; the default machine has the regular files /srv/a and /srv/b.</summary>
    public static ConfigLoadResult Load(string text, FakeConfigHost? host = null) =>
        ConfigLoader.LoadText(text, "g.conf", host ?? new FakeConfigHost().WithFile("/srv/a").WithFile("/srv/b"));

    /// <summary>
    /// The device's access lists as the daemon applies them (<see cref="ExportedDevice.ApplyAccessLists"/>),
    /// so a test asks the protocol engine's own checks: <see cref="AoeTarget.IsVisibleTo"/> and, for a
    /// state change, that and <see cref="AoeTarget.IsAdmin"/> (the order <c>AoeEngine.Handle</c> asks them in).
    /// </summary>
    public static AoeTarget Served(DeviceConfig d)
    {
        var target = new AoeTarget(d.Shelf, d.Slot, 1);
        ExportedDevice.ApplyAccessLists(target, d);
        return target;
    }

    public static bool Admits(this DeviceConfig d, ulong mac) => Served(d).IsVisibleTo(new MacAddress(mac));

    public static bool MayChangeState(this DeviceConfig d, ulong mac)
    {
        AoeTarget t = Served(d);
        return t.IsVisibleTo(new MacAddress(mac)) && t.IsAdmin(new MacAddress(mac));
    }

    public static string[] Lines(IReadOnlyList<ConfigDiagnostic> diagnostics)
    {
        var list = new List<string>();
        foreach (ConfigDiagnostic d in diagnostics)
            list.Add(d.ToString());
        return list.ToArray();
    }
}
