using System;
using Ggaoed.Native;

namespace Ggaoed.Daemon;

internal sealed partial class TargetDaemon
{
    // Work on a slower clock than the data path's, on a timerfd of its own: the periodic size check
    // (TargetDaemon.Sizes) and the advertisements' rate limit (TargetDaemon.Adverts). The data path's
    // timer is re-armed at the end of every turn with the engines' merge deadlines; this one only when
    // one of these deadlines moves, so neither has to know the other.
    private readonly TimerFd _housekeepingTimer = new();
    private int _housekeepingToken = -1;

    /// <summary>Hook (Start): registers the housekeeping timer and starts watching store sizes.</summary>
    private void StartHousekeeping()
    {
        _housekeepingToken = _reactor.Add(_housekeepingTimer.Fd, Libc.EPOLLIN, new HousekeepingHandler(this));
        StartSizeWatch();
    }

    /// <summary>Hook (Dispose).</summary>
    private void StopHousekeeping()
    {
        StopSizeWatch();
        _reactor.Remove(_housekeepingToken);
        _housekeepingToken = -1;
        _housekeepingTimer.Dispose();
    }

    /// <summary>Arms the timer for the earliest of the next size check and the next advertisement due.</summary>
    private void ArmHousekeeping()
    {
        if (_housekeepingToken < 0)
            return;
        _housekeepingTimer.ArmDeadline(Math.Min(NextSizeCheckNanos, _advertiser.NextDueNanos));
    }

    private sealed class HousekeepingHandler(TargetDaemon daemon) : IEventHandler
    {
        public void OnEvents(uint events)
        {
            daemon._housekeepingTimer.Acknowledge();
            if (daemon._stopping)
                return;
            long now = TimerFd.NowNanos();
            if (now >= daemon.NextSizeCheckNanos)
                daemon.PeriodicSizeCheck(now);
            daemon.SendDueAdvertisements(now);
            daemon.ArmHousekeeping();
        }
    }
}
