using Xunit;

namespace Ggaoed.Tests.Lifecycle;

/// <summary>
/// The lifecycle tests start real daemons, veth pairs and initiators; one at a time keeps a 2-core
/// machine responsive enough that start-up and retransmit timeouts are not what a test measures.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LifecycleCollection
{
    public const string Name = "lifecycle (real ggaoed binary)";
}
