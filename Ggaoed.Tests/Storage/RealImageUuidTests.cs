using System;
using System.Diagnostics;
using System.IO;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// The superblock readers against images made by the real tools (mkfs.*, mkswap, cryptsetup) in plain sparse
/// files: no loop device, no root. Each test names the Debian package it needs and is skipped without it.
/// </summary>
public class RealImageUuidTests
{
    [ToolFact("mkfs.ext4", "e2fsprogs")]
    public void Ext4() => Check(8 << 20, UuidSource.Ext, "5f1c9a2e-7b3d-4c8e-a1f0-2d6b8e4c7a91",
        (img, u) => Run("mkfs.ext4", "-q", "-F", "-U", u, img));

    [ToolFact("mkswap", "util-linux")]
    public void Swap() => Check(1 << 20, UuidSource.Swap, "0a7e3b19-d4c2-4f65-8e1a-9b3c5d7f2e60",
        (img, u) => Run("mkswap", "-U", u, img));

    [ToolFact("mkfs.xfs", "xfsprogs")]
    public void Xfs() => Check(320L << 20, UuidSource.Xfs, "8e2d4c61-0b5a-4f37-9c18-a3e5f7d90b24",
        (img, u) => Run("mkfs.xfs", "-q", "-f", "-m", "uuid=" + u, img));

    [ToolFact("mkfs.btrfs", "btrfs-progs")]
    public void Btrfs() => Check(160L << 20, UuidSource.Btrfs, "b7f04e2a-6c19-4d83-8a5e-1f2b3c4d5e6f",
        (img, u) => Run("mkfs.btrfs", "-q", "-f", "-U", u, img));

    [ToolFact("cryptsetup", "cryptsetup-bin")]
    public void Luks2() => Check(32 << 20, UuidSource.Luks, "d3a5c7e9-1b2d-4f60-8a9c-0e1f2a3b4c5d",
        (img, u) => Luks("luks2", u, img));

    [ToolFact("cryptsetup", "cryptsetup-bin")]
    public void Luks1() => Check(8 << 20, UuidSource.Luks, "4c6e8a0b-2d4f-4a61-9b3d-5f7a9c1e3b50",
        (img, u) => Luks("luks1", u, img));

    private static void Luks(string type, string uuid, string image)
    {
        // A throwaway key from stdin and a cheap KDF: only the header matters here.
        string keyFile = image + ".key";
        File.WriteAllText(keyFile, "not-a-secret");
        try
        {
            Run("cryptsetup", "luksFormat", "-q", "--type", type, "--uuid", uuid, "--pbkdf", "pbkdf2",
                "--pbkdf-force-iterations", "1000", "--key-file", keyFile, image);
        }
        finally
        {
            File.Delete(keyFile);
        }
    }

    private static void Check(long size, UuidSource kind, string uuid, Action<string, string> make)
    {
        string image = Path.Combine(Path.GetTempPath(), "gg-cfg-real-" + kind + "-" + Guid.NewGuid().ToString("N") + ".img");
        try
        {
            using (var f = new FileStream(image, FileMode.Create))
                f.SetLength(size);
            make(image, uuid);
            byte[] head = new byte[UuidSuperblock.HeadBytes];
            using (var f = new FileStream(image, FileMode.Open, FileAccess.Read))
                f.ReadExactly(head);
            Assert.Equal(uuid, UuidSuperblock.Probe(head, out UuidSource found));
            Assert.Equal(kind, found);
        }
        finally
        {
            File.Delete(image);
        }
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        string stderr = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, file + " failed: " + stderr);
    }
}

/// <summary>A fact that needs an external program; skipped, naming the package, when it is not installed.</summary>
public sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(string program, string debianPackage)
    {
        if (!OnPath(program))
            Skip = program + " is not installed (Debian package " + debianPackage + ")";
    }

    private static bool OnPath(string program)
    {
        string path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (string dir in (path + ":/usr/sbin:/sbin").Split(':', StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, program)))
                return true;
        return false;
    }
}
