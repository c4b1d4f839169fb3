using System;

namespace Ggaoed.Daemon;

/// <summary>One answer owed: recipient <see cref="Recipient"/> of the request in <see cref="Slot"/> of <see cref="Device"/>.</summary>
internal readonly struct ReplyTicket(ExportedDevice device, int slot, int recipient)
{
    public ExportedDevice Device { get; } = device;
    public int Slot { get; } = slot;

    /// <summary>Which of the request's recipients (the first frame, or a retransmit folded into it).</summary>
    public int Recipient { get; } = recipient;
}

/// <summary>
/// One port's finished I/O waiting for its answer, oldest first. A device adds a ticket when a request
/// completes (<see cref="ExportedDevice"/>: one per recipient whose frame came in on this port); the port
/// takes them at the end of the loop turn, builds each reply in a TX frame and hands the slot back
/// (<see cref="NetworkPort.Flush"/>). It is plain data between the two: adding calls nobody, so a
/// completion never reaches into a port, and a port that went away leaves a closed queue behind, which
/// its devices see and count as a reply drop instead of answering on a reused interface.
/// Preallocated; it doubles only when more answers are owed at once than ever before (not in steady state).
/// </summary>
internal sealed class ReplyQueue
{
    private ReplyTicket[] _items = new ReplyTicket[256];
    private long _head;       // next to take
    private long _tail;       // next to fill
    private long _countedTo;  // tickets up to here were counted as deferred once already

    /// <summary>Set when the port closed: no ticket is taken any more, and devices must not add one.</summary>
    public bool IsClosed { get; private set; }

    public int Count => (int)(_tail - _head);

    public void Add(ExportedDevice device, int slot, int recipient)
    {
        if (Count == _items.Length)
            Grow();
        _items[_tail++ & (_items.Length - 1)] = new ReplyTicket(device, slot, recipient);
    }

    public bool TryPeek(out ReplyTicket ticket)
    {
        if (_head == _tail)
        {
            ticket = default;
            return false;
        }
        ticket = _items[_head & (_items.Length - 1)];
        return true;
    }

    /// <summary>Removes the ticket <see cref="TryPeek"/> returned.</summary>
    public void Take() => _items[_head++ & (_items.Length - 1)] = default;

    /// <summary>
    /// Tickets that found no free TX frame and have not been counted so far (a ticket waits one or more
    /// turns, but is counted once): the port's <c>deferred_replies</c>.
    /// </summary>
    public int CountNewlyDeferred()
    {
        long from = Math.Max(_head, _countedTo);
        _countedTo = _tail;
        return (int)(_tail - from);
    }

    /// <summary>Closes the queue and hands back what it still holds, oldest first, for the caller to drop.</summary>
    public bool TryTakeForClose(out ReplyTicket ticket)
    {
        IsClosed = true;
        if (!TryPeek(out ticket))
            return false;
        Take();
        return true;
    }

    private void Grow()
    {
        var bigger = new ReplyTicket[_items.Length * 2];
        for (long i = _head; i < _tail; i++)
            bigger[i & (bigger.Length - 1)] = _items[i & (_items.Length - 1)];
        _items = bigger;
    }
}
