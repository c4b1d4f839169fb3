using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Globalization;
using System.Text;
using Ggaoed.Protocol;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;
using static Ggaoed.Tests.Protocol.AoeFrames;
using Ggaoed.Storage;

namespace Ggaoed.Tests.Protocol;

/// <summary>
/// Ten million generated and mutated frames through <see cref="AoeEngine.Handle"/>, over target
/// configurations that change every round of 1000 frames: accept, deny and admin-accept lists, a
/// Mac Mask List, a reservation, shared, read-only, a pinned or unpinned write cache, sizes from 0
/// sectors to the whole 48-bit range, interface MTUs from 40 to 9000. Each frame is checked
/// against <see cref="AoeReferenceModel"/> (the README's rules, kept apart from the engine) and
/// against the invariants that hold whatever the model says: no exception, no I/O outside the
/// device, well-formed replies, each error reply counted once by kind, no state change by a
/// broadcast or by a sender outside admin-accept, no allocation.
/// </summary>
/// <remarks>
/// Deterministic: each round draws its configuration and frames from <see cref="FuzzRng.RoundSeed"/>
/// of the run's seed, so a failure message names the seed, round and frame, and
/// <c>GGAOED_FUZZ_REPLAY=seed:round</c> runs that round alone. <c>GGAOED_FUZZ_SEED=seed</c> runs
/// the whole run from another seed.
/// </remarks>
public sealed class AoeEngineFuzzTests(ITestOutputHelper output)
{
    public const ulong DefaultSeed = 0x6761_6F65_6431_3133; // "gaoed113"
    private const int Rounds = 10_000;
    private const int FramesPerRound = 1_000;
    private const string ReplayVariable = "GGAOED_FUZZ_REPLAY";
    private const string SeedVariable = "GGAOED_FUZZ_SEED";

