using System;

namespace Ggaoed.Native;

/// <summary>
/// Names the C headers that define a struct or a group of constants, and (for structs) the C type
/// name. The ABI test reads these to generate <c>_Static_assert</c>s and compiles them with gcc, so a
/// wrong size, offset or constant fails the build of the test, not a storage export.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct | AttributeTargets.Enum, Inherited = false, AllowMultiple = true)]
public sealed class CHeaderAttribute : Attribute
{
    public CHeaderAttribute(params string[] headers) => Headers = headers;

    public string[] Headers { get; }

    /// <summary>The C type for a struct (default: <c>struct</c> + the C# type name).</summary>
    public string? CType { get; init; }
}

/// <summary>
/// The C member expression for a field whose C# name can't be the C name (union members, macros such
/// as <c>ifr_mtu</c>), or <see cref="Skip"/> for padding the C struct does not name.
/// </summary>
[AttributeUsage(AttributeTargets.Field, Inherited = false)]
public sealed class CFieldAttribute : Attribute
{
    public CFieldAttribute(string expression = "") => Expression = expression;

    public string Expression { get; }

    public bool Skip { get; init; }
}
