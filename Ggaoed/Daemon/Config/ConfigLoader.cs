using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace Ggaoed.Daemon.Config;

/// <summary>
/// The outcome of loading a configuration: either a complete <see cref="Config"/> or, when anything at all is
/// wrong, no configuration and every problem found. Warnings never block.
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
/// a problem so the admin sees all of them at once, and returns a configuration only when there were none.
/// </summary>
/// <remarks>
/// How groups are told apart: <c>[defaults]</c> and <c>[acls]</c> are reserved; a group with a <c>path</c> or
/// <c>uuid</c> key is a device named after the group; every other group is an interface group named after
/// an interface (or a pattern of interface names). A group that has device keys such as shelf but neither
/// path nor uuid is reported as a device that is missing its path, not as a strange interface.
/// </remarks>
public static class ConfigLoader
{
    public const string DefaultPath = "/etc/ggaoed.conf";
    /// <summary>Exit status of the daemon (and of <c>ggaoed -t</c>) for an unusable configuration.</summary>
    public const int ExitStatusInvalid = 2;
    /// <summary>Linux interface names are at most IFNAMSIZ - 1 = 15 bytes.</summary>
    private const int MaxInterfaceName = 15;

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

    /// <summary>One load: the accumulated diagnostics and the lazily read /etc/ethers.</summary>
    private sealed class Run
    {
        private readonly string _file;
        private readonly IConfigHost _host;
        private readonly List<ConfigDiagnostic> _errors = new();
        private readonly List<ConfigDiagnostic> _warnings = new();
        private readonly Dictionary<string, KeyFileEntry> _aclEntries = new(StringComparer.Ordinal);
        private readonly Dictionary<string, ulong[]?> _aclResolved = new(StringComparer.Ordinal);
        private readonly HashSet<string> _aclInProgress = new(StringComparer.Ordinal);
        private readonly List<string> _aclStack = new();
        private EthersFile? _ethers;
        private string _ethersWhere = EthersFile.DefaultPath;
        private bool _ethersMissing;
        private bool _defaultInterfacesBroken;

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
                    defaults = ParseDefaults(g);
            errors = SortedByLine();
            return _errors.Count == 0 ? defaults : null;
        }

        public ConfigLoadResult Execute(KeyFileDocument doc)
        {
            _errors.AddRange(doc.Errors);

            KeyFileGroup? defaultsGroup = null, aclsGroup = null;
            foreach (KeyFileGroup g in doc.Groups)
            {
                if (g.Name == ConfigKeys.DefaultsGroup)
                    defaultsGroup = g;
                else if (g.Name == ConfigKeys.AclsGroup)
                    aclsGroup = g;
            }

            DefaultsConfig defaults = defaultsGroup == null ? new DefaultsConfig() : ParseDefaults(defaultsGroup);

            if (aclsGroup != null)
            {
                foreach (KeyFileEntry e in aclsGroup.Entries)
                    _aclEntries[e.Key] = e;
                foreach (KeyFileEntry e in aclsGroup.Entries)
                    ResolveAcl(e.Key);
            }

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

            if (_errors.Count > 0)
                return new ConfigLoadResult(null, SortedByLine(), _warnings);
            var acls = new Dictionary<string, ulong[]>(StringComparer.Ordinal);
            foreach (var kv in _aclResolved)
                acls[kv.Key] = kv.Value!;
            var config = new GgaoedConfig
            {
                FileName = _file,
                Defaults = defaults,
                InterfaceGroups = interfaces,
                Devices = devices,
                Acls = acls,
            };
            return new ConfigLoadResult(config, _errors, _warnings);
        }

        /// <summary>
        /// Problems in file order (stable for the same line), which is how an admin works through them; syntax
        /// errors are found in an earlier pass and would otherwise all come first.
        /// </summary>
        private List<ConfigDiagnostic> SortedByLine()
        {
            var keyed = new (int Line, int Index, ConfigDiagnostic D)[_errors.Count];
            for (int i = 0; i < keyed.Length; i++)
                keyed[i] = (_errors[i].Line, i, _errors[i]);
            Array.Sort(keyed, static (a, b) => a.Line != b.Line ? a.Line.CompareTo(b.Line) : a.Index.CompareTo(b.Index));
            var sorted = new List<ConfigDiagnostic>(keyed.Length);
            foreach (var k in keyed)
                sorted.Add(k.D);
            return sorted;
        }

        // ---- [defaults] ----