    [Fact]
    public void TenMillionFrames_OverRotatingAclsMasksReservations_MatchTheModel_NeverEscapeTheDevice()
    {
        ulong seed = DefaultSeed;
        int first = 0, rounds = Rounds;
        string? replay = Environment.GetEnvironmentVariable(ReplayVariable);
        if (!string.IsNullOrEmpty(replay))
        {
            string[] parts = replay.Split(':');
            seed = ParseSeed(parts[0]);
            first = int.Parse(parts[1], CultureInfo.InvariantCulture);
            rounds = 1;
        }
        else if (Environment.GetEnvironmentVariable(SeedVariable) is { Length: > 0 } s)
        {
            seed = ParseSeed(s);
        }

        var run = new FuzzRun(seed);
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (int round = first; round < first + rounds; round++)
            run.Round(round);
        clock.Stop();
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;

        // Wall time depends on what else the machine runs; CPU time and the engine's share are the figures to compare.
        long frames = (long)rounds * FramesPerRound;
        double engine = (double)run.EngineTicks / Stopwatch.Frequency;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"seed 0x{seed:x16}: {frames:N0} frames in {clock.Elapsed.TotalSeconds:F1} s wall, {cpu.TotalSeconds:F1} s CPU (process), "
            + $"{frames / clock.Elapsed.TotalSeconds:N0} frames/s with generation and checks; "
            + $"AoeEngine.Handle alone {engine:F1} s, {frames / engine:N0} frames/s"));
        run.Report(output);

        // Zero allocation in the engine. A frame that allocated is run again (its round replayed from
        // the start): the runtime itself allocates on this thread now and then, a few KB once or twice
        // a run (none seen with DOTNET_TieredCompilation=0: tiering core library methods up), while
        // an engine allocation would repeat. Only allocations that repeat fail.
        long repeated = 0;
        foreach ((int round, int frame) in run.AllocatingFrames)
        {
            var again = new FuzzRun(seed) { RecheckFrame = frame };
            again.Round(round);
            repeated += again.AllocatedBytes;
            output.WriteLine($"round {round} frame {frame} allocated {again.AllocatedBytes} bytes when run again");
        }
        Assert.True(repeated == 0, $"AoeEngine.Handle / WriteIoReply allocated {repeated} bytes, repeatably (see the output)");
        if (rounds == Rounds)
            run.AssertCoverage();
    }

    /// <summary>
    /// Found by the fuzz (about 1 frame in 9 000): a Reserve set repeating the current reservation
    /// with a MAC twice left the list as it was but bumped StateVersion (a needless state save).
    /// </summary>
    [Fact]
    public void ReserveSet_RepeatingTheSameListWithADuplicate_DoesNotBumpStateVersion()
    {
        AoeTarget t = NewTarget();
        Reply(Reserve(1, source: Host, Host, Host, OtherHost), t);
        Assert.Equal([Host, OtherHost], t.ReserveList.AsSpan().ToArray());
        long version = t.StateVersion;
        Reply(Reserve(1, source: Host, Host, Host, OtherHost), t);
        Assert.Equal([Host, OtherHost], t.ReserveList.AsSpan().ToArray());
        Assert.Equal(version, t.StateVersion);
    }

    private static ulong ParseSeed(string text) =>
        text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.Parse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
            : ulong.Parse(text, CultureInfo.InvariantCulture);

    /// <summary>What the run saw, for the coverage table: each must happen often in a full run.</summary>
    private enum Seen
    {
        // The first five in FuzzGate's order: Tally indexes them by the gate.
        Ignored, Denied, BroadcastAta, BroadcastStateChange, Handled,
        Replies, IoRequests, Dropped, Unanswered,
        BadVersion, UnknownCommand, BadArgument, ConfigStringPresent, TargetReserved,
        Truncated, OverMtu,
        IoRead, IoWrite, IoFlush, IoFailed, IoWhileReserved, IoOnShared, IoOnReadOnly,
        Oversized, BeyondTheEnd, AtaAborted, AdminRefused,
        ConfigChanged, MaskChanged, ReserveChanged, WriteCacheChanged,
        MaskListFull, MaskBadDirective,
        HandledWithAccept, HandledWithDeny, HandledWithAdmin, HandledWithMask, HandledWhileReserved,
        HandledOnShared, HandledOnReadOnly, HandledCachePinned, HandledCacheUnpinned,
        Count,
    }

    /// <summary>The counters of <see cref="AoeTargetCounters"/>, as one row each in a snapshot array.</summary>
    private static readonly string[] CounterNames =
    {
        "Requests", "Denied", "BroadcastIgnored", "AdminBroadcastRefused", "AdminRefused", "Oversized",
        "Unanswered", "Replies", "IoRequests", "AoeErrorUnrecognizedCommand", "AoeErrorBadArgument",
        "AoeErrorConfigStringPresent", "AoeErrorUnsupportedVersion", "AoeErrorTargetReserved", "MaskErrors",
        "AtaErrorAbrt", "AtaErrorIdnf", "AtaErrorUnc", "AtaErrorOther",
    };

    private const int CRequests = 0, CDenied = 1, CBroadcastIgnored = 2, CAdminBroadcastRefused = 3, CAdminRefused = 4,
        COversized = 5, CUnanswered = 6, CReplies = 7, CIoRequests = 8, CAoeError1 = 9, CAoeError2 = 10, CAoeError4 = 11,
        CAoeError5 = 12, CAoeError6 = 13, CMaskErrors = 14, CAtaAbrt = 15, CAtaIdnf = 16, CAtaUnc = 17, CAtaOther = 18;

    private static void Snapshot(AoeTargetCounters c, long[] s)
    {
        s[CRequests] = c.Requests;
        s[CDenied] = c.Denied;
        s[CBroadcastIgnored] = c.BroadcastIgnored;
        s[CAdminBroadcastRefused] = c.AdminBroadcastRefused;
        s[CAdminRefused] = c.AdminRefused;
        s[COversized] = c.Oversized;
        s[CUnanswered] = c.Unanswered;
        s[CReplies] = c.Replies;
        s[CIoRequests] = c.IoRequests;
        s[CAoeError1] = c.AoeErrorUnrecognizedCommand;
        s[CAoeError2] = c.AoeErrorBadArgument;
        s[CAoeError4] = c.AoeErrorConfigStringPresent;
        s[CAoeError5] = c.AoeErrorUnsupportedVersion;
        s[CAoeError6] = c.AoeErrorTargetReserved;
        s[CMaskErrors] = c.MaskErrors;
        s[CAtaAbrt] = c.AtaErrorAbrt;
        s[CAtaIdnf] = c.AtaErrorIdnf;
        s[CAtaUnc] = c.AtaErrorUnc;
        s[CAtaOther] = c.AtaErrorOther;
    }

    private static int AoeErrorCounter(byte code) => code switch
    {
        AoeWire.ErrUnrecognizedCommand => CAoeError1,
        AoeWire.ErrBadArgument => CAoeError2,
        AoeWire.ErrConfigStringPresent => CAoeError4,
        AoeWire.ErrUnsupportedVersion => CAoeError5,
        AoeWire.ErrTargetReserved => CAoeError6,
        _ => throw new XunitException($"AoE error {code} has no counter (AoEr11 codes 1, 2, 4, 5, 6 are the ones we send)"),
    };

    private static int AtaErrorCounter(byte error) => error switch
    {
        Ata.ErrorAbrt => CAtaAbrt,
        Ata.ErrorIdnf => CAtaIdnf,
        Ata.ErrorUnc => CAtaUnc,
        _ => CAtaOther,
    };

    /// <summary>Interfaces a frame may arrive on; 40 and 548 are the edges of "carries no sector" / "one sector".</summary>
    private static readonly AoeInterface[] Interfaces =
    {
        Iface1500, Iface9000, Iface1500, Iface9000, new(Ours, 576), new(Ours, 548), new(Ours, 1000), new(Ours, 40),
    };

    /// <summary>Thrown by the per-frame checks; the round wraps it with seed, round, frame and bytes.</summary>
    private static void Check([DoesNotReturnIf(false)] bool condition, string what)
    {
        if (!condition)
            throw new XunitException(what);
    }

    /// <summary>As above; the message is formatted only on failure (ten million frames would otherwise format ten million strings).</summary>
    private static void Check([DoesNotReturnIf(false)] bool condition, [InterpolatedStringHandlerArgument(nameof(condition))] ref FailureMessage what)
    {
        if (!condition)
            throw new XunitException(what.ToString());
    }

    [InterpolatedStringHandler]
    private ref struct FailureMessage
    {
        private readonly StringBuilder? _text;

        public FailureMessage(int literalLength, int formattedCount, bool condition, out bool format)
        {
            format = !condition;
            _text = format ? new StringBuilder(literalLength + 16 * formattedCount) : null;
        }

        public readonly void AppendLiteral(string s) => _text!.Append(s);

        public readonly void AppendFormatted<T>(T value) => _text!.Append(CultureInfo.InvariantCulture, $"{value}");

        public readonly void AppendFormatted<T>(T value, string format) where T : IFormattable =>
            _text!.Append(value.ToString(format, CultureInfo.InvariantCulture));

        public override readonly string ToString() => _text?.ToString() ?? "";
    }

    private sealed class FuzzRun(ulong seed)
    {
        private readonly byte[] _frame = new byte[11_000];
        private readonly byte[] _reply = new byte[9014];
        private readonly FuzzFrameGenerator _generator = new();
        private readonly long[] _before = new long[CounterNames.Length];
        private readonly long[] _after = new long[CounterNames.Length];
        private readonly long[] _delta = new long[CounterNames.Length];
        private readonly long[] _seen = new long[(int)Seen.Count];
        private readonly long[] _kinds = new long[(int)FuzzKind.Count];
        private readonly long[] _kindsHandled = new long[(int)FuzzKind.Count];
        // Before-state of frames that may not change state, compared after them.
        private readonly byte[] _configBefore = new byte[AoeWire.MaxConfigStringLength];
        private readonly MacAddress[] _maskBefore = new MacAddress[AoeTarget.MaskListCapacity];
        private readonly MacAddress[] _reserveBefore = new MacAddress[AoeTarget.ReserveListCapacity];
        private int _configLengthBefore, _maskCountBefore, _reserveCountBefore;
        private bool _writeCacheBefore;

        // The frame being checked, for the failure message.
        private int _round, _index, _length, _replyLength, _mtu;
        private readonly StringBuilder _allocations = new();
        private AoeDecision _decision;

        /// <summary>Bytes allocated inside the engine's calls (only at <see cref="RecheckFrame"/> when set).</summary>
        public long AllocatedBytes { get; private set; }
        /// <summary>Frames whose engine calls allocated (the first 32).</summary>
        public List<(int Round, int Frame)> AllocatingFrames { get; } = new(32);
        /// <summary>When set, only this frame's allocations are counted (a recheck of an allocating frame).</summary>
        public int RecheckFrame { get; init; } = -1;
        private long _frameAllocated;
        /// <summary>Time spent inside <see cref="AoeEngine.Handle"/> alone (timestamp overhead included).</summary>
        public long EngineTicks { get; private set; }

        public void Round(int round)
        {
            var rng = new FuzzRng(FuzzRng.RoundSeed(seed, round));
            FuzzTargetConfig cfg = FuzzTargetConfig.Draw(ref rng);
            _round = round;
            _index = -1;
            _length = _replyLength = _mtu = 0;
            try
            {
                AoeTarget t = cfg.Build();
                var model = new AoeReferenceModel(cfg);
                CheckSameState(t, model);
                _ = t.IdentifyBlock; // built here, not inside the first frame's allocation window
                for (_index = 0; _index < FramesPerRound; _index++)
                    Frame(ref rng, t, model, cfg);
            }
            catch (Exception e)
            {
                throw new XunitException(Describe(round, _index, cfg) + e.GetType().Name + ": " + e.Message, e);
            }
        }

        private string Describe(int round, int frame, FuzzTargetConfig cfg)
        {
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"AoE fuzz: seed 0x{seed:x16}, round {round}, frame {frame} of the round")
              .Append(CultureInfo.InvariantCulture, $" (#{(long)round * FramesPerRound + frame} of the run)\n")
              .Append(CultureInfo.InvariantCulture, $"replay: {ReplayVariable}=0x{seed:x}:{round} dotnet test ggaoed.slnx --filter FullyQualifiedName~AoeEngineFuzzTests\n")
              .Append("target: ").Append(cfg.ToString()).Append('\n')
              .Append(CultureInfo.InvariantCulture, $"interface MTU {_mtu}\n")
              .Append(CultureInfo.InvariantCulture, $"request ({_length} bytes): ").Append(ToHex(_frame.AsSpan(0, Math.Min(_length, 160)))).Append('\n')
              .Append(CultureInfo.InvariantCulture, $"decision {_decision}, reply ({_replyLength} bytes): ")
              .Append(ToHex(_reply.AsSpan(0, Math.Min(_replyLength, 160)))).Append('\n');
            return sb.ToString();
        }

        private void Frame(ref FuzzRng rng, AoeTarget t, AoeReferenceModel model, FuzzTargetConfig cfg)
        {
            AoeInterface iface = Interfaces[rng.Next(Interfaces.Length)];
            _mtu = iface.Mtu;
            _replyLength = 0;
            _frameAllocated = 0;
            _decision = AoeDecision.Drop;
            _length = _generator.Build(ref rng, _frame, t, iface, out FuzzKind kind);
            ReadOnlySpan<byte> request = _frame.AsSpan(0, _length);
            _kinds[(int)kind]++;
            if (_generator.Truncated)
                _seen[(int)Seen.Truncated]++;
            if (_length > iface.MaxFrameLength)
                _seen[(int)Seen.OverMtu]++;

            // Frames that may not change state: to a broadcast shelf/slot, or from outside admin-accept.
            bool broadcast = _length >= 19 && (BinaryPrimitives.ReadUInt16BigEndian(request.Slice(16)) == 0xFFFF || request[18] == 0xFF);
            bool fromAdmin = _length >= 12 && model.IsAdmin(MacAddress.Read(request.Slice(6)));
            bool mustNotChange = broadcast || !fromAdmin;
            if (mustNotChange)
                SaveState(t);
            bool reservedBefore = model.Reserved, maskBefore = model.MaskCount > 0;
            Snapshot(t.Counters, _before);
            long version = t.StateVersion;

            FuzzExpectation e = model.Apply(request, iface);
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            long started = Stopwatch.GetTimestamp();
            AoeDecision d = AoeEngine.Handle(request, t, iface, _reply, out int replyLength, out AoeIoRequest io);
            EngineTicks += Stopwatch.GetTimestamp() - started;
            _frameAllocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
            _decision = d;
            _replyLength = replyLength;

            // State: nothing may change it but a unicast request from an admin, and it must match the model.
            CheckStateVersion(t, version, e, request);
            if (mustNotChange)
            {
                CheckStateUnchanged(t, version);
                Check(!e.StateChanged, "the model changed state for a broadcast or a sender outside admin-accept");
            }
            else
            {
                CheckSameState(t, model);
            }

            Check(d == e.Decision, $"decision {d}, the model says {e.Decision} (gate {e.Gate})");
            if (d == AoeDecision.Reply)
            {
                Check(replyLength == e.ReplyLength, $"reply length {replyLength}, the model says {e.ReplyLength}");
                ReadOnlySpan<byte> reply = _reply.AsSpan(0, replyLength);
                CheckReply(reply, request, t, iface, io);
                CheckReplyContent(reply, request, e, t, iface, model);
            }
            CheckCounters(t, e, d, request);
            if (d == AoeDecision.Drop)
            {
                Check(replyLength == 0, "a drop with a reply length");
                Check(IsEmpty(io), "a drop with an I/O request");
            }
            else if (d == AoeDecision.Io)
            {
                Check(replyLength == 0, "an I/O request with a reply length");
                CheckIo(io, request, t, iface);
                Check(io.Kind == e.IoKind && io.Lba == e.IoLba && io.SectorCount == e.IoSectors,
                    $"I/O {io.Kind} {io.SectorCount} at {io.Lba}, the model says {e.IoKind} {e.IoSectors} at {e.IoLba}");
                Complete(ref rng, io, request, t, iface);
            }
            Tally(e, d, kind, cfg, reservedBefore, maskBefore);

            if (RecheckFrame >= 0)
            {
                if (_index == RecheckFrame)
                    AllocatedBytes += _frameAllocated;
            }
            else if (_frameAllocated != 0)
            {
                AllocatedBytes += _frameAllocated;
                if (AllocatingFrames.Count < 32)
                    AllocatingFrames.Add((_round, _index));
                _allocations.Append(CultureInfo.InvariantCulture,
                    $"  {_frameAllocated} bytes in round {_round}, frame {_index} ({kind}): {ToHex(request.Slice(0, Math.Min(request.Length, 48)))}\n");
            }
        }

        // ---- state ------------------------------------------------------------------------------------

        private void SaveState(AoeTarget t)
        {
            _configLengthBefore = t.ConfigLength;
            _writeCacheBefore = t.WriteCache;
            _maskCountBefore = t.MaskList.Count;
            _reserveCountBefore = t.ReserveList.Count;
            t.ConfigString.CopyTo(_configBefore);
            t.MaskList.AsSpan().CopyTo(_maskBefore);
            t.ReserveList.AsSpan().CopyTo(_reserveBefore);
        }

        private void CheckStateUnchanged(AoeTarget t, long version)
        {
            Check(t.StateVersion == version, "StateVersion changed by a broadcast or by a sender outside admin-accept");
            Check(t.ConfigString.SequenceEqual(_configBefore.AsSpan(0, _configLengthBefore)),
                "config string changed by a broadcast or by a sender outside admin-accept");
            Check(t.MaskList.AsSpan().SequenceEqual(_maskBefore.AsSpan(0, _maskCountBefore)),
                "Mac Mask List changed by a broadcast or by a sender outside admin-accept");
            Check(t.ReserveList.AsSpan().SequenceEqual(_reserveBefore.AsSpan(0, _reserveCountBefore)),
                "reserve list changed by a broadcast or by a sender outside admin-accept");
            Check(t.WriteCache == _writeCacheBefore, "write cache changed by a broadcast or by a sender outside admin-accept");
        }

        /// <summary>
        /// StateVersion moves by one exactly when the persistent state changed (else a change is lost
        /// on restart, or a save is wasted), and only through a request to this device alone from an admin.
        /// </summary>
        public void CheckStateVersion(AoeTarget t, long version, in FuzzExpectation e, ReadOnlySpan<byte> request)
        {
            long moved = t.StateVersion - version;
            if (moved != 0)
            {
                // The robustness test's original check, kept: only a unicast admin request changes state.
                Check(BinaryPrimitives.ReadUInt16BigEndian(request.Slice(16)) == t.Shelf && request[18] == t.Slot, "state changed by a frame not addressed to this device alone");
                Check(t.IsAdmin(MacAddress.Read(request.Slice(6))), "state changed by a non-admin");
            }
            if (moved == (e.StateChanged ? 1 : 0))
                return;
            Check(false, $"StateVersion moved by {moved}; the model says the state {(e.StateChanged ? "changed" : "did not change")}");
        }

        private static void CheckSameState(AoeTarget t, AoeReferenceModel m)
        {
            Check(t.ConfigString.SequenceEqual(m.ConfigString), "config string differs from the model");
            Check(t.MaskList.AsSpan().SequenceEqual(m.MaskList), "Mac Mask List differs from the model");
            Check(t.ReserveList.AsSpan().SequenceEqual(m.ReserveList), "reserve list differs from the model");
            Check(t.WriteCache == m.WriteCache, "write cache state differs from the model");
        }

        // ---- counters ---------------------------------------------------------------------------------

        /// <summary>Every counter moves exactly as the outcome says: one gate or one answer, each error reply once by kind.</summary>
        private void CheckCounters(AoeTarget t, in FuzzExpectation e, AoeDecision d, ReadOnlySpan<byte> request)
        {
            Array.Clear(_delta);
            switch (e.Gate)
            {
                case FuzzGate.Denied: _delta[CDenied] = 1; break;
                case FuzzGate.BroadcastAta: _delta[CBroadcastIgnored] = 1; break;
                case FuzzGate.BroadcastStateChange: _delta[CAdminBroadcastRefused] = 1; break;
                case FuzzGate.Handled:
                    _delta[CRequests] = 1;
                    _delta[d == AoeDecision.Reply ? CReplies : d == AoeDecision.Io ? CIoRequests : CUnanswered] = 1;
                    _delta[CAdminRefused] = e.AdminRefused ? 1 : 0;
                    _delta[COversized] = e.Oversized ? 1 : 0;
                    if (d == AoeDecision.Reply)
                    {
                        if (e.AoeError != 0)
                            _delta[AoeErrorCounter(e.AoeError)] = 1;
                        else if (request[19] == AoeWire.CmdMacMask && e.MaskError != 0)
                            _delta[CMaskErrors] = 1;
                        else if (request[19] == AoeWire.CmdAta && e.AtaError != 0)
                            _delta[AtaErrorCounter(e.AtaError)] = 1;
                    }
                    break;
            }
            Snapshot(t.Counters, _after);
            for (int i = 0; i < _after.Length; i++)
            {
                if (_after[i] - _before[i] != _delta[i])
                    Check(false, $"counter {CounterNames[i]} moved by {_after[i] - _before[i]}, expected {_delta[i]}");
            }
            // The robustness test's independent reading, kept: an error reply by its bytes is counted once.
            long errors = Sum(_after, CAoeError1, CAtaOther) - Sum(_before, CAoeError1, CAtaOther);
            Check(errors == (d == AoeDecision.Reply && IsErrorReply(_reply) ? 1 : 0), "error replies not counted exactly once");
        }

        private static long Sum(long[] s, int from, int to)
        {
            long n = 0;
            for (int i = from; i <= to; i++)
                n += s[i];
            return n;
        }

        // ---- replies ----------------------------------------------------------------------------------

        /// <summary>The reply's fields against the request and the model's state after it.</summary>
        private static void CheckReplyContent(ReadOnlySpan<byte> r, ReadOnlySpan<byte> f, in FuzzExpectation e, AoeTarget t,
            in AoeInterface iface, AoeReferenceModel m)
        {
            byte command = f[19];
            if (e.AoeError != 0 && !(command == AoeWire.CmdQueryConfig && e.AoeError == AoeWire.ErrConfigStringPresent))
            {
                Check(r[15] == e.AoeError, $"AoE error {r[15]}, the model says {e.AoeError}");
                // Up to 36 bytes of the argument echoed, then zero padding to 60.
                int echo = Math.Min(f.Length - 24, 36);
                Check(r.Slice(24, echo).SequenceEqual(f.Slice(24, echo)), "an AoE error reply does not echo the argument");
                Check(r.Slice(24 + echo).IndexOfAnyExcept((byte)0) < 0, "an AoE error reply is not zero padded");
                return;
            }
            Check(r[15] == e.AoeError, $"AoE error {r[15]}, the model says {e.AoeError}");
            int end;
            switch (command)
            {
                case AoeWire.CmdAta:
                {
                    byte ata = f[27];
                    Check(r[24] == f[24], "aflags not echoed");
                    Check(r[25] == e.AtaError, $"ATA error {r[25]:x2}, the model says {e.AtaError:x2}");
                    Check(r[26] == (ata == Ata.CmdCheckPowerMode && e.AtaError == 0 ? Ata.PowerModeActive : f[26]), "sector count not echoed");
                    ulong lba = ReadLba(f.Slice(28)), replyLba = ReadLba(r.Slice(28));
                    if (ata == Ata.CmdSmart && e.AtaError == 0)
                        lba = (lba & ~0xFFFF00UL) | 0xC24F00UL; // SMART RETURN STATUS: "no threshold exceeded"
                    Check(replyLba == lba && r[34] == 0 && r[35] == 0, "LBA not echoed");
                    if (ata == Ata.CmdIdentify && e.AtaError == 0)
                    {
                        ReadOnlySpan<byte> block = r.Slice(36, 512);
                        Check(block.SequenceEqual(t.IdentifyBlock), "IDENTIFY data is not the device's block");
                        byte sum = 0;
                        foreach (byte b in block)
                            sum += b;
                        Check(sum == 0 && block[510] == 0xA5, "IDENTIFY integrity word");
                        Check(((AtaIdentify.GetWord(block, 85) & 0x20) != 0) == m.WriteCache, "IDENTIFY word 85 disagrees with the write cache state");
                        Check(BinaryPrimitives.ReadUInt64LittleEndian(block.Slice(200)) == t.SectorCount, "IDENTIFY capacity");
                        end = 36 + 512;
                    }
                    else
                    {
                        end = 36;
                    }
                    break;
                }
                case AoeWire.CmdQueryConfig:
                {
                    int ccmd = f.Length > 29 ? f[29] & 0x0F : 0;
                    Check(BinaryPrimitives.ReadUInt16BigEndian(r.Slice(24)) == t.BufferCount && t.BufferCount >= 2, "config reply buffer count");
                    Check(BinaryPrimitives.ReadUInt16BigEndian(r.Slice(26)) == AoeTarget.DefaultFirmwareVersion, "config reply firmware version");
                    Check(r[28] == iface.MaxSectors, "config reply sector count is not the interface's maximum");
                    Check(r[29] == (0x10 | ccmd), "config reply version/ccmd");
                    int length = BinaryPrimitives.ReadUInt16BigEndian(r.Slice(30));
                    Check(length == m.ConfigLength && r.Slice(32, length).SequenceEqual(m.ConfigString), "config reply string is not the device's");
                    end = 32 + length;
                    break;
                }
                case AoeWire.CmdMacMask:
                    Check(r[24] == 0 && r[25] == At(f, 25) && r[26] == e.MaskError, $"mask reply header (MError {r[26]}, the model says {e.MaskError})");
                    if (e.MaskError == 0)
                    {
                        Check(r[27] == m.MaskCount, "mask reply Dir Count is not the list's length");
                        for (int i = 0; i < m.MaskCount; i++)
                        {
                            ReadOnlySpan<byte> d = r.Slice(28 + 8 * i);
                            Check(d[0] == 0 && d[1] == AoeWire.DCmdNone && MacAddress.Read(d.Slice(2)) == m.Mask[i], "mask reply entry");
                        }
                        end = 28 + 8 * m.MaskCount;
                    }
                    else
                    {
                        Check(r[27] == e.MaskDirCount, $"MError Dir Count {r[27]}, the model says {e.MaskDirCount}");
                        end = 28;
                    }
                    break;
                case AoeWire.CmdReserve:
                    Check(r[24] == At(f, 24) && r[25] == m.ReserveCount, "reserve reply header");
                    for (int i = 0; i < m.ReserveCount; i++)
                        Check(MacAddress.Read(r.Slice(26 + 6 * i)) == m.Reserve[i], "reserve reply entry");
                    end = 26 + 6 * m.ReserveCount;
                    break;
                default:
                    Check(false, "a reply without an error to an unknown command");
                    return;
            }
            Check(end >= r.Length || r.Slice(end).IndexOfAnyExcept((byte)0) < 0, "reply padding is not zero");
        }

        // ---- I/O --------------------------------------------------------------------------------------

        /// <summary>Completes the I/O as the daemon does: mostly success, sometimes an error from MapIoError, counted.</summary>
        private void Complete(ref FuzzRng rng, in AoeIoRequest io, ReadOnlySpan<byte> request, AoeTarget t, in AoeInterface iface)
        {
            byte status = Ata.StatusOk, error = 0;
            bool failed = rng.Next(8) == 0;
            if (failed)
            {
                int errno = rng.Next(3) switch { 0 => 0, 1 => 5, _ => 28 }; // short transfer, EIO, ENOSPC
                AoeEngine.MapIoError(errno, io.Kind, out status, out error);
                Snapshot(t.Counters, _before);
                t.Counters.CountAtaError(error);
                Snapshot(t.Counters, _after);
                int row = AtaErrorCounter(error);
                for (int i = 0; i < _after.Length; i++)
                    Check(_after[i] - _before[i] == (i == row ? 1 : 0), "a failed I/O's ATA error not counted once by kind");
                _seen[(int)Seen.IoFailed]++;
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread();
            int n = AoeEngine.WriteIoReply(_reply, io, iface, status, error);
            _frameAllocated += GC.GetAllocatedBytesForCurrentThread() - allocated;
            _replyLength = n;
            Check(n == (io.Kind == IoKind.Read && !failed ? 36 + io.ByteLength : 60), $"I/O reply length {n}");
            ReadOnlySpan<byte> r = _reply.AsSpan(0, n);
            CheckReply(r, request, t, iface, default);
            Check(r[24] == io.Aflags && r[25] == error && r[26] == io.RequestSectorCount && r[27] == status
                && ReadLba(r.Slice(28)) == io.RawLba, "I/O reply ATA header");
        }

        // ---- coverage ---------------------------------------------------------------------------------

        private void Tally(in FuzzExpectation e, AoeDecision d, FuzzKind kind, FuzzTargetConfig cfg, bool reservedBefore, bool maskBefore)
        {
            Note((Seen)e.Gate);
            Note(d == AoeDecision.Reply ? Seen.Replies : d == AoeDecision.Io ? Seen.IoRequests : Seen.Dropped);
            if (e.Gate != FuzzGate.Handled)
                return;
            _kindsHandled[(int)kind]++;
            Note(Seen.Unanswered, d == AoeDecision.Drop);
            Note(Seen.BadVersion, e.AoeError == AoeWire.ErrUnsupportedVersion);
            Note(Seen.UnknownCommand, e.AoeError == AoeWire.ErrUnrecognizedCommand);
            Note(Seen.BadArgument, e.AoeError == AoeWire.ErrBadArgument);
            Note(Seen.ConfigStringPresent, e.AoeError == AoeWire.ErrConfigStringPresent);
            Note(Seen.TargetReserved, e.AoeError == AoeWire.ErrTargetReserved);
            if (d == AoeDecision.Io)
            {
                Note(e.IoKind == IoKind.Read ? Seen.IoRead : e.IoKind == IoKind.Write ? Seen.IoWrite : Seen.IoFlush);
                Note(Seen.IoWhileReserved, reservedBefore);
                Note(Seen.IoOnShared, cfg.Shared);
                Note(Seen.IoOnReadOnly, cfg.ReadOnly);
            }
            Note(Seen.Oversized, e.Oversized);
            Note(Seen.BeyondTheEnd, e.AoeError == 0 && e.AtaError == Ata.ErrorIdnf);
            Note(Seen.AtaAborted, e.AoeError == 0 && e.AtaError == Ata.ErrorAbrt);
            Note(Seen.AdminRefused, e.AdminRefused);
            Note(Seen.MaskListFull, e.MaskError == AoeWire.MErrListFull);
            Note(Seen.MaskBadDirective, e.MaskError == AoeWire.MErrBadDirective);
            if (e.StateChanged)
            {
                // Templates and mutated frames of another kind change state too: not counted here.
                Note(Seen.ConfigChanged, kind is FuzzKind.ConfigSetIfEmpty or FuzzKind.ConfigForceSet);
                Note(Seen.MaskChanged, kind == FuzzKind.MaskEdit);
                Note(Seen.ReserveChanged, kind is FuzzKind.ReserveSet or FuzzKind.ReserveForceSet);
                Note(Seen.WriteCacheChanged, kind == FuzzKind.AtaSetFeatures);
            }
            Note(Seen.HandledWithAccept, cfg.Accept > 0);
            Note(Seen.HandledWithDeny, cfg.Deny > 0);
            Note(Seen.HandledWithAdmin, cfg.Admin >= 0);
            Note(Seen.HandledWithMask, maskBefore);
            Note(Seen.HandledWhileReserved, reservedBefore);
            Note(Seen.HandledOnShared, cfg.Shared);
            Note(Seen.HandledOnReadOnly, cfg.ReadOnly);
            Note(cfg.WriteCachePinned ? Seen.HandledCachePinned : Seen.HandledCacheUnpinned);
        }

        private void Note(Seen what, bool when = true)
        {
            if (when)
                _seen[(int)what]++;
        }

        public void Report(ITestOutputHelper output)
        {
            var sb = new StringBuilder("kind: generated / handled\n");
            for (int i = 0; i < (int)FuzzKind.Count; i++)
                sb.Append(CultureInfo.InvariantCulture, $"  {(FuzzKind)i,-18} {_kinds[i],10:N0} {_kindsHandled[i],10:N0}\n");
            sb.Append("seen:\n");
            for (int i = 0; i < (int)Seen.Count; i++)
                sb.Append(CultureInfo.InvariantCulture, $"  {(Seen)i,-22} {_seen[i],10:N0}\n");
            if (_allocations.Length > 0)
                sb.Append("allocations inside AoeEngine.Handle:\n").Append(_allocations);
            output.WriteLine(sb.ToString());
        }

        /// <summary>A full run must exercise every kind of frame, every outcome and every configuration substantially.</summary>
        public void AssertCoverage()
        {
            for (int i = 0; i < (int)FuzzKind.Count; i++)
            {
                Assert.True(_kinds[i] > 50_000, $"{(FuzzKind)i} generated only {_kinds[i]} times");
                Assert.True(_kindsHandled[i] > 20_000, $"{(FuzzKind)i} reached the handlers only {_kindsHandled[i]} times");
            }
            for (int i = 0; i < (int)Seen.Count; i++)
            {
                Assert.True(_seen[i] > 2_000, $"{(Seen)i} seen only {_seen[i]} times");
            }
            // The robustness test's floor, scaled: all three outcomes, substantially.
            Assert.True(_seen[(int)Seen.Dropped] > 500_000 && _seen[(int)Seen.Replies] > 500_000 && _seen[(int)Seen.IoRequests] > 200_000);
        }
    }

    // ---- the robustness test's checks, kept and extended ---------------------------------------------

    /// <summary>AoE Error flag, a Mac Mask MError, or an ATA reply with ERR.</summary>
    private static bool IsErrorReply(byte[] r) =>
        (r[14] & 0x04) != 0 || (r[19] == 2 && r[26] != 0) || (r[19] == 0 && (r[27] & 0x01) != 0);

    /// <summary>
    /// The I/O request is default: field by field, because ValueType.Equals on a struct with padding
    /// boxes both sides and compares by reflection (microseconds a frame, ten million times).
    /// </summary>
    private static bool IsEmpty(in AoeIoRequest io) =>
        io.Kind == default && io.Lba == 0 && io.SectorCount == 0 && io.Tag == 0 && io.Source == default && io.Shelf == 0
        && io.Slot == 0 && io.Aflags == 0 && io.AtaCommand == 0 && io.RequestSectorCount == 0 && io.RawLba == 0
        && io.PayloadOffset == 0 && io.PayloadLength == 0;

    /// <summary>A request byte, 0 past the frame's end (the engine reads missing argument bytes as 0).</summary>
    private static byte At(ReadOnlySpan<byte> f, int offset) => offset < f.Length ? f[offset] : (byte)0;

    private static ulong ReadLba(ReadOnlySpan<byte> b) =>
        BinaryPrimitives.ReadUInt32LittleEndian(b) | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(4)) << 32;

    /// <summary>Every reply, from Handle or WriteIoReply: size, addresses, header, tag, and ATA status sense.</summary>
    private static void CheckReply(ReadOnlySpan<byte> r, ReadOnlySpan<byte> request, AoeTarget target, in AoeInterface iface, in AoeIoRequest io)
    {
        Check(r.Length >= 60, "short reply");
        Check(r.Length <= Math.Max(iface.MaxFrameLength, 60), "reply exceeds MTU");
        Check(IsEmpty(io), "a reply with an I/O request");
        Check(request.Slice(6, 6).SequenceEqual(r.Slice(0, 6)), "destination is not the requester");
        Check(MacAddress.Read(r.Slice(6)) == iface.Mac, "source is not the interface's MAC");
        Check(BinaryPrimitives.ReadUInt16BigEndian(r.Slice(12)) == AoeWire.EtherType, "EtherType");
        Check((r[14] & 0xFB) == 0x18, "ver/flags: version 1, Response, nothing else but Error");
        Check(((r[14] & 0x04) != 0) == (r[15] != 0), "Error flag without an error code, or the reverse");
        Check(BinaryPrimitives.ReadUInt16BigEndian(r.Slice(16)) == target.Shelf && r[18] == target.Slot, "reply not from our shelf/slot");
        Check(request[19] == r[19], "command not echoed");
        Check(request.Slice(20, 4).SequenceEqual(r.Slice(20, 4)), "tag not echoed");
        if (r[19] == AoeWire.CmdAta && (r[14] & 0x04) == 0)
        {
            byte status = r[27], error = r[25];
            // Linux fails a request on status & 0xA9 (AOE-NOTES 0.7): a failing bit needs an error code to say why.
            Check((status & AoeEngine.FailingStatusBits) == 0 || error != 0, "failing ATA status without an error code");
            Check(error == 0 || (status & Ata.StatusError) != 0, "an ATA error code without ERR");
            Check((status & Ata.StatusReady) != 0 && (status & (Ata.StatusBusy | Ata.StatusDrq | Ata.StatusFault)) == 0, "ATA status is not DRDY (| ERR)");
        }
    }

    /// <summary>An accepted I/O: inside the device, inside what the interface carries, its write data inside the frame.</summary>
    private static void CheckIo(in AoeIoRequest io, ReadOnlySpan<byte> request, AoeTarget target, in AoeInterface iface)
    {
        Check(BinaryPrimitives.ReadUInt32BigEndian(request.Slice(20)) == io.Tag, "I/O tag");
        Check(MacAddress.Read(request.Slice(6)) == io.Source, "I/O source");
        Check(target.Shelf == io.Shelf && target.Slot == io.Slot, "I/O shelf/slot");
        Check(!target.IsReservedAgainst(io.Source), "I/O for a host the reservation excludes");
        Check(!(BinaryPrimitives.ReadUInt16BigEndian(request.Slice(16)) == 0xFFFF || request[18] == 0xFF), "broadcast ATA served");
        Check(io.Aflags == request[24] && io.AtaCommand == request[27] && io.RequestSectorCount == request[26]
            && io.RawLba == ReadLba(request.Slice(28)), "I/O echo fields");
        if (io.Kind == IoKind.Flush)
        {
            Check(io.SectorCount == 0 && io.PayloadLength == 0, "flush with sectors or data");
            return;
        }
        Check(io.SectorCount is >= 1 and <= 255, "I/O sector count out of 1..255");
        Check(io.Lba < target.SectorCount && (ulong)io.SectorCount <= target.SectorCount - io.Lba, "I/O outside the device");
        Check(io.SectorCount <= iface.MaxSectors, "I/O exceeds what the interface carries");
        if (io.Kind == IoKind.Read)
        {
            Check(io.PayloadOffset == 0 && io.PayloadLength == 0, "read with a payload");
            Check(36 + io.ByteLength <= iface.MaxFrameLength, "read reply would exceed the MTU");
        }
        else
        {
            Check(io.Kind == IoKind.Write, "unknown I/O kind");
            Check(!target.ReadOnly, "write to a read-only device");
            Check(io.PayloadOffset == 36 && io.PayloadLength == io.SectorCount * 512, "write payload slice");
            Check(io.PayloadOffset + io.PayloadLength <= request.Length, "write payload beyond frame");
        }
    }
}

