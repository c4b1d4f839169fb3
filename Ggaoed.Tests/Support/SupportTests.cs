using System.IO;
using Xunit;

namespace Ggaoed.Tests.Support;

public class SupportTests
{
    [Fact]
    public void RepoRoot_HoldsTheSolution() => Assert.True(File.Exists(Path.Combine(TestEnvironment.RepoRoot, "ggaoed.slnx")));
}
