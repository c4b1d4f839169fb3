using System.Collections.Generic;
using System.Text;
using Ggaoed.Native;
using Ggaoed.Network;

namespace Ggaoed.Daemon;

internal sealed partial class TargetDaemon
{
    // Interface hotplug over rtnetlink (RTMGRP_LINK). The monitor's first dump lists every existing
    // link, so interfaces are attached the same way whether they existed at start or appeared later.
    // Without netlink (a sandbox that forbids it) interfaces are found at start and on reload from
    // if_nameindex(3), and hotplug is off.
    private LinkMonitor? _linkMonitor;
    private int _linkMonitorToken = -1;
    private readonly Dictionary<string, LinkState> _links = new(System.StringComparer.Ordinal);

    private readonly record struct LinkState(bool Up, int Mtu, MacBytes? Mac);

    private void StartLinkMonitor()
    {
        try
        {
            _linkMonitor = LinkMonitor.Open();
        }
        catch (NetworkException e)
        {
            Log.Warning($"interface hotplug disabled: {e.Message}");
            return;
        }
        _linkMonitorToken = _reactor.Add(_linkMonitor.Fd, Libc.EPOLLIN, new LinkMonitorHandler(this));
        // Read the initial dump now, so the interfaces that exist are attached before we say "ready".
        for (int i = 0; i < 100 && _linkMonitor.DumpPending; i++)
        {
            var handler = new LinkEvents(this);
            _linkMonitor.Receive(ref handler);
            if (_linkMonitor.DumpPending)
                System.Threading.Thread.Sleep(1);
        }
    }

    private void StopLinkMonitor()
    {
        if (_linkMonitor == null)
            return;
        _reactor.Remove(_linkMonitorToken);
        _linkMonitor.Dispose();
        _linkMonitor = null;
    }

    /// <summary>The interfaces that exist now.</summary>
    private List<string> LinkNames()
    {
        if (_linkMonitor == null)
            return ListInterfaces();
        var names = new List<string>(_links.Keys);
        names.Sort(System.StringComparer.Ordinal);
        return names;
    }

    private void OnLinkEvent(in LinkEvent link)
    {
        if (link.Name.IsEmpty)
            return;
        string name = Encoding.UTF8.GetString(link.Name);
        if (link.Deleted)
        {
            _links.Remove(name);
            OnLinkChanged(name, exists: false, up: false, mtu: 0);
            return;
        }
        bool up = (link.Flags & Libc.IFF_UP) != 0;
        bool known = _links.TryGetValue(name, out LinkState previous);
        int mtu = link.Mtu > 0 ? link.Mtu : (known ? previous.Mtu : 1500);
        MacBytes? mac = link.TryGetMac(out MacBytes m) ? m : (known ? previous.Mac : null);
        LinkState state = new(up, mtu, mac);
        if (known && previous == state && (FindPort(name) != null || !up))
            return; // most RTM_NEWLINK messages change nothing we care about
        _links[name] = state;
        OnLinkChanged(name, exists: true, up, mtu, mac);
    }

    private sealed class LinkMonitorHandler(TargetDaemon daemon) : IEventHandler
    {
        public void OnEvents(uint events)
        {
            var handler = new LinkEvents(daemon);
            daemon._linkMonitor?.Receive(ref handler);
        }
    }

    private readonly struct LinkEvents(TargetDaemon daemon) : ILinkEventHandler
    {
        public void OnLink(in LinkEvent link) => daemon.OnLinkEvent(link);

        public void OnDumpDone()
        {
        }
    }
}
