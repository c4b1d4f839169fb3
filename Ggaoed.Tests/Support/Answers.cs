using System;
using System.Collections.Generic;
using System.Diagnostics;
using Ggaoed.Initiator;

namespace Ggaoed.Tests.Support;

/// <summary>Collecting the answers a test is owed.</summary>
public static class Answers
{
    /// <summary>
    /// The frames received on <paramref name="socket"/> that <paramref name="accept"/> takes: waits up
    /// to 10 s for <paramref name="expected"/> of them, then <paramref name="settle"/> more to catch
    /// any frame too many. Answers take microseconds, but the target may be another process or a
    /// thread on a loaded machine, so the wait ends on the count, not on a fixed window.
    /// </summary>
    public static List<byte[]> Collect(PacketSocket socket, Func<byte[], bool> accept, int expected, TimeSpan settle)
    {
        var frames = new List<byte[]>();
        var buffer = new byte[65536];
        long until = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
        bool settling = false;
        while (Stopwatch.GetTimestamp() < until)
        {
            int n = socket.Receive(buffer);
            if (n > 0)
            {
                byte[] frame = buffer.AsSpan(0, n).ToArray();
                if (accept(frame))
                    frames.Add(frame);
            }
            if (!settling && frames.Count >= expected)
            {
                settling = true;
                until = Stopwatch.GetTimestamp() + (long)(settle.TotalSeconds * Stopwatch.Frequency);
            }
        }
        return frames;
    }
}
