namespace Ggaoed.Storage;

/// <summary>
/// AoE's sector: every LBA and sector count, on the wire (AoEr11 section 3.1) and in the store, counts
/// these. The one place the number is written; the protocol engine, the storage engines and the
/// daemon all use it. (The initiator's own codec, <c>Ggaoed.Initiator.AoeWire</c>, keeps its own copy
/// on purpose: it is the independent implementation the tests check the target against.)
/// </summary>
public static class Sector
{
    public const int Size = 512;
}
