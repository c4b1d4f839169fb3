using System;
using System.IO;
using Xunit;

namespace Ggaoed.Tests.Support;

/// <summary>
/// A fact that needs root (network namespaces, veth pairs, loop devices, raw packet sockets).
/// CI runs as root, so these run there; a non-root developer sees why they were skipped.
/// </summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (!TestEnvironment.IsRoot)
            Skip = "needs root (network namespaces / raw sockets / loop devices); CI runs as root";
    }
}

/// <summary>A theory that needs root; see <see cref="RootFactAttribute"/>.</summary>
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (!TestEnvironment.IsRoot)
            Skip = "needs root (network namespaces / raw sockets / loop devices); CI runs as root";
    }
}

public static class TestEnvironment
{
    public static bool IsRoot => Environment.UserName == "root" || geteuid() == 0;

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();

    /// <summary>The repository root (the folder holding ggaoed.slnx).</summary>
    public static string RepoRoot
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir != null && !File.Exists(Path.Combine(dir, "ggaoed.slnx")))
                dir = Path.GetDirectoryName(dir);
            return dir ?? throw new InvalidOperationException("ggaoed.slnx not found above " + AppContext.BaseDirectory);
        }
    }
}