        private DefaultsConfig ParseDefaults(KeyFileGroup g)
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
                        else _defaultInterfacesBroken = true;
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
                    case ConfigKeys.IoEngine:
                        if (IoEngine(e) is IoEngineSetting ie) d = d with { IoEngine = ie };
                        break;
                    default:
                        UnknownKey(e, "[defaults]", ConfigKeys.Defaults);
                        break;
                }
            }
            CheckDelays(g, d.MaxDelay, d.MergeDelay);
            return d;
        }

        // ---- interface groups ----

        private InterfaceConfig? ParseInterface(KeyFileGroup g)
        {
            string? reserved = ReservedLookalike(g.Name);
            if (reserved != null)
            {
                Error(g.Line, "[" + g.Name + "]", "unknown group: did you mean [" + reserved + "]? Group names are case-sensitive");
                return null;
            }
            foreach (KeyFileEntry e in g.Entries)
            {
                if (ConfigKeys.Contains(ConfigKeys.Device, e.Key) && !ConfigKeys.Contains(ConfigKeys.Interface, e.Key))
                {
                    Error(g.Line, "[" + g.Name + "]", "has device keys (" + e.Key + " at line " + Num(e.Line)
                        + ") but neither path nor uuid: add path or uuid to export a device");
                    return null;
                }
            }
            int errorsBefore = _errors.Count;
            string? nameProblem = InterfaceNameProblem(g.Name);
            if (nameProblem != null)
                Error(g.Line, "[" + g.Name + "]", nameProblem);
            var i = new InterfaceConfig { Name = g.Name, Location = new SourceLocation(_file, g.Line) };
            foreach (KeyFileEntry e in g.Entries)
            {
                switch (e.Key)
                {
                    case ConfigKeys.Mtu:
                        if (Int(e, InterfaceConfig.MinMtu, InterfaceConfig.MaxMtu, null) is int mtu) i = i with { Mtu = mtu };
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
                        UnknownKey(e, "an interface group", ConfigKeys.Interface);
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
                return "is longer than an interface name can be (15 bytes), and without path or uuid it is not a device either: add path or uuid";
            string? bad = GlobPattern.Validate(name);
            return bad == null ? null : "is not a valid interface pattern: " + bad;
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
            string? path = null, uuid = null;
            shelf = null;
            slot = null;
            bool directIo = defaults.DirectIo, traceIo = defaults.TraceIo, broadcast = false, readOnly = false;
            IoEngineSetting ioEngine = defaults.IoEngine;
            int queueLength = defaults.QueueLength;
            string[] patterns = defaults.Interfaces;
            double maxDelay = defaults.MaxDelay, mergeDelay = defaults.MergeDelay;
            bool ownDelays = false, interfacesBroken = false;
            ulong[] accept = [], deny = [];
            string? resolved = null;

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
                        if (path != null && uuidEntry == null)
                            resolved = CheckPath(e, path);
                        break;
                    case ConfigKeys.Uuid:
                        uuid = Text(e);
                        if (uuid != null && pathEntry == null)
                            resolved = ResolveUuid(e, uuid);
                        break;
                    case ConfigKeys.Shelf:
                        shelf = Int(e, 0, 0xFFFF, null);
                        if (shelf == 0xFFFF)
                        {
                            Error(e, "65535 (0xffff) is the broadcast shelf: use 0 to 65534");
                            shelf = null;
                        }
                        else if (shelf == 0x0FFF)
                            _warnings.Add(new ConfigDiagnostic(_file, e.Line, e.Key,
                                "the Linux aoe driver never discovers shelf 4095 (0x0fff), taking it for unset dip switches: pick another shelf if Linux initiators must see this device"));
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
                        if (Patterns(e) is string[] p) patterns = p;
                        else interfacesBroken = true;
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
                        accept = AclTokens(e);
                        break;
                    case ConfigKeys.Deny:
                        deny = AclTokens(e);
                        break;
                    case ConfigKeys.IoEngine:
                        if (IoEngine(e) is IoEngineSetting ie) ioEngine = ie;
                        break;
                    default:
                        UnknownKey(e, "a device group", ConfigKeys.Device);
                        break;
                }
            }

            if (g.Find(ConfigKeys.Shelf) == null)
                Error(g.Line, subject, "has no shelf: give every device a shelf (0 to 65534) and a slot (0 to 254)");
            if (g.Find(ConfigKeys.Slot) == null)
                Error(g.Line, subject, "has no slot: give every device a shelf (0 to 65534) and a slot (0 to 254)");
            // A broken interfaces list has been reported already; "exported nowhere" would only repeat it.
            if (patterns.Length == 0 && !interfacesBroken && (g.Find(ConfigKeys.Interfaces) != null || !_defaultInterfacesBroken))
                Error(g.Line, subject, "is not exported on any interface: set interfaces here or in [defaults]");
            if (ownDelays)
                CheckDelays(g, maxDelay, mergeDelay);

            if (_errors.Count != errorsBefore || resolved == null || shelf == null || slot == null)
                return null;
            Array.Sort(accept);
            Array.Sort(deny);
            return new DeviceConfig
            {
                Name = g.Name,
                Path = resolved,
                Uuid = uuid,
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
                Accept = Distinct(accept),
                Deny = Distinct(deny),
                IoEngine = ioEngine,
                Location = new SourceLocation(_file, g.Line),
            };
        }

        /// <summary>
        /// Device names become ggaoectl arguments and state file names, so they are kept to a safe alphabet.
        /// </summary>
        private static string? DeviceNameProblem(string name)
        {
            if (name.Length > 64)
                return "device name is longer than 64 characters: shorten it";
            if (name[0] == '.' || name[0] == '-')
                return "device name must not start with '.' or '-': rename the group";
            foreach (char c in name)
                if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '+' or ':' or '@'))
                    return "device name may only use letters, digits and . _ - + : @ (it names the state file and ggaoectl arguments): rename the group";
            return null;
        }

        private string? ResolveUuid(KeyFileEntry e, string uuid)
        {
            if (uuid.Length == 0)
            {
                Error(e, "is empty: give the filesystem, swap, LUKS or partition UUID as blkid shows it");
                return null;
            }
            string? device = _host.ResolveUuid(uuid, out string why);
            if (device == null)
                Error(e, why);
            return device;
        }

        private string? CheckPath(KeyFileEntry e, string path)
        {
            if (path.Length == 0 || path[0] != '/')
            {
                Error(e, "'" + path + "' is not an absolute path: start it with /");
                return null;
            }
            switch (_host.GetPathKind(path))
            {
                case PathKind.RegularFile:
                case PathKind.BlockDevice:
                    return path;
                case PathKind.Missing:
                    Error(e, path + " does not exist: create it or correct the path");
                    return null;
                case PathKind.Directory:
                    Error(e, path + " is a directory: export a regular file or a block device");
                    return null;
                case PathKind.Inaccessible:
                    Error(e, path + " cannot be examined (permission denied?): check the path and its parent directories");
                    return null;
                default:
                    Error(e, path + " is neither a regular file nor a block device: export a regular file or a block device");
                    return null;
            }
        }

        private void CheckDelays(KeyFileGroup g, double maxDelay, double mergeDelay)
        {
            if (mergeDelay > maxDelay)
            {
                KeyFileEntry? at = g.Find(ConfigKeys.MergeDelay) ?? g.Find(ConfigKeys.MaxDelay);
                Error(at?.Line ?? g.Line, at?.Key ?? "[" + g.Name + "]", "merge-delay (" + Num(mergeDelay) + " s) is longer than max-delay ("
                    + Num(maxDelay) + " s): raise max-delay or lower merge-delay");
            }
        }

        // ---- ACLs ----

        /// <summary>Resolves an [acls] entry once; null when it could not be resolved (already reported).</summary>
        private ulong[]? ResolveAcl(string name)
        {
            if (_aclResolved.TryGetValue(name, out ulong[]? done))
                return done;
            KeyFileEntry e = _aclEntries[name];
            _aclInProgress.Add(name);
            _aclStack.Add(name);
            var macs = new List<ulong>();
            bool ok = ResolveTokens(e, macs);
            _aclStack.RemoveAt(_aclStack.Count - 1);
            _aclInProgress.Remove(name);
            ulong[]? result = null;
            if (ok)
            {
                result = macs.ToArray();
                Array.Sort(result);
                result = Distinct(result);
            }
            _aclResolved[name] = result;
            return result;
        }

        private ulong[] AclTokens(KeyFileEntry e)
        {
            var macs = new List<ulong>();
            ResolveTokens(e, macs);
            return macs.ToArray();
        }

        /// <summary>Adds the MACs named by <paramref name="e"/>'s tokens; false if any token failed.</summary>
        private bool ResolveTokens(KeyFileEntry e, List<ulong> into)
        {
            var tokens = new List<string>();
            string? listErr = KeyFileValues.SplitList(e.RawValue, tokens);
            if (listErr != null)
            {
                Error(e, listErr);
                return false;
            }
            bool ok = true;
            foreach (string token in tokens)
            {
                if (MacText.TryParse(token, out ulong mac))
                {
                    into.Add(mac);
                    continue;
                }
                if (_aclEntries.ContainsKey(token))
                {
                    if (_aclInProgress.Contains(token))
                    {
                        int from = _aclStack.IndexOf(token);
                        var loop = new List<string>(_aclStack.GetRange(from, _aclStack.Count - from)) { token };
                        Error(e, "ACLs refer to each other in a loop (" + string.Join(" -> ", loop) + "): remove one of the references");
                        ok = false;
                        continue;
                    }
                    ulong[]? sub = ResolveAcl(token);
                    if (sub == null)
                    {
                        ok = false;   // already reported where that ACL is defined
                        continue;
                    }
                    into.AddRange(sub);
                    continue;
                }
                if (token.Contains(':'))
                {
                    Error(e, "'" + token + "' is not a valid MAC address: write six hex bytes separated by colons, like 00:1b:21:0a:bc:de");
                    ok = false;
                    continue;
                }
                EthersFile ethers = Ethers();
                if (ethers.TryLookup(token, out ulong hostMac))
                {
                    into.Add(hostMac);
                    continue;
                }
                string where = _ethersMissing ? _ethersWhere + ", which does not exist" : _ethersWhere;
                Error(e, "'" + token + "' is not a MAC address, an ACL defined in [acls], or a host name in " + where
                    + ": define it in [acls] or add it to " + _ethersWhere);
                ok = false;
            }
            return ok;
        }

        private EthersFile Ethers()
        {
            if (_ethers == null)
            {
                string? text = _host.ReadEthers(out _ethersWhere);
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

        private int? Int(KeyFileEntry e, int min, int max, string? why)
        {
            string? v = Text(e);
            if (v == null)
                return null;
            string range = "use a whole number from " + Num(min) + " to " + Num(max) + (why == null ? "" : " (" + why + ")");
            if (!long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n))
            {
                Error(e, "'" + v + "' is not a whole number: " + range);
                return null;
            }
            if (n < min || n > max)
            {
                Error(e, v + " is out of range: " + range);
                return null;
            }
            return (int)n;
        }

        private int? QueueLength(KeyFileEntry e) => Int(e, DefaultsConfig.MinQueueLength, DefaultsConfig.MaxQueueLength,
            "Linux needs at least 2; each device reserves about twice this much of fs.aio-max-nr");

        private int? RingSize(KeyFileEntry e)
        {
            int? v = Int(e, 0, DefaultsConfig.MaxBufferSizeKiB, "KiB; 0 turns the rings off");
            if (v is > 0 and < 128)
            {
                Error(e, Num(v.Value) + " KiB is too small for a packet ring: use 0 (no ring) or at least 128");
                return null;
            }
            return v;
        }

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

        private int? SocketBufferSize(KeyFileEntry e) => Int(e, 0, DefaultsConfig.MaxBufferSizeKiB, "KiB; 0 keeps the kernel default");

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
                Error(e, v + " is out of range: use 0 to 1 seconds");
                return null;
            }
            return d;
        }

        private string[]? Patterns(KeyFileEntry e)
        {
            var list = new List<string>();
            string? err = KeyFileValues.SplitList(e.RawValue, list);
            if (err != null)
            {
                Error(e, err);
                return null;
            }
            bool ok = true;
            foreach (string p in list)
            {
                if (p.IndexOfAny([' ', '\t', '/']) >= 0)
                {
                    // Typically "eth0 eth1": a forgotten comma would otherwise match nothing, silently.
                    Error(e, "'" + p + "' cannot be an interface name (it contains a blank or '/'): separate interfaces with commas");
                    ok = false;
                    continue;
                }
                string? bad = GlobPattern.Validate(p);
                if (bad != null)
                {
                    Error(e, "'" + p + "' is not a valid interface pattern: " + bad);
                    ok = false;
                }
            }
            return ok ? list.ToArray() : null;
        }

        private void UnknownKey(KeyFileEntry e, string where, string[] allowed)
        {
            string hint = "";
            if (where != "[defaults]" && ConfigKeys.Contains(ConfigKeys.Defaults, e.Key) && !ConfigKeys.Contains(allowed, e.Key))
                hint = " (it belongs in [defaults])";
            else if (where == "a device group" && ConfigKeys.Contains(ConfigKeys.Interface, e.Key))
                hint = " (it belongs in an interface group)";
            Error(e, "unknown key in " + where + hint + ": use one of " + string.Join(", ", allowed));
        }

        private void Error(KeyFileEntry e, string message) => Error(e.Line, e.Key, message);

        private void Error(int line, string subject, string message) => _errors.Add(new ConfigDiagnostic(_file, line, subject, message));

        private static string Num(int n) => n.ToString(CultureInfo.InvariantCulture);

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
