using Xunit;

namespace Ggaoed.Tests.Initiator;

public class GgaoedTestConfigTests
{
    [Fact]
    public void Render_ExportsEveryDiskOnTheTapOnly_AndKeepsDaemonFilesInTheWorkDirectory()
    {
        string text = GgaoedTestConfig.Render("ggvm1x1",
        [
            new AoeExport("rw", "/w/rw.img", 1, 1),
            new AoeExport("ro", "/w/ro.img", 1, 2) { ReadOnly = true },
            new AoeExport("hidden", "/w/h.img", 1, 3) { DeniedMac = "52:54:00:6a:0e:01" },
        ], "/w");

        Assert.Equal(
            "# Written by Ggaoed.Tests.Initiator for one VM test.\n" +
            "[defaults]\n" +
            "interfaces = ggvm1x1\n" +
            "pid-file = /w/ggaoed.pid\n" +
            "control-socket = /w/ggaoed.sock\n" +
            "state-directory = /w/state\n" +
            "\n[rw]\npath = /w/rw.img\nshelf = 1\nslot = 1\n" +
            "\n[ro]\npath = /w/ro.img\nshelf = 1\nslot = 2\nread-only = true\n" +
            "\n[hidden]\npath = /w/h.img\nshelf = 1\nslot = 3\ndeny = 52:54:00:6a:0e:01\n",
            text);
    }

    [Fact]
    public void DeviceName_IsTheInitiatorsEShelfDotSlot() =>
        Assert.Equal("e12.200", new AoeExport("d", "/f", 12, 200).DeviceName);
}
