using System;

namespace Ggaoed.Ctl;

/// <summary>Tiny helpers for the ctl subcommands' hand-written argument parsing.</summary>
internal static class CtlArgs
{
    /// <summary>The value after option <c>args[i]</c>; advances <paramref name="i"/>.</summary>
    public static string Value(string[] args, ref int i)
    {
        if (i + 1 >= args.Length)
            throw new FormatException(args[i] + " needs a value");
        return args[++i];
    }

    /// <summary>
    /// The one positional argument of the network tools (the interface): anything else that is not an
    /// option, or a second positional, is a usage error.
    /// </summary>
    public static void Interface(string arg, ref string? iface)
    {
        if (arg.StartsWith('-') || iface != null)
            throw new FormatException("unexpected argument " + arg);
        iface = arg;
    }
}
