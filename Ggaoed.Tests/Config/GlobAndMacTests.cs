using Ggaoed.Daemon.Config;
using Xunit;

namespace Ggaoed.Tests.Config;

public class GlobAndMacTests
{
    [Theory]
    [InlineData("eth*", "eth0", true)]
    [InlineData("eth*", "eth", true)]
    [InlineData("eth*", "veth0", false)]
    [InlineData("vif*", "vif12.0", true)]
    [InlineData("eth?", "eth1", true)]
    [InlineData("eth?", "eth10", false)]
    [InlineData("eth[0-3]", "eth2", true)]
    [InlineData("eth[0-3]", "eth4", false)]
    [InlineData("eth[!0-3]", "eth4", true)]
    [InlineData("eth[^0-3]", "eth1", false)]
    [InlineData("bond[02]", "bond2", true)]
    [InlineData("*.100", "eth0.100", true)]
    [InlineData("*0*1", "x0y0z1", true)]
    [InlineData("*", "anything", true)]
    [InlineData(@"a\*", "a*", true)]
    [InlineData(@"a\*", "ab", false)]
    [InlineData("[]x]", "]", true)]
    [InlineData("eth0", "eth0", true)]
    [InlineData("eth0", "eth01", false)]
    public void Glob_MatchesLikeFnmatch(string pattern, string name, bool expected) =>
        Assert.Equal(expected, GlobPattern.IsMatch(pattern, name));

    [Fact]
    public void Glob_Validate_FlagsUnclosedClass()
    {
        Assert.Null(GlobPattern.Validate("eth[0-9]*"));
        Assert.Equal("'[' without a matching ']'", GlobPattern.Validate("eth[0"));
    }

    [Theory]
    [InlineData("00:1b:21:aa:bb:cc", 0x001B21AABBCCUL)]
    [InlineData("0:1B:21:a:b:c", 0x001B210A0B0CUL)]
    [InlineData("ff:ff:ff:ff:ff:ff", 0xFFFFFFFFFFFFUL)]
    public void Mac_ParsesColonForm(string text, ulong expected)
    {
        Assert.True(MacText.TryParse(text, out ulong mac));
        Assert.Equal(expected, mac);
    }

    [Theory]
    [InlineData("00:1b:21:aa:bb")]
    [InlineData("00:1b:21:aa:bb:cc:dd")]
    [InlineData("001:1b:21:aa:bb:cc")]
    [InlineData("00-1b-21-aa-bb-cc")]
    [InlineData("zz:1b:21:aa:bb:cc")]
    [InlineData("00:1b:21:aa:bb:")]
    [InlineData("")]
    public void Mac_RejectsMalformed(string text) => Assert.False(MacText.TryParse(text, out _));

    [Fact]
    public void Mac_FormatsLowerCaseTwoDigits() => Assert.Equal("00:1b:21:0a:0b:0c", MacText.Format(0x001B210A0B0CUL));

    [Fact]
    public void Ethers_ParsesPairs_SkipsCommentsAndJunk_FirstWins()
    {
        string text = "# comment\n00:1b:21:aa:bb:cc  alpha\n0:1:2:3:4:5\tbeta # trailing\nnot-a-mac gamma\nlonely\n"
            + "11:22:33:44:55:66 alpha\n\n";
        EthersFile e = EthersFile.Parse(text);
        Assert.Equal(2, e.Count);
        Assert.True(e.TryLookup("alpha", out ulong a));
        Assert.Equal(0x001B21AABBCCUL, a);
        Assert.True(e.TryLookup("beta", out ulong b));
        Assert.Equal(0x000102030405UL, b);
        Assert.False(e.TryLookup("gamma", out _));
    }
}
