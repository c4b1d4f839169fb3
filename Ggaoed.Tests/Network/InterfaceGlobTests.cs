using Ggaoed.Network;
using Xunit;

namespace Ggaoed.Tests.Network;

public class InterfaceGlobTests
{
    [Theory]
    [InlineData("eth*", "eth0", true)]
    [InlineData("eth*", "eth", true)]
    [InlineData("eth*", "veth0", false)]
    [InlineData("*eth*", "veth0", true)]
    [InlineData("vif*", "vif3.0", true)]
    [InlineData("vif*.0", "vif3.0", true)]
    [InlineData("vif*.0", "vif3.1", false)]
    [InlineData("br?", "br0", true)]
    [InlineData("br?", "br10", false)]
    [InlineData("br?", "br", false)]
    [InlineData("eth[0-3]", "eth2", true)]
    [InlineData("eth[0-3]", "eth4", false)]
    [InlineData("eth[!0-3]", "eth4", true)]
    [InlineData("eth[!0-3]", "eth1", false)]
    [InlineData("tap[ab]*", "tapb7", true)]
    [InlineData("eth[0", "eth[0", true)] // an unclosed bracket is literal
    [InlineData("eth0", "eth0", true)]
    [InlineData("eth0", "eth01", false)]
    [InlineData("*", "anything", true)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("**", "", true)]
    public void Matches_LikeAShellGlob(string pattern, string name, bool expected) =>
        Assert.Equal(expected, InterfaceGlob.IsMatch(pattern, name));

    [Theory]
    [InlineData("eth0", false)]
    [InlineData("eth*", true)]
    [InlineData("br?", true)]
    [InlineData("eth[01]", true)]
    public void HasWildcards_TellsPatternsFromNames(string pattern, bool expected) =>
        Assert.Equal(expected, InterfaceGlob.HasWildcards(pattern));
}
