using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Ggaoed.Native;
using Xunit;

namespace Ggaoed.Tests.Native;

/// <summary>
/// Proves every struct size, field offset, field size and constant in Ggaoed.Native against the real C
/// headers: the C# definitions are turned into <c>_Static_assert</c>s and compiled with gcc.
/// </summary>
public class AbiTests
{
    [Fact]
    public void EveryNativeStructAndConstant_MatchesTheCHeaders()
    {
        string source = GenerateAssertions(out int structs, out int constants);
        Assert.True(structs >= 20, $"expected the ABI structs to be found, got {structs}");
        Assert.True(constants >= 150, $"expected the ABI constants to be found, got {constants}");

        string dir = Directory.CreateTempSubdirectory("ggaoed-abi-").FullName;
        try
        {
            string file = Path.Combine(dir, "abi.c");
            File.WriteAllText(file, source);
            var psi = new ProcessStartInfo("gcc", $"-std=gnu11 -fsyntax-only -Werror -Wall {file}")
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using Process gcc = Process.Start(psi)!;
            string stderr = gcc.StandardError.ReadToEnd();
            gcc.StandardOutput.ReadToEnd();
            gcc.WaitForExit();
            Assert.True(gcc.ExitCode == 0, "gcc rejected the ABI assertions:\n" + stderr + "\n--- source ---\n" + source);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void StoreClaimAndUeventBindings_AreAmongTheAssertions()
    {
        // The backing store's claims (OFD locks, handing a claim over by F_DUPFD_CLOEXEC) and block uevents.
        string source = GenerateAssertions(out _, out _);
        foreach (string line in new[]
        {
            "sizeof(struct flock) == 32", "offsetof(struct flock, l_start) == 8", "offsetof(struct flock, l_pid) == 24",
            "(F_OFD_GETLK) == 36LL", "(F_OFD_SETLK) == 37LL", "(F_DUPFD_CLOEXEC) == 1030LL",
            "(F_RDLCK) == 0LL", "(F_WRLCK) == 1LL", "(F_UNLCK) == 2LL", "(NETLINK_KOBJECT_UEVENT) == 15LL",
        })
            Assert.Contains(line, source);
    }

    [Fact]
    public void Generator_CatchesAWrongOffset()
    {
        // The test above can only fail if a mismatch really makes gcc fail: show it does.
        string bad = "#include <linux/aio_abi.h>\n_Static_assert(__builtin_offsetof(struct iocb, aio_buf) == 8, \"x\");\n";
        string dir = Directory.CreateTempSubdirectory("ggaoed-abi-").FullName;
        try
        {
            string file = Path.Combine(dir, "bad.c");
            File.WriteAllText(file, bad);
            using Process gcc = Process.Start(new ProcessStartInfo("gcc", $"-fsyntax-only {file}") { RedirectStandardError = true })!;
            gcc.StandardError.ReadToEnd();
            gcc.WaitForExit();
            Assert.NotEqual(0, gcc.ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string GenerateAssertions(out int structs, out int constants)
    {
        var headers = new List<string>();
        var body = new StringBuilder();
        structs = 0;
        constants = 0;
        foreach (Type type in typeof(Libc).Assembly.GetTypes())
        {
            var attrs = type.GetCustomAttributes<CHeaderAttribute>().ToArrayList();
            if (attrs.Count == 0)
                continue;
            foreach (CHeaderAttribute a in attrs)
                foreach (string h in a.Headers)
                    if (!headers.Contains(h))
                        headers.Add(h);

            if (type.IsEnum)
            {
                foreach (FieldInfo f in type.GetFields(BindingFlags.Public | BindingFlags.Static))
                {
                    long value = Convert.ToInt64(f.GetRawConstantValue());
                    body.Append($"_Static_assert((long long)({f.Name}) == {value}LL, \"{type.Name}.{f.Name}\");\n");
                    constants++;
                }
            }
            else if (type.IsValueType)
            {
                string ctype = attrs[0].CType ?? "struct " + type.Name;
                int size = Marshal.SizeOf(type);
                body.Append($"_Static_assert(sizeof({ctype}) == {size}, \"sizeof {ctype}\");\n");
                foreach (FieldInfo f in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
                {
                    CFieldAttribute? cf = f.GetCustomAttribute<CFieldAttribute>();
                    if (cf is { Skip: true })
                        continue;
                    string expr = string.IsNullOrEmpty(cf?.Expression) ? f.Name : cf!.Expression;
                    long offset = Marshal.OffsetOf(type, f.Name);
                    body.Append($"_Static_assert(__builtin_offsetof({ctype}, {expr}) == {offset}, \"offsetof {ctype}.{expr}\");\n");
                    body.Append($"_Static_assert(sizeof((({ctype}*)0)->{expr}) == {FieldSize(f)}, \"sizeof {ctype}.{expr}\");\n");
                }
                structs++;
            }
            else
            {
                foreach (FieldInfo f in type.GetFields(BindingFlags.Public | BindingFlags.Static))
                {
                    if (!f.IsLiteral)
                        continue;
                    object? raw = f.GetRawConstantValue();
                    string value = raw switch
                    {
                        uint u => u + "LL",
                        ulong ul => ul + "ULL",
                        _ => Convert.ToInt64(raw) + "LL",
                    };
                    body.Append($"_Static_assert((long long)({f.Name}) == {value}, \"{type.Name}.{f.Name}\");\n");
                    constants++;
                }
            }
        }

        // glibc headers first, then the kernel's uapi headers (the usual include order that avoids
        // redefinitions such as struct sockaddr_ll in netpacket/packet.h vs linux/if_packet.h).
        headers.Sort((a, b) =>
        {
            int ka = a.StartsWith("linux/", StringComparison.Ordinal) ? 1 : 0;
            int kb = b.StartsWith("linux/", StringComparison.Ordinal) ? 1 : 0;
            return ka != kb ? ka - kb : string.CompareOrdinal(a, b);
        });
        var sb = new StringBuilder("#define _GNU_SOURCE\n#include <stddef.h>\n");
        foreach (string h in headers)
            sb.Append("#include <").Append(h).Append(">\n");
        sb.Append(body);
        return sb.ToString();
    }

    private static int FieldSize(FieldInfo f)
    {
        FixedBufferAttribute? fixedBuffer = f.GetCustomAttribute<FixedBufferAttribute>();
        if (fixedBuffer != null)
            return Marshal.SizeOf(fixedBuffer.ElementType) * fixedBuffer.Length;
        if (f.FieldType.IsPointer)
            return IntPtr.Size;
        return Marshal.SizeOf(f.FieldType);
    }
}

internal static class AttributeListExtensions
{
    public static List<T> ToArrayList<T>(this IEnumerable<T> items) => new List<T>(items);
}
