using Xunit;

namespace Ggaoed.Tests.Support;

/// <summary>
/// Tests that assert "no GC ran" (GC.CollectionCount is process-wide) or measure timing-sensitive
/// network behaviour: xunit runs this collection alone, after the parallel ones.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial (zero allocation, no parallel GC)";
}
