using System.Collections.Generic;

namespace Ggaoed.Daemon;

internal sealed partial class TargetDaemon
{
    // Interface hotplug. Until the netlink monitor is wired in, interfaces are found at start and on
    // reload from /sys/class/net.
    private void StartLinkMonitor()
    {
    }

    private void StopLinkMonitor()
    {
    }

    private static List<string> LinkNames() => ListInterfaces();
}
