namespace Ggaoed.Daemon.Config;

/// <summary>
/// Every key the loader understands, per kind of group. ggaoed.conf.dist and ggaoed.conf(5) must document
/// all of them; a test holds them to it.
/// </summary>
public static class ConfigKeys
{
    public const string DefaultsGroup = "defaults";
    public const string AclsGroup = "acls";

    public const string QueueLength = "queue-length";
    public const string Interfaces = "interfaces";
    public const string DirectIo = "direct-io";
    public const string IoEngine = "io-engine";
    public const string TraceIo = "trace-io";
    public const string PidFile = "pid-file";
    public const string ControlSocket = "control-socket";
    public const string StateDirectory = "state-directory";
    public const string RingBufferSize = "ring-buffer-size";
    public const string SendBufferSize = "send-buffer-size";
    public const string ReceiveBufferSize = "receive-buffer-size";
    public const string MaxDelay = "max-delay";
    public const string MergeDelay = "merge-delay";
    public const string BusyPoll = "busy-poll";
    public const string Mtu = "mtu";
    public const string Path = "path";
    public const string Uuid = "uuid";
    public const string Shelf = "shelf";
    public const string Slot = "slot";
    public const string Broadcast = "broadcast";
    public const string ReadOnly = "read-only";
    public const string Accept = "accept";
    public const string Deny = "deny";
    public const string AdminAccept = "admin-accept";
    public const string WriteCache = "write-cache";
    public const string Shared = "shared";
    public const string Offset = "offset";
    public const string Length = "length";

    /// <summary>A buffer count per interface from before ggaoed 1.1, where it already only warned.</summary>
    public const string Buffers = "buffers";
    /// <summary>ggaoed 1.1's switch to work around a kernel packet TX ring bug; nothing here reads it.</summary>
    public const string TxRingBug = "tx-ring-bug";

    public static readonly string[] Defaults =
    [
        QueueLength, Interfaces, DirectIo, TraceIo, PidFile, ControlSocket, StateDirectory,
        RingBufferSize, SendBufferSize, ReceiveBufferSize, MaxDelay, MergeDelay, BusyPoll, Mtu,
        AdminAccept, WriteCache, IoEngine,
    ];

    public static readonly string[] Interface = [Mtu, RingBufferSize, SendBufferSize, ReceiveBufferSize];

    public static readonly string[] Device =
    [
        Path, Uuid, Shelf, Slot, DirectIo, QueueLength, Interfaces, TraceIo, MaxDelay, MergeDelay,
        Broadcast, ReadOnly, Accept, Deny, AdminAccept, WriteCache, Shared, Offset, Length, IoEngine,
    ];

    /// <summary>
    /// Keys ggaoed 1.1 knew that mean nothing any more: accepted anywhere with a warning (error under
    /// --strict), so a 1.1 file loads unchanged.
    /// </summary>
    public static readonly string[] Obsolete = [Buffers, TxRingBug];

    internal static bool Contains(string[] keys, string key)
    {
        foreach (string k in keys)
            if (k == key)
                return true;
        return false;
    }
}
