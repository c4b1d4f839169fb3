using System.Collections.Generic;
using Ggaoed.Daemon;
using Xunit;

namespace Ggaoed.Tests.Daemon;

/// <summary>
/// The advertisement scheduler with a fake clock: what is due when, one frame per pair and second at
/// most, changes within the second coalesced, gone pairs never sent.
/// </summary>
public class AdvertiserTests
{
    private const long Second = 1_000_000_000;
    private const long T0 = 1000 * Second;

    private readonly Advertiser<string, int> _a = new(Second);

    /// <summary>One pass with these pairs and states.</summary>
    private void Pass(params (string Key, int State)[] pairs)
    {
        _a.BeginPass();
        foreach ((string key, int state) in pairs)
            _a.Observe(key, state);
        _a.EndPass();
    }

    private List<string> Due(long now)
    {
        var due = new List<string>();
        _a.TakeDue(now, due);
        due.Sort(System.StringComparer.Ordinal);
        return due;
    }

    [Fact]
    public void NewPairs_AreDueAtOnce_ThenNothingUntilAChange()
    {
        Assert.Equal(long.MaxValue, _a.NextDueNanos);
        Pass(("d1@eth0", 1), ("d2@eth0", 1));
        Assert.Equal(long.MinValue, _a.NextDueNanos);
        Assert.Equal(["d1@eth0", "d2@eth0"], Due(T0));
        Assert.Equal(long.MaxValue, _a.NextDueNanos);
        Pass(("d1@eth0", 1), ("d2@eth0", 1)); // nothing changed
        Assert.Empty(Due(T0 + 10 * Second));
        Assert.Equal(long.MaxValue, _a.NextDueNanos);
    }

    [Fact]
    public void ChangesWithinTheInterval_WaitForItsEnd_AndGoAsOne()
    {
        Pass(("d1@eth0", 1));
        Assert.Single(Due(T0));
        for (int state = 2; state <= 20; state++)
        {
            Pass(("d1@eth0", state));
            Assert.Empty(Due(T0 + state * 10_000_000)); // 20..200 ms later
        }
        Assert.Equal(T0 + Second, _a.NextDueNanos);
        Assert.Empty(Due(T0 + Second - 1));
        Assert.Equal(["d1@eth0"], Due(T0 + Second));
        Assert.Empty(Due(T0 + 5 * Second));
    }

    [Fact]
    public void AChangeAfterAQuietSpell_GoesAtOnce()
    {
        Pass(("d1@eth0", 1));
        Due(T0);
        Pass(("d1@eth0", 2));
        Assert.Equal(["d1@eth0"], Due(T0 + 3 * Second));
    }

    [Fact]
    public void APairThatGoes_IsNotSent_AndOneThatComesBack_IsRateLimitedAsBefore()
    {
        Pass(("d1@eth0", 1), ("d1@eth1", 1));
        Assert.Equal(2, Due(T0).Count);
        Pass(("d1@eth0", 2), ("d1@eth1", 2));
        Pass(("d1@eth0", 2)); // eth1 went away with a change pending
        Assert.Empty(Due(T0 + Second / 2));
        Pass(("d1@eth0", 2), ("d1@eth1", 2)); // back within its interval: due, but not before it ends
        Assert.Equal(T0 + Second, _a.NextDueNanos);
        Assert.Equal(["d1@eth0", "d1@eth1"], Due(T0 + Second));

        Pass(("d1@eth0", 3), ("d1@eth1", 3));
        Pass(("d1@eth0", 3)); // gone again, with a change pending: never sent
        Assert.Equal(["d1@eth0"], Due(T0 + 2 * Second));
    }

    [Fact]
    public void GonePairs_AreForgottenOnceTheirIntervalPassed()
    {
        Pass(("a", 1), ("b", 1));
        Due(T0);
        Pass(("a", 1));
        Assert.Equal(2, _a.Count);
        Due(T0 + Second);
        Assert.Equal(1, _a.Count);
        Pass(("a", 1), ("b", 1)); // b is new again: due at once
        Assert.Equal(["b"], Due(T0 + Second + 1));
    }

    [Fact]
    public void Retry_SendsAgainAfterTheInterval_OnlyForAPairThatStillExists()
    {
        Pass(("a", 1), ("b", 1));
        Due(T0);
        _a.Retry("a");
        Assert.Equal(T0 + Second, _a.NextDueNanos);
        Pass(("a", 1)); // b gone
        _a.Retry("b");
        Assert.Equal(["a"], Due(T0 + Second));
    }

    [Fact]
    public void ManyChangesOverSeconds_SendAtMostOneFramePerSecond_AndTheLastStateAlwaysGoesOut()
    {
        // A change every 50 ms for 10 s: at most 11 sends (one at once, then one per second), and the
        // last change is sent too, after the interval (never lost in the coalescing).
        int sent = 0;
        long lastSentAt = 0;
        int lastState = 0;
        for (int i = 1; i <= 200; i++)
        {
            long now = T0 + i * 50_000_000L;
            Pass(("d1@eth0", i));
            if (Due(now).Count > 0)
            {
                Assert.True(sent == 0 || now - lastSentAt >= Second);
                sent++;
                lastSentAt = now;
                lastState = i;
            }
        }
        Assert.InRange(sent, 10, 11);
        Assert.NotEqual(200, lastState);
        long next = _a.NextDueNanos;
        Assert.Equal(lastSentAt + Second, next);
        Assert.Single(Due(next));
    }
}
