using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace Ggaoed.Daemon.Config;

/// <summary>
/// The outcome of loading a configuration: either a complete <see cref="Config"/> or, when anything at all is
/// wrong, no configuration and every problem found. Warnings never block, unless
/// <see cref="WithWarningsAsErrors"/> (<c>--strict</c>) made them errors.
/// </summary>
public sealed class ConfigLoadResult
{
    public ConfigLoadResult(GgaoedConfig? config, IReadOnlyList<ConfigDiagnostic> errors, IReadOnlyList<ConfigDiagnostic> warnings)
    {
        Config = config;
        Errors = errors;
        Warnings = warnings;
    }

    public GgaoedConfig? Config { get; }
    public IReadOnlyList<ConfigDiagnostic> Errors { get; }
    public IReadOnlyList<ConfigDiagnostic> Warnings { get; }
    public bool Ok => Config != null;

    /// <summary>
    /// <c>ggaoed --strict</c>: every warning becomes an error, so a file with any warning yields no configuration.
    /// Errors and former warnings come out together in file order.
    /// </summary>
    public ConfigLoadResult WithWarningsAsErrors()
    {
        if (Warnings.Count == 0)
            return this;
        var all = new List<ConfigDiagnostic>(Errors);
        all.AddRange(Warnings);
        return new ConfigLoadResult(null, ConfigLoader.InFileOrder(all), []);
    }

    /// <summary>
    /// Prints every error, then every warning (prefixed "warning: "), one per line, and returns the exit status
    /// for <c>ggaoed -t</c>: 0 when the configuration is usable, 2 when it is not.
    /// </summary>
    public int Report(System.IO.TextWriter output)
    {
        foreach (ConfigDiagnostic e in Errors)
            output.WriteLine(e.ToString());
        foreach (ConfigDiagnostic w in Warnings)
            output.WriteLine("warning: " + w.ToString());
        return Ok ? 0 : ConfigLoader.ExitStatusInvalid;
    }
}

/// <summary>
/// Turns ggaoed.conf into a <see cref="GgaoedConfig"/>. Nothing is half-accepted: the loader keeps going after
/// a problem so the admin sees all of them at once, and returns a configuration only when there were no errors.
/// </summary>
/// <remarks>
/// <para>
/// How groups are told apart: <c>[defaults]</c> and <c>[acls]</c> are reserved; a group with a <c>path</c> or
/// <c>uuid</c> key is a device named after the group; every other group is an interface group named after
/// an interface (or a pattern of interface names). A group that has a shelf or slot (what made a group a
/// device in ggaoed 1.1) but neither path nor uuid is reported as a device that is missing its path.
/// </para>
/// <para>
/// Errors and warnings: every file ggaoed 1.1 accepted must load, with 1.1's meaning. So what 1.1 ignored
/// (unknown and obsolete keys, keys in the wrong group, a repeated key, a name in an access list that
/// resolves to nothing) and what 1.1 allowed but we cannot honour as written (queue-length 1, a ring too
/// small for one block) load with a warning that says what happens instead. What the machine lacks today
/// (a missing path, an unresolved UUID) leaves the device in the configuration, marked
/// <see cref="DeviceConfig.Unavailable"/>. Errors are kept for syntax errors, values that are invalid on
/// their face, empty access lists, and settings that contradict each other.
/// </para>
/// </remarks>
public static class ConfigLoader
{
    public const string DefaultPath = "/etc/ggaoed.conf";
    /// <summary>Exit status of the daemon (and of <c>ggaoed -t</c>) for an unusable configuration.</summary>
    public const int ExitStatusInvalid = 2;
    /// <summary>Linux interface names are at most IFNAMSIZ - 1 = 15 bytes.</summary>
    private const int MaxInterfaceName = 15;
    /// <summary>
    /// A device name becomes the state file name plus a suffix (".state", and ".*.tmp" while it is written); 200
    /// bytes leave room below NAME_MAX (255) for any suffix.
    /// </summary>
    private const int MaxDeviceNameBytes = 200;

    public static ConfigLoadResult Load(string path) => Load(path, new SystemConfigHost());

