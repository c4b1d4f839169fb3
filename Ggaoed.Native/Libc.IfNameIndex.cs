using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>if_nameindex (net/if.h): the interfaces of the caller's network namespace, asked over netlink.</summary>
[CHeader("net/if.h")]
public static unsafe partial class Libc
{
    /// <summary>Returns an array ended by an entry with index 0; free it with <see cref="if_freenameindex"/>. Null on error.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial if_nameindex* if_nameindex();

    [LibraryImport("libc")]
    public static partial void if_freenameindex(if_nameindex* list);
}

/// <summary>struct if_nameindex (net/if.h).</summary>
[CHeader("net/if.h")]
[StructLayout(LayoutKind.Sequential)]
public unsafe struct if_nameindex
{
    public uint if_index;
    public byte* if_name;
}
