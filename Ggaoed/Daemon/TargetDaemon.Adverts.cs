using System;
using System.Collections.Generic;
using Ggaoed.Daemon.Config;
using Ggaoed.Protocol;

namespace Ggaoed.Daemon;

internal sealed partial class TargetDaemon
{
    // Advertisements (ggaoed 1.1's): an unsolicited Query Config response, tag 0, for every device on
    // every interface it is exported on, when the initiators' picture of it may be out of date: at
    // start, for a device added, reopened, resized or changed by a reload, and for every device of an
    // interface attached or whose MAC or MTU changed. Linux takes one as the answer to a discovery it
    // did not send: it learns a new device, or new sectors per request, and asks IDENTIFY when the
    // device is not open (AOE-NOTES 3.2), instead of waiting up to 60 s for its discover timer.
    // Recipients follow the device's access lists (AoeTarget.AdvertiseTo): the broadcast address, or
    // one frame to each accepted MAC.
    //
    // Rather than a call at each of those places, every event that may change what a Query Config
    // response shows calls AdvertiseChanges, which compares each (device, interface) pair with what it
    // was and lets the Advertiser (pure, rate-limited) decide what is due; the housekeeping timer sends
    // it.

    /// <summary>At most one advertisement per device and interface per second; later changes wait and go as one.</summary>
    private const long AdvertiseIntervalNanos = 1_000_000_000;

    private readonly Advertiser<AdvertPair, AdvertState> _advertiser = new(AdvertiseIntervalNanos);
    private readonly List<AdvertPair> _dueAdverts = new();
    private readonly List<MacAddress> _advertRecipients = new();

    /// <summary>A device on an interface, by name: a reopened device or interface is the same pair.</summary>
    private readonly record struct AdvertPair(string Device, string Port);

    /// <summary>
    /// What an advertisement of the pair reflects. Device and port are compared by reference: a device
    /// reopened by a reload, or an interface reopened for a larger MTU, counts as changed. The config
    /// object is replaced only when a reload changes a setting (ACLs, broadcast, ...).
    /// </summary>
    private readonly record struct AdvertState(ExportedDevice Device, NetworkPort Port, DeviceConfig Config, ulong Sectors, MacAddress Mac, int Mtu);

    /// <summary>
    /// Hook: something a Query Config response shows may have changed (devices assigned to interfaces,
    /// an interface's MAC or MTU, a size). Cheap: one pass over the exported pairs, no syscall.
    /// </summary>
    private void AdvertiseChanges()
    {
        _advertiser.BeginPass();
        foreach (PortEntry entry in _ports)
        {
            NetworkPort p = entry.Port;
            foreach (ExportedDevice d in p.Devices)
                if (!d.Retiring)
                    _advertiser.Observe(new AdvertPair(d.Name, p.Name), new AdvertState(d, p, d.Config, d.Target.SectorCount, p.Aoe.Mac, p.Aoe.Mtu));
        }
        _advertiser.EndPass();
        ArmHousekeeping();
    }

    /// <summary>Sends what the rate limit lets go now (the housekeeping timer's turn); frames leave with the turn's TX kick.</summary>
    private void SendDueAdvertisements(long now)
    {
        _dueAdverts.Clear();
        if (_advertiser.TakeDue(now, _dueAdverts) == 0)
            return;
        foreach (AdvertPair pair in _dueAdverts)
        {
            PortEntry? port = FindPortEntry(pair.Port);
            ExportedDevice? device = port == null ? null : ExportedOn(port.Port, pair.Device);
            if (device != null && !TryAdvertise(device, port!))
                _advertiser.Retry(pair);
        }
    }

    private static ExportedDevice? ExportedOn(NetworkPort port, string name)
    {
        foreach (ExportedDevice d in port.Devices)
            if (d.Name == name && !d.Retiring)
                return d;
        return null;
    }

    /// <summary>One device on one interface, to its recipients; false when the TX ring had no room (try again later).</summary>
    private bool TryAdvertise(ExportedDevice device, PortEntry port)
    {
        // Answers of finished I/O already wait for TX frames: they go first.
        if (port.Port.HasRepliesQueued)
            return false;
        _advertRecipients.Clear();
        if (device.Target.AdvertiseTo(_advertRecipients))
            return TrySendAdvertisement(device, port, MacAddress.Broadcast);
        foreach (MacAddress to in _advertRecipients)
            if (!TrySendAdvertisement(device, port, to))
                return false;
        return true;
    }

    private bool TrySendAdvertisement(ExportedDevice device, PortEntry entry, MacAddress to)
    {
        NetworkPort port = entry.Port;
        // No free frame: the port counts it (tx_full_events), and the pair is retried after the interval.
        if (!port.Port.TryGetTxBuffer(out int tx, out Span<byte> frame))
            return false;
        int length = AoeEngine.WriteAdvertisement(frame, device.Target, port.Aoe, to);
        if (length == 0)
        {
            // A config string too long for this MTU: a Query Config gets no answer here either.
            port.Port.CancelTx(tx);
            return true;
        }
        port.Port.CommitTx(tx, length);
        port.Counters.Advertisements++;
        entry.FlushDue = true; // kicked with this turn's TX
        if (Log.IsEnabled(LogLevel.Debug))
            Log.Debug($"{device.Name}: advertised e{device.Target.Shelf}.{device.Target.Slot} on {port.Name} to {to} ({port.Aoe.MaxSectors} sectors per request, {device.Target.SectorCount} sectors)");
        return true;
    }
}
