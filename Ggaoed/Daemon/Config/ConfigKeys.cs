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

    public static readonly string[] Defaults =
    [
        QueueLength, Interfaces, DirectIo, TraceIo, PidFile, ControlSocket, StateDirectory,
        RingBufferSize, SendBufferSize, ReceiveBufferSize, MaxDelay, MergeDelay, BusyPoll,
        IoEngine,
    ];

    public static readonly string[] Interface = [Mtu, RingBufferSize, SendBufferSize, ReceiveBufferSize];

    public static readonly string[] Device =
    [
        Path, Uuid, Shelf, Slot, DirectIo, QueueLength, Interfaces, TraceIo, MaxDelay, MergeDelay,
        Broadcast, ReadOnly, Accept, Deny,
        IoEngine,
    ];

    internal static bool Contains(string[] keys, string key)
    {
        foreach (string k in keys)
            if (k == key)
                return true;
        return false;
    }
}
