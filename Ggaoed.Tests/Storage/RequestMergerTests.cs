using System;
using System.Text;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

public class RequestMergerTests
{
    // Plans are written as "R<lba>+<sectors>[slots]" per op (W = write, F[slot] = flush), in output order.
    private static string Plan(RequestMerger merger, params IoRequest[] requests)
    {
        merger.Plan(requests);
        var sb = new StringBuilder();
        foreach (PlannedOp op in merger.Ops)
        {
            if (sb.Length > 0)
                sb.Append(' ');
            sb.Append(op.Kind switch { IoKind.Read => 'R', IoKind.Write => 'W', _ => 'F' });
            if (op.Kind != IoKind.Flush)
                sb.Append(op.Offset / 512).Append('+').Append(op.Bytes / 512);
            sb.Append('[').Append(string.Join(",", merger.SlotsOf(op).ToArray())).Append(']');
        }
        return sb.ToString();
    }

    private static string Plan(params IoRequest[] requests) => Plan(new RequestMerger(64, MergeLimits.Default), requests);

    // Sequence = slot: requests arrive in slot order unless a test says otherwise.
    private static IoRequest R(int slot, ulong lba, int sectors, bool inFlight = false) => new(slot, IoKind.Read, lba, sectors, slot, inFlight);

    private static IoRequest W(int slot, ulong lba, int sectors, bool inFlight = false) => new(slot, IoKind.Write, lba, sectors, slot, inFlight);

    private static IoRequest F(int slot, bool inFlight = false) => new(slot, IoKind.Flush, 0, 0, slot, inFlight);

    [Fact]
    public void SingleRequest_BecomesOneOpAtItsByteOffset()
    {
        var m = new RequestMerger(4, MergeLimits.Default);
        Assert.Equal(1, m.Plan(new[] { R(0, 10, 2) }));
        PlannedOp op = m.Ops[0];
        Assert.Equal(IoKind.Read, op.Kind);
        Assert.Equal(5120, op.Offset);
        Assert.Equal(1024, op.Bytes);
        Assert.Equal(new[] { 0 }, m.SlotsOf(op).ToArray());
        Assert.Equal(0, m.DeferredCount);
    }

    [Fact]
    public void EmptyInput_GivesEmptyPlan() => Assert.Equal("", Plan());

    [Fact]
    public void AdjacentWritesInOrder_MergeIntoOneOp() => Assert.Equal("W0+6[0,1,2]", Plan(W(0, 0, 2), W(1, 2, 2), W(2, 4, 2)));

    [Fact]
    public void AdjacentReadsArrivingInReverse_MergeInLbaOrder() => Assert.Equal("R0+6[2,1,0]", Plan(R(0, 4, 2), R(1, 2, 2), R(2, 0, 2)));

    [Fact]
    public void ScrambledArrival_StillFindsTheRun() => Assert.Equal("W100+8[1,3,0,2]", Plan(W(0, 104, 2), W(1, 100, 2), W(2, 106, 2), W(3, 102, 2)));

    [Fact]
    public void Gap_SplitsTheRun() => Assert.Equal("R0+4[0,1] R5+2[2]", Plan(R(0, 0, 2), R(1, 2, 2), R(2, 5, 2)));

    [Fact]
    public void ReadsAndWrites_AreNeverMergedTogether()
        => Assert.Equal("R2+2[1] W0+2[0] W4+2[2]", Plan(W(0, 0, 2), R(1, 2, 2), W(2, 4, 2)));

    [Fact]
    public void MixedDirections_EachDirectionMergesItsOwnRuns()
        => Assert.Equal("R100+4[1,3] W0+4[0,2]", Plan(W(0, 0, 2), R(1, 100, 2), W(2, 2, 2), R(3, 102, 2)));

    [Fact]
    public void UnequalSizes_MergeWhenAdjacent() => Assert.Equal("W10+19[0,1,2]", Plan(W(0, 10, 1), W(1, 11, 17), W(2, 28, 1)));

    [Fact]
    public void IovecCap_SplitsALongRun()
    {
        var m = new RequestMerger(16, new MergeLimits(3, 1 << 20));
        Assert.Equal("W0+6[0,1,2] W6+4[3,4]", Plan(m, W(0, 0, 2), W(1, 2, 2), W(2, 4, 2), W(3, 6, 2), W(4, 8, 2)));
    }

    [Fact]
    public void ByteCap_SplitsALongRun()
    {
        // 17-sector requests (MTU 9000), 8704 B each; a 20 000 B cap holds two of them.
        var m = new RequestMerger(16, new MergeLimits(64, 20_000));
        Assert.Equal("R0+34[0,1] R34+17[2]", Plan(m, R(0, 0, 17), R(1, 17, 17), R(2, 34, 17)));
    }

