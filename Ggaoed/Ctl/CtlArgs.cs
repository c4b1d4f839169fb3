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
}
