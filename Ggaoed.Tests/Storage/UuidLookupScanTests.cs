using System;
using System.Buffers.Binary;
using System.IO;
using Ggaoed.Storage;
using Xunit;

namespace Ggaoed.Tests.Storage;

/// <summary>
/// The sysfs scan against a fake /sys/class/block and /dev made of plain files and symlinks, laid out like
/// the kernel's (class entries link into the device tree; a partition's directory sits inside its disk's).
/// </summary>
public sealed class UuidLookupScanTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gg-cfg-sysfs-").FullName;
    private readonly string _class;
    private readonly string _dev;

    public UuidLookupScanTests()
    {
        _class = Path.Combine(_root, "sys", "class", "block");
        _dev = Path.Combine(_root, "dev");
        Directory.CreateDirectory(_class);
        Directory.CreateDirectory(_dev);
    }

    public void Dispose() => Directory.Delete(_root, true);

    private void AddDevice(string relDir, string name, byte[] content, int? partition = null)
    {
        string dir = Path.Combine(_root, "sys", "devices", relDir);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "uevent"), "MAJOR=7\nMINOR=0\nDEVNAME=" + name + "\nDEVTYPE=disk\n");
        File.WriteAllText(Path.Combine(dir, "size"), (content.Length / 512).ToString() + "\n");
        if (partition != null)
            File.WriteAllText(Path.Combine(dir, "partition"), partition.Value + "\n");
        else
        {
            Directory.CreateDirectory(Path.Combine(dir, "queue"));
            File.WriteAllText(Path.Combine(dir, "queue", "logical_block_size"), "512\n");
        }
        File.CreateSymbolicLink(Path.Combine(_class, name), Path.Combine("..", "..", "devices", relDir));
        File.WriteAllBytes(Path.Combine(_dev, name), content);
    }

    private static byte[] Ext(byte[] uuid)
    {
        byte[] img = new byte[UuidSuperblock.HeadBytes];
        BinaryPrimitives.WriteUInt16LittleEndian(img.AsSpan(1024 + 0x38), 0xEF53);
        uuid.CopyTo(img, 1024 + 0x68);
        return img;
    }

    private UuidLookup Lookup() => new([], _class, _dev);

    [Fact]
    public void FindsFilesystemUuid_AndGptPartitionGuid_OnThePartition()
    {
        var partGuid = new Guid("c41d7e2a-58b3-4f9c-a6e0-3b8d1f2c9e57");
        byte[] disk = new byte[1 << 20];
        DiskImages.Gpt(disk.Length / 512, partGuid, 1024, 2047).CopyTo(disk, 0);
        AddDevice("fakedisk", "fakedisk", disk);
        AddDevice(Path.Combine("fakedisk", "fakedisk1"), "fakedisk1", Ext(DiskImages.SampleUuid), partition: 1);
        AddDevice("empty", "empty", Array.Empty<byte>());

        Assert.Equal(Path.Combine(_dev, "fakedisk1"), Lookup().Find(partGuid.ToString().ToUpperInvariant(), out _));
        Assert.Equal(Path.Combine(_dev, "fakedisk1"), Lookup().Find(DiskImages.SampleUuidText, out _));
    }

    [Fact]
    public void SameUuidOnTwoDevices_IsAmbiguous()
    {
        AddDevice("a", "a", Ext(DiskImages.SampleUuid));
        AddDevice("b", "b", Ext(DiskImages.SampleUuid));
        Assert.Null(Lookup().Find(DiskImages.SampleUuidText, out string error));
        Assert.Equal("UUID " + DiskImages.SampleUuidText + " is on more than one device (" + Path.Combine(_dev, "a") + ", "
            + Path.Combine(_dev, "b") + "): use path to pick one", error);
    }

    [Fact]
    public void NotAUuid_IsRejectedBeforeAnyScan()
    {
        Assert.Null(Lookup().Find("../../etc/passwd", out string error));
        Assert.Equal("'../../etc/passwd' is not a UUID", error);
    }
}
