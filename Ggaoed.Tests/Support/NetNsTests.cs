using Xunit;

namespace Ggaoed.Tests.Support;

public class NetNsTests
{
    [RootFact]
    public void VethPair_IsUpInBothNamespaces_AndGoneAfterDispose()
    {
        string ns;
        using (var pair = new VethPair("sup", mtu: 9000))
        {
            ns = pair.TargetNs;
            string link = Sh.Run($"ip -n {pair.TargetNs} link show {pair.TargetIf}");
            Assert.Contains("mtu 9000", link);
            Assert.Contains("UP", link);
            int index = InNetNs.Run(pair.InitiatorNs, () => (int)Ggaoed.Native.Libc.if_nametoindex(pair.InitiatorIf));
            Assert.True(index > 0);
        }
        Assert.DoesNotContain(ns, Sh.Run("ip netns list"));
    }
}
