using System.Collections.Generic;
using Ggaoed.Daemon.Config;
using Xunit;

namespace Ggaoed.Tests.Config;

public class KeyFileParserTests
{
    [Fact]
    public void GroupsKeysAndLines_AreRecorded_CommentsAndBlankLinesSkipped()
    {
        string text = "# top comment\n\n[defaults]\n  queue-length = 32  \n\t# indented comment\n[disk0]\npath=/srv/a\r\nshelf =1\n";
        KeyFileDocument doc = KeyFileParser.Parse(text, "t.conf");
        Assert.Empty(doc.Errors);
        Assert.Equal(2, doc.Groups.Count);
        Assert.Equal("defaults", doc.Groups[0].Name);
        Assert.Equal(3, doc.Groups[0].Line);
        Assert.Equal(new KeyFileEntry("queue-length", "32", 4), doc.Groups[0].Entries[0]);
        Assert.Equal("disk0", doc.Groups[1].Name);
        Assert.Equal(6, doc.Groups[1].Line);
        Assert.Equal(new KeyFileEntry("path", "/srv/a", 7), doc.Groups[1].Entries[0]);
        Assert.Equal(new KeyFileEntry("shelf", "1", 8), doc.Groups[1].Entries[1]);
    }

    [Fact]
    public void ValueKeepsEverythingAfterTheFirstEqualsSign()
    {
        KeyFileDocument doc = KeyFileParser.Parse("[g]\nk = a=b = c\n", "t");
        Assert.Equal("a=b = c", doc.Groups[0].Entries[0].RawValue);
    }

    [Fact]
    public void HashInsideAValue_IsNotAComment()
    {
        // GKeyFile only knows whole-line comments.
        KeyFileDocument doc = KeyFileParser.Parse("[g]\nk = a # b\n", "t");
        Assert.Equal("a # b", doc.Groups[0].Entries[0].RawValue);
    }

    [Fact]
    public void SyntaxErrors_AreReportedWithFileAndLine()
    {
        string text = "key = 1\n[ok]\nno equals sign\n[broken\n[x] trailing\n[]\n= 5\n";
        KeyFileDocument doc = KeyFileParser.Parse(text, "t.conf");
        var msgs = new List<string>();
        foreach (var d in doc.Errors)
            msgs.Add(d.ToString());
        Assert.Equal(new[]
        {
            "t.conf:1: key: key is outside any group: put it under [defaults] or under a device group",
            "t.conf:3: syntax error: expected [group], key = value, or a # comment",
            "t.conf:4: syntax error: a group header must look like [name] and stand alone on its line",
            "t.conf:5: syntax error: a group header must look like [name] and stand alone on its line",
            "t.conf:6: syntax error: a group name must not be empty or contain '['",
            "t.conf:7: syntax error: missing key name before '='",
        }, msgs);
    }

    [Fact]
    public void DuplicateKey_TheLastWins_AndDuplicateGroup_IsMerged_AsInGLib_ButEachWarns()
    {
        KeyFileDocument doc = KeyFileParser.Parse("[a]\nk = 1\nk = 2\nj = 5\n[b]\n[a]\nk = 3\ni = 4\n", "t.conf");
        Assert.Empty(doc.Errors);
        Assert.Equal(new[]
        {
            "t.conf:3: k: key is already set at line 2 in [a]; this later value wins (as in ggaoed 1.1): keep only one",
            "t.conf:6: [a]: group is already defined at line 1; its keys are merged into that group (as ggaoed 1.1 did): merge the two groups into one",
            "t.conf:7: k: key is already set at line 3 in [a]; this later value wins (as in ggaoed 1.1): keep only one",
        }, doc.Warnings.ConvertAll(e => e.ToString()));
        Assert.Equal(new[] { "a", "b" }, doc.Groups.ConvertAll(g => g.Name));
        KeyFileGroup a = doc.Groups[0];
        Assert.Equal(new KeyFileEntry("k", "3", 7), a.Find("k"));
        Assert.Equal(new KeyFileEntry("j", "5", 4), a.Find("j"));
        Assert.Equal(new KeyFileEntry("i", "4", 8), a.Find("i"));
        Assert.Equal(3, a.Entries.Count);
    }

    [Fact]
    public void ByteOrderMarkAndMissingFinalNewline_AreAccepted()
    {
        KeyFileDocument doc = KeyFileParser.Parse("\uFEFF[g]\nk = v", "t");
        Assert.Empty(doc.Errors);
        Assert.Equal("v", doc.Groups[0].Entries[0].RawValue);
    }
}