    public static ConfigLoadResult Load(string path, IConfigHost host)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new ConfigLoadResult(null, [Unreadable(path, e)], []);
        }
        return LoadText(text, path, host);
    }

    /// <summary>
    /// Said in words: the published binary is built with UseSystemResourceKeys, so e.Message is only a
    /// resource key such as "IO_PathNotFound_Path".
    /// </summary>
    private static ConfigDiagnostic Unreadable(string path, Exception e)
    {
        string why = e switch
        {
            FileNotFoundException or DirectoryNotFoundException => "no such file",
            UnauthorizedAccessException when Directory.Exists(path) => "it is a directory",
            UnauthorizedAccessException => "permission denied",
            _ => e.Message,
        };
        return new ConfigDiagnostic(path, 0, null, "cannot read the configuration file: " + why);
    }

    /// <summary>
    /// Only <c>[defaults]</c> (plus syntax errors anywhere), for ggaoectl: it needs the control socket path and
    /// must work for users who cannot open the exported devices, so paths, UUIDs and ACLs are not checked.
    /// </summary>
    public static DefaultsConfig? LoadDefaults(string path, out IReadOnlyList<ConfigDiagnostic> errors)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            errors = [Unreadable(path, e)];
            return null;
        }
        return LoadDefaultsText(text, path, out errors);
    }

    public static DefaultsConfig? LoadDefaultsText(string text, string fileName, out IReadOnlyList<ConfigDiagnostic> errors)
    {
        var run = new Run(fileName, new SystemConfigHost());
        return run.ExecuteDefaultsOnly(KeyFileParser.Parse(text, fileName), out errors);
    }

    public static ConfigLoadResult LoadText(string text, string fileName, IConfigHost host)
    {
        var run = new Run(fileName, host);
        return run.Execute(KeyFileParser.Parse(text, fileName));
    }

    /// <summary>
    /// Problems in file order (stable for the same line), which is how an admin works through them; syntax
    /// problems are found in an earlier pass and would otherwise all come first.
    /// </summary>
    internal static List<ConfigDiagnostic> InFileOrder(List<ConfigDiagnostic> list)
    {
        var keyed = new (int Line, int Index, ConfigDiagnostic D)[list.Count];
        for (int i = 0; i < keyed.Length; i++)
            keyed[i] = (list[i].Line, i, list[i]);
        Array.Sort(keyed, static (a, b) => a.Line != b.Line ? a.Line.CompareTo(b.Line) : a.Index.CompareTo(b.Index));
        var sorted = new List<ConfigDiagnostic>(keyed.Length);
        foreach (var k in keyed)
            sorted.Add(k.D);
        return sorted;
    }

    /// <summary>A resolved access list: its MACs (sorted, distinct), and whether some name in it did not resolve.</summary>
    private sealed record ResolvedList(ulong[] Macs, bool Incomplete);

    /// <summary>One load: the accumulated diagnostics and the lazily read /etc/ethers.</summary>
    private sealed class Run
    {
        private readonly string _file;
        private readonly IConfigHost _host;
        private readonly List<ConfigDiagnostic> _errors = new();
        private readonly List<ConfigDiagnostic> _warnings = new();
        private readonly Dictionary<string, KeyFileEntry> _aclEntries = new(StringComparer.Ordinal);
        private readonly Dictionary<string, ResolvedList?> _aclResolved = new(StringComparer.Ordinal);
        private readonly HashSet<string> _aclInProgress = new(StringComparer.Ordinal);
        private readonly List<string> _aclStack = new();
        private readonly Dictionary<StoreIdentity, (string Group, int Line)> _stores = new();
        private EthersFile? _ethers;
        private string _ethersWhere = EthersFile.DefaultPath;
        private bool _ethersMissing;

        public Run(string file, IConfigHost host)
        {
            _file = file;
            _host = host;
        }

        public DefaultsConfig? ExecuteDefaultsOnly(KeyFileDocument doc, out IReadOnlyList<ConfigDiagnostic> errors)
        {
            _errors.AddRange(doc.Errors);
            DefaultsConfig defaults = new();
            foreach (KeyFileGroup g in doc.Groups)
                if (g.Name == ConfigKeys.DefaultsGroup)
                    defaults = ParseDefaults(g, resolveAcls: false);
            errors = InFileOrder(_errors);
            return _errors.Count == 0 ? defaults : null;
        }

        public ConfigLoadResult Execute(KeyFileDocument doc)
        {
            _errors.AddRange(doc.Errors);
            _warnings.AddRange(doc.Warnings);

            KeyFileGroup? defaultsGroup = null, aclsGroup = null;
            foreach (KeyFileGroup g in doc.Groups)
            {
                if (g.Name == ConfigKeys.DefaultsGroup)
                    defaultsGroup = g;
                else if (g.Name == ConfigKeys.AclsGroup)
                    aclsGroup = g;
            }

            // ACLs first: [defaults] admin-accept may name them.
            if (aclsGroup != null)
            {
                foreach (KeyFileEntry e in aclsGroup.Entries)
                    _aclEntries[e.Key] = e;
                foreach (KeyFileEntry e in aclsGroup.Entries)
                    ResolveAcl(e.Key);
            }

            DefaultsConfig defaults = defaultsGroup == null ? new DefaultsConfig() : ParseDefaults(defaultsGroup, resolveAcls: true);

            var interfaces = new List<InterfaceConfig>();
            var devices = new List<DeviceConfig>();
            var addresses = new Dictionary<int, KeyFileGroup>();
            foreach (KeyFileGroup g in doc.Groups)
            {
                if (g == defaultsGroup || g == aclsGroup)
                    continue;
                if (g.Find(ConfigKeys.Path) != null || g.Find(ConfigKeys.Uuid) != null)
                {
                    DeviceConfig? d = ParseDevice(g, defaults, out int? shelf, out int? slot);
                    // Checked even when the device has other problems, so all of them show up in one run.
                    if (shelf != null && slot != null)
                    {
                        int address = (shelf.Value << 8) | slot.Value;
                        if (addresses.TryGetValue(address, out KeyFileGroup? first))
                            Error(g.Find(ConfigKeys.Shelf)!.Line, ConfigKeys.Shelf, "e" + Num(shelf.Value) + "." + Num(slot.Value)
                                + " is already used by [" + first.Name + "] at line " + Num(first.Line) + ": give each device its own shelf and slot");
                        else
                            addresses.Add(address, g);
                    }
                    if (d != null)
                        devices.Add(d);
                }
                else
                {
                    InterfaceConfig? i = ParseInterface(g);
                    if (i != null)
                        interfaces.Add(i);
                }
            }

            List<ConfigDiagnostic> warnings = InFileOrder(_warnings);
            if (_errors.Count > 0)
                return new ConfigLoadResult(null, InFileOrder(_errors), warnings);
            var acls = new Dictionary<string, ulong[]>(StringComparer.Ordinal);
            foreach (var kv in _aclResolved)
                acls[kv.Key] = kv.Value!.Macs;
            var config = new GgaoedConfig
            {
                FileName = _file,
                Defaults = defaults,
                InterfaceGroups = interfaces,
                Devices = devices,
                Acls = acls,
            };
            return new ConfigLoadResult(config, [], warnings);
        }

        // ---- [defaults] ----

        private DefaultsConfig ParseDefaults(KeyFileGroup g, bool resolveAcls)
        {
            var d = new DefaultsConfig { Location = new SourceLocation(_file, g.Line) };
            foreach (KeyFileEntry e in g.Entries)
            {
                switch (e.Key)
                {
                    case ConfigKeys.QueueLength:
                        if (QueueLength(e) is int q) d = d with { QueueLength = q };
                        break;
                    case ConfigKeys.Interfaces:
                        if (Patterns(e) is string[] p) d = d with { Interfaces = p };
                        break;
                    case ConfigKeys.DirectIo:
                        if (Bool(e) is bool dio) d = d with { DirectIo = dio };
                        break;
                    case ConfigKeys.TraceIo:
                        if (Bool(e) is bool t) d = d with { TraceIo = t };
                        break;
                    case ConfigKeys.PidFile:
                        if (AbsolutePath(e) is string pid) d = d with { PidFile = pid };
                        break;
                    case ConfigKeys.ControlSocket:
                        if (AbsolutePath(e) is string sock) d = d with { ControlSocket = sock };
                        break;
                    case ConfigKeys.StateDirectory:
                        if (AbsolutePath(e) is string dir) d = d with { StateDirectory = dir };
                        break;
                    case ConfigKeys.RingBufferSize:
                        if (RingSize(e) is int r) d = d with { RingBufferSizeKiB = r };
                        break;
                    case ConfigKeys.SendBufferSize:
                        if (SocketBufferSize(e) is int s) d = d with { SendBufferSizeKiB = s };
                        break;
                    case ConfigKeys.ReceiveBufferSize:
                        if (SocketBufferSize(e) is int rc) d = d with { ReceiveBufferSizeKiB = rc };
                        break;
                    case ConfigKeys.MaxDelay:
                        if (Delay(e) is double md) d = d with { MaxDelay = md };
                        break;
                    case ConfigKeys.MergeDelay:
                        if (Delay(e) is double mg) d = d with { MergeDelay = mg };
                        break;
                    case ConfigKeys.BusyPoll:
                        if (Int(e, 0, DefaultsConfig.MaxBusyPollMicroseconds, "microseconds; 0 turns polling off") is int bp)
                            d = d with { BusyPollMicroseconds = bp };
                        break;
                    case ConfigKeys.Mtu:
                        if (Mtu(e) is int mtu) d = d with { Mtu = mtu == 0 ? null : mtu };
                        break;
                    case ConfigKeys.AdminAccept:
                        // ggaoectl reads [defaults] without resolving anything (it may not read /etc/ethers).
                        if (resolveAcls) d = d with { AdminAccept = AdminAccept(e) };
                        break;
                    case ConfigKeys.WriteCache:
                        if (Bool(e) is bool wc) d = d with { WriteCache = wc };
                        break;
                    case ConfigKeys.IoEngine:
                        if (IoEngine(e) is IoEngineSetting ie) d = d with { IoEngine = ie };
                        break;
                    default:
                        OtherKey(e, "[defaults]", ConfigKeys.Defaults);
                        break;
                }
            }
            return d with { MergeDelay = BoundedMergeDelay(g, d.MaxDelay, d.MergeDelay) };
        }

        // ---- interface groups ----

        private InterfaceConfig? ParseInterface(KeyFileGroup g)
        {
            string? reserved = ReservedLookalike(g.Name);
            if (reserved != null)
            {
                Warn(g.Line, "[" + g.Name + "]", "unknown group, ignored: did you mean [" + reserved + "]? Group names are case-sensitive");
                return null;
            }
            KeyFileEntry? address = g.Find(ConfigKeys.Shelf) ?? g.Find(ConfigKeys.Slot);
            if (address != null)
            {
                Error(g.Line, "[" + g.Name + "]", "has device keys (" + address.Key + " at line " + Num(address.Line)
                    + ") but neither path nor uuid: add path or uuid to export a device");
                return null;
            }
            string? nameProblem = InterfaceNameProblem(g.Name);
            if (nameProblem != null)
            {
                // ggaoed 1.1 read such a group and then never found an interface it applied to.
                Warn(g.Line, "[" + g.Name + "]", nameProblem + "; the group is ignored");
                return null;
            }
            int errorsBefore = _errors.Count;
            var i = new InterfaceConfig { Name = g.Name, Location = new SourceLocation(_file, g.Line) };
            foreach (KeyFileEntry e in g.Entries)
            {
                switch (e.Key)
                {
                    case ConfigKeys.Mtu:
                        if (Mtu(e) is int mtu) i = i with { Mtu = mtu };
                        break;
                    case ConfigKeys.RingBufferSize:
                        if (RingSize(e) is int r) i = i with { RingBufferSizeKiB = r };
                        break;
                    case ConfigKeys.SendBufferSize:
                        if (SocketBufferSize(e) is int s) i = i with { SendBufferSizeKiB = s };
                        break;
                    case ConfigKeys.ReceiveBufferSize:
                        if (SocketBufferSize(e) is int rc) i = i with { ReceiveBufferSizeKiB = rc };
                        break;
                    default:
                        OtherKey(e, "an interface group", ConfigKeys.Interface);
                        break;
                }
            }
            return _errors.Count == errorsBefore ? i : null;
        }

        /// <summary>"Default", "[acl]" and the like are typos, not interfaces.</summary>
        private static string? ReservedLookalike(string name)
        {
            foreach (string reserved in new[] { ConfigKeys.DefaultsGroup, ConfigKeys.AclsGroup })
            {
                if (string.Equals(name, reserved, StringComparison.OrdinalIgnoreCase)
                    || string.Equals(name + "s", reserved, StringComparison.OrdinalIgnoreCase))
                    return reserved;
            }
            return null;
        }

        private static string? InterfaceNameProblem(string name)
        {
            if (name.IndexOfAny(['/', ' ', '\t', ':']) >= 0)
                return "is not a valid interface name (no '/', ':' or blanks), and without path or uuid it is not a device either";
            if (!GlobPattern.HasWildcards(name) && System.Text.Encoding.UTF8.GetByteCount(name) > MaxInterfaceName)
                return "is longer than an interface name can be (15 bytes), and without path or uuid it is not a device either";
            string? bad = GlobPattern.Validate(name);
            return bad == null ? null : "is not a valid interface pattern (" + bad + ")";
        }

        // ---- devices ----

        private DeviceConfig? ParseDevice(KeyFileGroup g, DefaultsConfig defaults, out int? shelf, out int? slot)
        {
            int errorsBefore = _errors.Count;
            string subject = "[" + g.Name + "]";
            string? nameProblem = DeviceNameProblem(g.Name);
            if (nameProblem != null)
                Error(g.Line, subject, nameProblem);

            KeyFileEntry? pathEntry = g.Find(ConfigKeys.Path), uuidEntry = g.Find(ConfigKeys.Uuid);
            shelf = null;
            slot = null;
            bool directIo = defaults.DirectIo, traceIo = defaults.TraceIo, broadcast = false, readOnly = false, shared = false;
            bool? writeCache = defaults.WriteCache;
            IoEngineSetting ioEngine = defaults.IoEngine;
            int queueLength = defaults.QueueLength;
            string[] patterns = defaults.Interfaces;
            double maxDelay = defaults.MaxDelay, mergeDelay = defaults.MergeDelay;
            bool ownDelays = false;
            ResolvedList? accept = null, deny = null;
            ulong[]? adminAccept = defaults.AdminAccept;
            long offset = 0;
            long? length = null;
            string? path = null, uuid = null, unavailable = null;
            PathInfo store = PathInfo.Of(PathKind.Missing);
            KeyFileEntry? storeEntry = null;

            if (pathEntry != null && uuidEntry != null)
                Error(g.Line, subject, "has both path (line " + Num(pathEntry.Line) + ") and uuid (line " + Num(uuidEntry.Line)
                    + "): keep only one");

            foreach (KeyFileEntry e in g.Entries)
            {
                switch (e.Key)
                {
                    case ConfigKeys.Path:
                        path = Text(e);
                        // Checked in place so that messages stay in file order; with both keys set the
                        // one message about that is enough.
                        if (path != null && uuidEntry == null && CheckPath(e, path, out store, out unavailable))
                            storeEntry = e;
                        break;
                    case ConfigKeys.Uuid:
                        uuid = Text(e);
                        if (uuid != null && pathEntry == null)
                        {
                            path = ResolveUuid(e, uuid, out store, out unavailable);
                            if (unavailable == null && path != null)
                                storeEntry = e;
                        }
                        break;
                    case ConfigKeys.Shelf:
                        shelf = Int(e, 0, 0xFFFF, null);
                        if (shelf == 0xFFFF)
                        {
                            Error(e, "65535 (0xffff) is the broadcast shelf: use 0 to 65534");
                            shelf = null;
                        }
                        else if (shelf == 0x0FFF)
                            Warn(e, "the Linux aoe driver never discovers shelf 4095 (0x0fff), taking it for unset dip switches: pick another shelf if Linux initiators must see this device");
                        break;
                    case ConfigKeys.Slot:
                        slot = Int(e, 0, 0xFF, null);
                        if (slot == 0xFF)
                        {
                            Error(e, "255 (0xff) is the broadcast slot: use 0 to 254");
                            slot = null;
                        }
                        break;
                    case ConfigKeys.DirectIo:
                        if (Bool(e) is bool dio) directIo = dio;
                        break;
                    case ConfigKeys.QueueLength:
                        if (QueueLength(e) is int q) queueLength = q;
                        break;
                    case ConfigKeys.Interfaces:
                        // An empty list means "no restriction" in ggaoed 1.1: every interface [defaults] allows.
                        if (Patterns(e) is string[] { Length: > 0 } p) patterns = p;
                        break;
                    case ConfigKeys.TraceIo:
                        if (Bool(e) is bool t) traceIo = t;
                        break;
                    case ConfigKeys.MaxDelay:
                        ownDelays = true;
                        if (Delay(e) is double md) maxDelay = md;
                        break;
                    case ConfigKeys.MergeDelay:
                        ownDelays = true;
                        if (Delay(e) is double mg) mergeDelay = mg;
                        break;
                    case ConfigKeys.Broadcast:
                        if (Bool(e) is bool b) broadcast = b;
                        break;
                    case ConfigKeys.ReadOnly:
                        if (Bool(e) is bool ro) readOnly = ro;
                        break;
                    case ConfigKeys.Accept:
                        accept = ResolveList(e);
                        break;
                    case ConfigKeys.Deny:
                        deny = ResolveList(e);
                        break;
                    case ConfigKeys.AdminAccept:
                        adminAccept = AdminAccept(e);
                        break;
                    case ConfigKeys.WriteCache:
                        if (Bool(e) is bool wc) writeCache = wc;
                        break;
                    case ConfigKeys.Shared:
                        if (Bool(e) is bool sh) shared = sh;
                        break;
                    case ConfigKeys.Offset:
                        if (Sectors(e) is long o) offset = o;
                        break;
                    case ConfigKeys.Length:
                        length = Sectors(e);
                        if (length == 0)
                        {
                            Error(e, "an export of 0 sectors: remove length to export up to the end of the backing store");
                            length = null;
                        }
                        break;
                    case ConfigKeys.IoEngine:
                        if (IoEngine(e) is IoEngineSetting ie) ioEngine = ie;
                        break;
                    default:
                        OtherKey(e, "a device group", ConfigKeys.Device);
                        break;
                }
            }

            if (g.Find(ConfigKeys.Shelf) == null)
                Error(g.Line, subject, "has no shelf: give every device a shelf (0 to 65534) and a slot (0 to 254)");
            if (g.Find(ConfigKeys.Slot) == null)
                Error(g.Line, subject, "has no slot: give every device a shelf (0 to 65534) and a slot (0 to 254)");
            if (ownDelays)
                mergeDelay = BoundedMergeDelay(g, maxDelay, mergeDelay);
            if (shared)
                CheckShared(g, defaults, directIo, writeCache);
            if (storeEntry != null)
            {
                CheckStoreSize(g, path!, store, offset, length);
                CheckStoreUnique(g, storeEntry, path!, store);
            }

            ulong[]? acceptMacs = accept?.Macs;
            if (deny is { Incomplete: true })
            {
                // A deny list that could not be resolved cannot refuse the hosts it names: fail closed.
                Warn(g.Find(ConfigKeys.Deny)!, "a name in deny did not resolve, so the device cannot refuse that host: it admits no one until the name resolves");
                acceptMacs = [];
            }
            else if (accept != null && accept.Macs.Length == 0)
                Warn(g.Find(ConfigKeys.Accept)!, "no name in accept resolved to a MAC address: the device admits no one until one does");
            if (unavailable != null)
                Warn((pathEntry ?? uuidEntry)!, subject + " is not exported for now: " + unavailable + "; ggaoed tries again on every reload", storeUnavailable: true);

            if (_errors.Count != errorsBefore || shelf == null || slot == null)
                return null;
            return new DeviceConfig
            {
                Name = g.Name,
                Path = path ?? "",
                Uuid = uuid,
                Unavailable = unavailable,
                Shelf = (ushort)shelf.Value,
                Slot = (byte)slot.Value,
                DirectIo = directIo,
                QueueLength = queueLength,
                Interfaces = patterns,
                TraceIo = traceIo,
                MaxDelay = maxDelay,
                MergeDelay = mergeDelay,
                Broadcast = broadcast,
                ReadOnly = readOnly,
                Accept = acceptMacs,
                Deny = deny?.Macs ?? [],
                AdminAccept = adminAccept,
                // A shared device's cache is off and stays off: another gateway's writes would not be seen.
                WriteCache = writeCache ?? false,
                WriteCachePinned = writeCache != null || shared,
                Shared = shared,
                OffsetSectors = offset,
                LengthSectors = length,
                IoEngine = ioEngine,
                Location = new SourceLocation(_file, g.Line),
            };
        }

        /// <summary>
        /// Device names become ggaoectl arguments and state file names (state-directory/NAME.state). Anything
        /// ggaoed 1.1 accepted is kept (blanks included: the control protocol separates words with NUL), except
        /// what cannot name a file in that directory or print on one log line.
        /// </summary>
        private static string? DeviceNameProblem(string name)
        {
            if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxDeviceNameBytes)
                return "device name is longer than " + Num(MaxDeviceNameBytes) + " bytes (it names the state file): shorten it";
            foreach (char c in name)
            {
                if (c == '/')
                    return "device name must not contain '/' (it names the file state-directory/NAME.state): rename the group";
                if (char.IsControl(c))
                    return "device name must not contain control characters (it is printed in logs and ggaoectl output): rename the group";
            }
            return null;
        }

        /// <summary>
        /// Resolves a device's UUID; returns the device node, or null. An unknown UUID only makes the device
        /// unavailable (the disk may be attached later); an empty one is an error.
        /// </summary>
        private string? ResolveUuid(KeyFileEntry e, string uuid, out PathInfo store, out string? unavailable)
        {
            store = PathInfo.Of(PathKind.Missing);
            unavailable = null;
            if (uuid.Length == 0)
            {
                Error(e, "is empty: give the filesystem, swap, LUKS or partition UUID as blkid shows it");
                return null;
            }
            string? device = _host.ResolveUuid(uuid, out string why);
            if (device == null)
            {
                unavailable = why;
                return null;
            }
            store = _host.Examine(device);
            if (store.Kind != PathKind.BlockDevice)
                unavailable = "UUID " + uuid + " led to " + device + ", which " + (store.Kind == PathKind.Missing ? "does not exist" : "is not a block device");
            return device;
        }

        /// <summary>
        /// True when <paramref name="path"/> is an exportable store now. A relative path is an error (the daemon
        /// changes directory); anything else that is wrong is the machine's state, so it only makes the device
        /// unavailable, with <paramref name="unavailable"/> saying why.
        /// </summary>
        private bool CheckPath(KeyFileEntry e, string path, out PathInfo store, out string? unavailable)
        {
            store = PathInfo.Of(PathKind.Missing);
            unavailable = null;
            if (path.Length == 0 || path[0] != '/')
            {
                Error(e, "'" + path + "' is not an absolute path: start it with /");
                return false;
            }
            store = _host.Examine(path);
            unavailable = store.Kind switch
            {
                PathKind.RegularFile or PathKind.BlockDevice => null,
                PathKind.Missing => path + " does not exist (create it or correct the path)",
                PathKind.Directory => path + " is a directory (export a regular file or a block device)",
                PathKind.Inaccessible => path + " cannot be examined (permission denied? check the path and its parent directories)",
                _ => path + " is neither a regular file nor a block device",
            };
            return unavailable == null;
        }

        /// <summary>
        /// One daemon exports a backing store once, whatever names it goes by: two devices writing one store
        /// through two queues would each answer for data the other may be overwriting. <c>shared</c> does not
        /// change this; it is about other gateways.
        /// </summary>
        private void CheckStoreUnique(KeyFileGroup g, KeyFileEntry at, string path, PathInfo store)
        {
            if (_stores.TryGetValue(store.Identity, out var first))
                Error(at, path + " is the same " + (store.Kind == PathKind.BlockDevice ? "block device" : "file") + " as [" + first.Group
                    + "] exports (line " + Num(first.Line) + "): a backing store can be exported only once; remove one of the devices");
            else
                _stores.Add(store.Identity, (g.Name, at.Line));
        }

        /// <summary>
        /// Warns when offset and length already do not fit the store (when the host knows its size cheaply);
        /// opening the device checks again, against the size it has then.
        /// </summary>
        private void CheckStoreSize(KeyFileGroup g, string path, PathInfo store, long offset, long? length)
        {
            if (store.SizeBytes < 0)
                return;
            long sectors = store.SizeBytes / 512;
            if (offset > 0 && offset >= sectors)
                Warn(g.Find(ConfigKeys.Offset)!, "sector " + Num(offset) + " is at or past the end of " + path + " (" + Num(sectors)
                    + " sectors): the device cannot be opened until the store grows");
            else if (length is long len && offset + len > sectors)
                Warn(g.Find(ConfigKeys.Length)!, "offset + length = " + Num(offset + len) + " sectors runs past the end of " + path + " ("
                    + Num(sectors) + " sectors): the device cannot be opened until the store grows");
        }

        private void CheckShared(KeyFileGroup g, DefaultsConfig defaults, bool directIo, bool? writeCache)
        {
            KeyFileEntry at = g.Find(ConfigKeys.Shared)!;
            if (!directIo)
                Error(at, "a shared device needs direct-io = true (" + Origin(g, defaults, ConfigKeys.DirectIo)
                    + " turns it off): this gateway's page cache would serve stale data after another gateway wrote");
            if (writeCache == true)
                Error(at, "a shared device needs write-cache = false (" + Origin(g, defaults, ConfigKeys.WriteCache)
                    + " turns it on): this gateway would answer writes other gateways cannot see yet");
        }

        /// <summary>"line N" of the key in the device group, else in [defaults].</summary>
        private static string Origin(KeyFileGroup g, DefaultsConfig defaults, string key)
        {
            KeyFileEntry? own = g.Find(key);
            return own != null ? "line " + Num(own.Line) : "[defaults] at line " + Num(defaults.Location.Line);
        }

        /// <summary>
        /// max-delay bounds every wait, so a longer merge-delay can never be honoured: it is clamped, as the
        /// reactor would clamp it anyway.
        /// </summary>
        private double BoundedMergeDelay(KeyFileGroup g, double maxDelay, double mergeDelay)
        {
            if (mergeDelay <= maxDelay)
                return mergeDelay;
            KeyFileEntry? at = g.Find(ConfigKeys.MergeDelay) ?? g.Find(ConfigKeys.MaxDelay);
            Warn(at?.Line ?? g.Line, at?.Key ?? "[" + g.Name + "]", "merge-delay (" + Num(mergeDelay) + " s) is longer than max-delay ("
                + Num(maxDelay) + " s), which bounds every wait: using " + Num(maxDelay) + " s; raise max-delay or lower merge-delay");
            return maxDelay;
        }

        // ---- ACLs ----

        /// <summary>Resolves an [acls] entry once; null when it has an error (already reported).</summary>
        private ResolvedList? ResolveAcl(string name)
        {
            if (_aclResolved.TryGetValue(name, out ResolvedList? done))
                return done;
            KeyFileEntry e = _aclEntries[name];
            _aclInProgress.Add(name);
            _aclStack.Add(name);
            ResolvedList? result = ResolveList(e);
            _aclStack.RemoveAt(_aclStack.Count - 1);
            _aclInProgress.Remove(name);
            _aclResolved[name] = result;
            return result;
        }

        /// <summary>
        /// The MACs <paramref name="e"/>'s tokens name (an [acls] entry, accept, deny or admin-accept); null when
        /// the list has an error (already reported). An empty list is an error (ggaoed 1.1 read it as "no
        /// list", which for accept means everyone); a token that resolves to nothing is a warning and is left out
        /// (<see cref="ResolvedList.Incomplete"/>), as 1.1 left it out.
        /// </summary>
        private ResolvedList? ResolveList(KeyFileEntry e)
        {
            var tokens = new List<string>();
            string? listErr = KeyFileValues.SplitList(e.RawValue, tokens);
            if (listErr != null)
            {
                Error(e, listErr);
                return null;
            }
            if (tokens.Count == 0)
            {
                Error(e, "is empty: list MAC addresses, names from [acls] or host names from /etc/ethers, or remove the key");
                return null;
            }
            var macs = new List<ulong>();
            bool ok = true, incomplete = false;
            foreach (string token in tokens)
            {
                if (MacText.TryParse(token, out ulong mac))
                {
                    macs.Add(mac);
                    continue;
                }
                if (_aclEntries.ContainsKey(token))
                {
                    if (_aclInProgress.Contains(token))
                    {
                        int from = _aclStack.IndexOf(token);
                        var loop = new List<string>(_aclStack.GetRange(from, _aclStack.Count - from)) { token };
                        Warn(e, "ACLs refer to each other in a loop (" + string.Join(" -> ", loop)
                            + "): that reference adds no address; remove one of the references");
                        incomplete = true;
                        continue;
                    }
                    ResolvedList? sub = ResolveAcl(token);
                    if (sub == null)
                    {
                        ok = false;   // already reported where that ACL is defined
                        continue;
                    }
                    macs.AddRange(sub.Macs);
                    incomplete |= sub.Incomplete;
                    continue;
                }
                if (!token.Contains(':') && Ethers(e).TryLookup(token, out ulong hostMac))
                {
                    macs.Add(hostMac);
                    continue;
                }
                incomplete = true;
                if (token.Contains(':'))
                {
                    Warn(e, "'" + token + "' is not a valid MAC address, so it is left out: write six hex bytes separated by colons, like 00:1b:21:0a:bc:de");
                    continue;
                }
                string where = _ethersMissing ? _ethersWhere + ", which does not exist" : _ethersWhere;
                Warn(e, "'" + token + "' is not a MAC address, an ACL defined in [acls], or a host name in " + where
                    + ", so it is left out: define it in [acls] or add it to " + _ethersWhere);
            }
            if (!ok)
                return null;
            ulong[] sorted = macs.ToArray();
            Array.Sort(sorted);
            return new ResolvedList(Distinct(sorted), incomplete);
        }

        /// <summary>admin-accept, in [defaults] or a device: an empty result is legal (nobody may) but worth a warning.</summary>
        private ulong[]? AdminAccept(KeyFileEntry e)
        {
            ResolvedList? admins = ResolveList(e);
            if (admins is { Macs.Length: 0 })
                Warn(e, "no name in admin-accept resolved to a MAC address: nobody may change the state (MAC mask, reservation, config string) of a device it applies to");
            return admins?.Macs;
        }

        /// <summary>/etc/ethers, read once when the first name needs it (<paramref name="needer"/> is
        /// the entry blamed when it cannot be read: the configuration cannot be understood without it).</summary>
        private EthersFile Ethers(KeyFileEntry needer)
        {
            if (_ethers == null)
            {
                string? text;
                try
                {
                    text = _host.ReadEthers(out _ethersWhere);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    Error(needer, "cannot read " + _ethersWhere + " to look up host names: " + ex.Message
                        + ": make it a readable file or write MAC addresses instead of names");
                    text = null;
                }
                _ethersMissing = text == null;
                _ethers = text == null ? EthersFile.Empty : EthersFile.Parse(text);
            }
            return _ethers;
        }

        // ---- typed values ----

        private string? Text(KeyFileEntry e)
        {
            string? err = KeyFileValues.Unescape(e.RawValue, inList: false, out string value);
            if (err != null)
            {
                Error(e, err);
                return null;
            }
            return value;
        }

        private string? AbsolutePath(KeyFileEntry e)
        {
            string? v = Text(e);
            if (v == null)
                return null;
            if (v.Length == 0 || v[0] != '/')
            {
                Error(e, "'" + v + "' is not an absolute path: start it with /");
                return null;
            }
            return v;
        }

        private bool? Bool(KeyFileEntry e)
        {
            string? v = Text(e);
            if (v == null)
                return null;
            string? err = KeyFileValues.ParseBool(v, out bool b);
            if (err != null)
            {
                Error(e, err);
                return null;
            }
            return b;
        }

        /// <summary>A whole number, or null with an error that ends in <paramref name="range"/>.</summary>
        private long? Whole(KeyFileEntry e, string range, out string text)
        {
            string? v = Text(e);
            text = v ?? "";
            if (v == null)
                return null;
            if (!long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n))
            {
                Error(e, "'" + text + "' is not a whole number: " + range);
                return null;
            }
            return n;
        }

        private static string Range(long min, long max, string? why)
            => "use a whole number from " + Num(min) + " to " + Num(max) + (why == null ? "" : " (" + why + ")");

        private int? Int(KeyFileEntry e, int min, int max, string? why)
        {
            string range = Range(min, max, why);
            if (Whole(e, range, out string v) is not long n)
                return null;
            if (n < min || n > max)
            {
                Error(e, v + " is out of range: " + range);
                return null;
            }
            return (int)n;
        }

        /// <summary>
        /// A number ggaoed 1.1 accepted over a wider range than we can honour: below <paramref name="hardMin"/>
        /// is an error; from there up to <paramref name="min"/>, and above <paramref name="max"/>, it is clamped
        /// with a warning that says to what and <paramref name="why"/>. <paramref name="zeroMeans"/>, when set,
        /// makes 0 a value of its own outside the range.
        /// </summary>
        private int? Clamped(KeyFileEntry e, int hardMin, int min, int max, string why, bool zeroMeans = false)
        {
            string range = Range(min, max, why);
            if (Whole(e, range, out string v) is not long n)
                return null;
            if (zeroMeans && n == 0)
                return 0;
            if (n < hardMin)
            {
                Error(e, v + " is out of range: " + range);
                return null;
            }
            if (n < min || n > max)
            {
                int used = n < min ? min : max;
                Warn(e, v + " is outside " + Num(min) + " to " + Num(max) + " (" + why + "): using " + Num(used));
                return used;
            }
            return (int)n;
        }

        private int? QueueLength(KeyFileEntry e) => Clamped(e, 1, DefaultsConfig.MinQueueLength, DefaultsConfig.MaxQueueLength,
            "Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr");

        /// <summary>0 turns the rings off; otherwise see <see cref="DefaultsConfig.MinRingBufferSizeKiB"/>.</summary>
        private int? RingSize(KeyFileEntry e) => Clamped(e, 0, DefaultsConfig.MinRingBufferSizeKiB, DefaultsConfig.MaxBufferSizeKiB,
            "KiB; 0 turns the rings off, a ring needs at least " + Num(DefaultsConfig.MinRingBufferSizeKiB), zeroMeans: true);

        private int? SocketBufferSize(KeyFileEntry e) => Clamped(e, 0, 0, DefaultsConfig.MaxBufferSizeKiB, "KiB; 0 keeps the kernel default");

        /// <summary>
        /// An MTU limit: 0 = the interface's own (ggaoed 1.1), else at least one sector's frame; above the
        /// largest MTU it limits nothing, so it is clamped to that.
        /// </summary>
        private int? Mtu(KeyFileEntry e) => Clamped(e, InterfaceConfig.MinMtu, InterfaceConfig.MinMtu, InterfaceConfig.MaxMtu,
            "or 0 for the interface's own MTU", zeroMeans: true);

        private IoEngineSetting? IoEngine(KeyFileEntry e)
        {
            string? v = Text(e);
            switch (v)
            {
                case null:
                    return null;
                case "auto":
                    return IoEngineSetting.Auto;
                case "io_uring":
                    return IoEngineSetting.IoUring;
                case "aio":
                    return IoEngineSetting.Aio;
                default:
                    Error(e, "'" + v + "' is not an I/O engine: use auto, io_uring or aio");
                    return null;
            }
        }

        private double? Delay(KeyFileEntry e)
        {
            string? v = Text(e);
            if (v == null)
                return null;
            if (!double.TryParse(v, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double d))
            {
                Error(e, "'" + v + "' is not a number of seconds: write e.g. 0.005");
                return null;
            }
            if (d > DefaultsConfig.MaxDelayLimit)
            {
                Warn(e, v + " s is longer than we hold a request (at most 1 s): using 1 s; use 0 to 1 seconds");
                return DefaultsConfig.MaxDelayLimit;
            }
            return d;
        }

        /// <summary>
        /// offset/length: 512-byte sectors as vblade's -o/-l, or bytes with a K, M, G or T suffix (powers of 1024,
        /// so always whole sectors).
        /// </summary>
        private long? Sectors(KeyFileEntry e)
        {
            string? v = Text(e);
            if (v == null)
                return null;
            const string how = "write sectors of 512 bytes (e.g. 2048), or bytes with a K, M, G or T suffix (e.g. 1M)";
            int shift = 0;
            ReadOnlySpan<char> digits = v;
            if (v.Length > 0)
            {
                shift = char.ToUpperInvariant(v[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
                if (shift > 0)
                    digits = v.AsSpan(0, v.Length - 1);
            }
            if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n))
            {
                Error(e, "'" + v + "' is not a size: " + how);
                return null;
            }
            if (shift == 0)
            {
                if (n > DeviceConfig.MaxSectors)
                {
                    Error(e, v + " sectors is past the 48-bit LBA limit of AoE (" + Num(DeviceConfig.MaxSectors) + " sectors)");
                    return null;
                }
                return n;
            }
            // n << shift bytes = n << (shift - 9) sectors, since every suffix is a multiple of 512 bytes.
            if (n > DeviceConfig.MaxSectors >> (shift - 9))
            {
                Error(e, v + " is past the 48-bit LBA limit of AoE (" + Num(DeviceConfig.MaxSectors) + " sectors of 512 bytes)");
                return null;
            }
            return n << (shift - 9);
        }

        /// <summary>
        /// Interface patterns. A pattern that cannot match a name (blanks, '/', a broken '[') is a warning, not an
        /// error: ggaoed 1.1 read it and matched nothing with it, and so do we (it is kept, so a list made only of
        /// such patterns still does not mean "every interface").
        /// </summary>
        private string[]? Patterns(KeyFileEntry e)
        {
            var list = new List<string>();
            string? err = KeyFileValues.SplitList(e.RawValue, list);
            if (err != null)
            {
                Error(e, err);
                return null;
            }
            foreach (string p in list)
            {
                if (p.IndexOfAny([' ', '\t', '/']) >= 0)
                {
                    // Typically "eth0 eth1": a forgotten comma.
                    Warn(e, "'" + p + "' cannot be an interface name (it contains a blank or '/'), so it matches no interface: separate interfaces with commas");
                    continue;
                }
                string? bad = GlobPattern.Validate(p);
                if (bad != null)
                    Warn(e, "'" + p + "' is not a valid interface pattern (" + bad + "), so it only matches an interface of exactly that name");
            }
            return list.ToArray();
        }

        /// <summary>A key the group does not take: obsolete, misplaced or unknown. ggaoed 1.1 ignored all three.</summary>
        private void OtherKey(KeyFileEntry e, string where, string[] allowed)
        {
            if (ConfigKeys.Contains(ConfigKeys.Obsolete, e.Key))
            {
                Warn(e, "obsolete ggaoed 1.1 key, ignored: remove it");
                return;
            }
            var homes = new List<string>();
            foreach ((string group, string[] keys) in new[]
                     { ("[defaults]", ConfigKeys.Defaults), ("a device group", ConfigKeys.Device), ("an interface group", ConfigKeys.Interface) })
                if (group != where && ConfigKeys.Contains(keys, e.Key))
                    homes.Add(group);
            string hint = homes.Count == 0 ? "" : " (it belongs in " + string.Join(" or ", homes) + ")";
            Warn(e, "unknown key in " + where + hint + ", ignored: use one of " + string.Join(", ", allowed));
        }

        private void Error(KeyFileEntry e, string message) => Error(e.Line, e.Key, message);

        private void Error(int line, string subject, string message) => _errors.Add(new ConfigDiagnostic(_file, line, subject, message));

        private void Warn(KeyFileEntry e, string message, bool storeUnavailable = false) => Warn(e.Line, e.Key, message, storeUnavailable);

        private void Warn(int line, string subject, string message, bool storeUnavailable = false)
            => _warnings.Add(new ConfigDiagnostic(_file, line, subject, message) { StoreUnavailable = storeUnavailable });

        private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

        private static string Num(double d) => d.ToString("0.######", CultureInfo.InvariantCulture);

        private static ulong[] Distinct(ulong[] sorted)
        {
            if (sorted.Length < 2)
                return sorted;
            int w = 1;
            for (int r = 1; r < sorted.Length; r++)
                if (sorted[r] != sorted[w - 1])
                    sorted[w++] = sorted[r];
            return w == sorted.Length ? sorted : sorted.AsSpan(0, w).ToArray();
        }
    }
}