    [Fact]
    public void RequestBiggerThanTheByteCap_StillGoesAlone()
    {
        var m = new RequestMerger(16, new MergeLimits(64, 512));
        Assert.Equal("W0+2[0] W2+2[1]", Plan(m, W(0, 0, 2), W(1, 2, 2)));
    }

    [Fact]
    public void NoMergingLimits_GiveOneOpPerRequest()
    {
        var m = new RequestMerger(16, MergeLimits.NoMerging);
        Assert.Equal("W0+2[0] W2+2[1] W4+2[2]", Plan(m, W(0, 0, 2), W(1, 2, 2), W(2, 4, 2)));
    }

    [Fact]
    public void DuplicateReads_BothGoButAreNotMerged() => Assert.Equal("R8+2[0] R8+2[1]", Plan(R(0, 8, 2), R(1, 8, 2)));

    [Fact]
    public void OverlappingReads_DoNotConflict() => Assert.Equal("R0+4[0] R2+4[1]", Plan(R(0, 0, 4), R(1, 2, 4)));

    [Fact]
    public void DuplicateWrite_TheLaterOneWaits()
    {
        var m = new RequestMerger(8, MergeLimits.Default);
        Assert.Equal("W8+2[0]", Plan(m, W(0, 8, 2), W(1, 8, 2)));
        Assert.Equal(1, m.DeferredCount);
    }

    [Fact]
    public void OverlappingWrites_LaterWaitsEvenWhenItsLbaIsLower()
    {
        // Slot 1 arrived later but starts lower: sorting by LBA must not let it overtake slot 0.
        var m = new RequestMerger(8, MergeLimits.Default);
        Assert.Equal("W10+4[0]", Plan(m, W(0, 10, 4), W(1, 8, 4)));
        Assert.Equal(1, m.DeferredCount);
    }

    [Fact]
    public void OverlapDecidedBySequence_NotByInputPosition()
    {
        // Input order differs from arrival: the write with the smaller sequence goes first.
        var early = new IoRequest(5, IoKind.Write, 0, 4, sequence: 1);
        var late = new IoRequest(3, IoKind.Write, 2, 4, sequence: 9);
        Assert.Equal("W0+4[5]", Plan(late, early));
    }

    [Fact]
    public void ReadAfterOverlappingWrite_WaitsForTheWrite() => Assert.Equal("W0+4[0]", Plan(W(0, 0, 4), R(1, 3, 1)));

    [Fact]
    public void WriteAfterOverlappingRead_WaitsForTheRead() => Assert.Equal("R0+4[0]", Plan(R(0, 0, 4), W(1, 3, 1)));

    [Fact]
    public void QueuedWriteOverlappingAnInFlightWrite_Waits()
        => Assert.Equal("W10+2[2]", Plan(W(0, 0, 4, inFlight: true), W(1, 2, 2), W(2, 10, 2)));

    [Fact]
    public void QueuedReadOverlappingAnInFlightRead_Goes() => Assert.Equal("R2+2[1]", Plan(R(0, 0, 4, inFlight: true), R(1, 2, 2)));

    [Fact]
    public void InFlightRequests_AreNeverPlannedAgain() => Assert.Equal("W4+2[1]", Plan(W(0, 2, 2, inFlight: true), W(1, 4, 2)));

    [Fact]
    public void InFlightNeighbour_IsNotMergedWith() => Assert.Equal("W0+2[1] W4+2[2]", Plan(W(0, 2, 2, inFlight: true), W(1, 0, 2), W(2, 4, 2)));

    [Fact]
    public void DeferredRequest_StillHoldsBackLaterConflicts()
    {
        // 1 waits for in-flight 0; 2 overlaps 1 (not 0) and must not overtake it.
        var m = new RequestMerger(8, MergeLimits.Default);
        Assert.Equal("", Plan(m, W(0, 0, 4, inFlight: true), W(1, 2, 4), R(2, 5, 2)));
        Assert.Equal(2, m.DeferredCount);
    }

    [Fact]
    public void DeferredDuplicate_DoesNotStopItsNeighboursFromMerging()
        => Assert.Equal("W0+6[0,2,3]", Plan(W(0, 0, 2), W(1, 0, 2), W(2, 2, 2), W(3, 4, 2)));

    [Fact]
    public void Flush_WaitsForEverythingBeforeIt()
    {
        var m = new RequestMerger(8, MergeLimits.Default);
        Assert.Equal("W0+2[0]", Plan(m, W(0, 0, 2), F(1)));
        Assert.Equal(1, m.DeferredCount);
        Assert.Equal("", Plan(m, W(0, 0, 2, inFlight: true), F(1)));
        Assert.Equal("F[1]", Plan(m, F(1)));
    }

