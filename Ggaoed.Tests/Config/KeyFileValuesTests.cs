using System.Collections.Generic;
using Ggaoed.Daemon.Config;
using Xunit;

namespace Ggaoed.Tests.Config;

public class KeyFileValuesTests
{
    [Theory]
    [InlineData(@"plain", "plain")]
    [InlineData(@"\sleading", " leading")]
    [InlineData(@"a\tb\nc\rd", "a\tb\nc\rd")]
    [InlineData(@"back\\slash", @"back\slash")]
    public void Unescape_HandlesGKeyFileEscapes(string raw, string expected)
    {
        Assert.Null(KeyFileValues.Unescape(raw, false, out string v));
        Assert.Equal(expected, v);
    }

    [Fact]
    public void Unescape_RejectsUnknownEscapesAndTrailingBackslash()
    {
        Assert.Equal(@"unknown escape \q: only \s \n \t \r \\ (and \, \; in lists) are allowed", KeyFileValues.Unescape(@"a\q", false, out _));
        Assert.Equal(@"value ends with a lone backslash: write \\ for a backslash", KeyFileValues.Unescape(@"a\", false, out _));
        Assert.NotNull(KeyFileValues.Unescape(@"a\,b", false, out _));
    }

    [Theory]
    [InlineData("eth0, eth1", new[] { "eth0", "eth1" })]
    [InlineData("eth0;eth1;", new[] { "eth0", "eth1" })]
    [InlineData(" vif* ,, eth[0-3] ; ", new[] { "vif*", "eth[0-3]" })]
    [InlineData(@"a\,b, c", new[] { "a,b", "c" })]
    [InlineData("", new string[0])]
    public void SplitList_AcceptsCommaAndSemicolon_TrimsAndDropsEmpties(string raw, string[] expected)
    {
        var list = new List<string>();
        Assert.Null(KeyFileValues.SplitList(raw, list));
        Assert.Equal(expected, list);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("1", true)]
    [InlineData("false", false)]
    [InlineData("0", false)]
    public void ParseBool_AcceptsGKeyFileForms(string text, bool expected)
    {
        Assert.Null(KeyFileValues.ParseBool(text, out bool b));
        Assert.Equal(expected, b);
    }

    [Fact]
    public void ParseBool_RejectsOtherWords() =>
        Assert.Equal("'yes' is not a boolean: use true or false", KeyFileValues.ParseBool("yes", out _));
}
