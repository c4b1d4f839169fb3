namespace Ggaoed.Ctl;

/// <summary>The client-side tools of ggaoectl (they need no daemon).</summary>
internal static class ToolCommands
{
    public static int Discover(string[] args) => DiscoverCommand.Run(args);
    public static int Bench(string[] args) => BenchCommand.Run(args);
    public static int NullTarget(string[] args) => Ggaoed.Ctl.NullTarget.Run(args);
}