    [Fact]
    public void RequestsAfterAFlush_DoNotWaitForIt()
    {
        Assert.Equal("W4+2[2]", Plan(F(1, inFlight: true), W(2, 4, 2)));
        Assert.Equal("W4+2[1] F[0]", Plan(F(0), W(1, 4, 2)));
    }

    [Fact]
    public void SecondFlush_WaitsForTheFirst() => Assert.Equal("F[0]", Plan(F(0), F(1)));

    [Fact]
    public void OpsAreReadsThenWritesThenFlushes() => Assert.Equal("R50+1[1] W9+1[2] F[0]", Plan(F(0), R(1, 50, 1), W(2, 9, 1)));

    [Fact]
    public void TooManyRequests_IsRejected()
    {
        var m = new RequestMerger(2, MergeLimits.Default);
        Assert.Throws<ArgumentException>(() => m.Plan(new[] { R(0, 0, 1), R(1, 1, 1), R(2, 2, 1) }));
    }

    [Fact]
    public void PlanningAgain_ReusesTheBuffersWithoutAllocating()
    {
        var m = new RequestMerger(64, MergeLimits.Default);
        var requests = new IoRequest[64];
        for (int i = 0; i < 64; i++)
            requests[i] = W(i, (ulong)(63 - i) * 2, 2);
        m.Plan(requests); // warm-up (first sort may initialise static helpers)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
            m.Plan(requests);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1, m.Ops.Length);
        Assert.Equal(64, m.Ops[0].SlotCount);
    }

    [Fact]
    public void RandomWorkloads_NeverPlanConflictingRequestsTogether_AndCoverEachSlotOnce()
    {
        var rng = new Random(1234);
        var m = new RequestMerger(32, new MergeLimits(8, 16 * 512));
        for (int round = 0; round < 2000; round++)
        {
            int n = rng.Next(1, 33);
            var reqs = new IoRequest[n];
            for (int i = 0; i < n; i++)
            {
                IoKind kind = rng.Next(10) == 0 ? IoKind.Flush : rng.Next(2) == 0 ? IoKind.Read : IoKind.Write;
                ulong lba = (ulong)rng.Next(0, 40);
                int sectors = kind == IoKind.Flush ? 0 : rng.Next(1, 5);
                reqs[i] = new IoRequest(i, kind, lba, sectors, sequence: rng.Next(0, 1000) * 64 + i, inFlight: rng.Next(4) == 0);
            }
            m.Plan(reqs);

            var planned = new bool[n];
            foreach (PlannedOp op in m.Ops)
            {
                ReadOnlySpan<int> slots = m.SlotsOf(op);
                Assert.InRange(slots.Length, 1, 8);
                ulong next = op.Kind == IoKind.Flush ? 0 : (ulong)op.Offset / 512;
                long bytes = 0;
                foreach (int s in slots)
                {
                    Assert.False(planned[s], "slot planned twice");
                    Assert.False(reqs[s].InFlight, "in-flight request planned");
                    Assert.Equal(op.Kind, reqs[s].Kind);
                    planned[s] = true;
                    if (op.Kind != IoKind.Flush)
                    {
                        Assert.Equal(next, reqs[s].Lba); // iovecs contiguous on disk
                        next = reqs[s].EndLba;
                        bytes += reqs[s].Sectors * 512;
                    }
                }
                Assert.Equal(bytes, op.Bytes);
                if (slots.Length > 1)
                    Assert.True(op.Bytes <= 16 * 512);
            }

            int deferred = 0;
            for (int i = 0; i < n; i++)
            {
                if (reqs[i].InFlight)
                    continue;
                if (!planned[i])
                {
                    deferred++;
                    continue;
                }
                for (int j = 0; j < n; j++)
                {
                    if (i == j)
                        continue;
                    IoRequest a = reqs[i], b = reqs[j];
                    if (a.Kind == IoKind.Flush)
                    {
                        // A planned flush has nothing older active.
                        Assert.False(b.Sequence < a.Sequence, "flush planned before an older request finished");
                        continue;
                    }
                    bool overlap = b.Kind != IoKind.Flush && a.Lba < b.EndLba && b.Lba < a.EndLba;
                    bool conflict = overlap && (a.Kind == IoKind.Write || b.Kind == IoKind.Write);
                    if (!conflict)
                        continue;
                    Assert.False(b.InFlight, "planned a request that conflicts with an in-flight one");
                    Assert.False(planned[j], "planned two conflicting requests together");
                    Assert.True(b.Sequence > a.Sequence, "a request overtook an older conflicting one");
                }
            }
            Assert.Equal(deferred, m.DeferredCount);
        }
    }
}
