using System;
using Ggaoed.Ctl;

// Temporary `ggaoectl` stand-in: the same entry points the lead wires into the real dispatcher.
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: ggaoectl-harness discover|bench|null-target ...");
    return 2;
}
string[] rest = args[1..];
return args[0] switch
{
    "discover" => DiscoverCommand.Run(rest),
    "bench" => BenchCommand.Run(rest),
    "null-target" => NullTarget.Run(rest),
    _ => 2,
};
