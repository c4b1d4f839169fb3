using System;
using System.IO;
using System.Runtime.InteropServices;
using Ggaoed.Native;

namespace Ggaoed.Storage;

/// <summary>Why the store runs buffered although direct-io was asked for (the daemon logs it once).</summary>
public enum DirectIoFallback
{
    /// <summary>O_DIRECT is on, or was not asked for.</summary>
    None,

    /// <summary>open(O_DIRECT) failed with EINVAL: the file system has no direct I/O.</summary>
    RefusedByFileSystem,

    /// <summary>
    /// A 512-byte O_DIRECT read at a 512-byte offset failed with EINVAL: the store needs a larger
    /// alignment (a 4Kn disk), and AoE requests are 512-byte granular.
    /// </summary>
    AlignmentAbove512,
}

/// <summary>A failed storage syscall; the message names the path, the call and the errno text.</summary>
public sealed class StorageException : IOException
{
    public StorageException(string message, int errno) : base(message) => Errno = errno;

    public int Errno { get; }

    /// <summary>"No such file or directory (ENOENT)".</summary>
    public static string Describe(int errno)
    {
        string name = Enum.IsDefined((Errno)errno) ? ((Errno)errno).ToString() : "errno " + errno;
        return Marshal.GetPInvokeErrorMessage(errno) + " (" + name + ")";
    }
}

/// <summary>
/// An exported file or block device, opened once at start-up. Sizes are in bytes and in AoE's 512-byte
/// sectors; a tail shorter than a sector is not exported.
/// </summary>
public sealed unsafe class BackingStore : IDisposable
{
    public const int SectorSize = 512;

    private int _fd;

    private BackingStore(string path, int fd, bool readOnly, bool blockDevice, long sizeBytes, int logicalBlockSize, bool directIo, DirectIoFallback fallback, bool inMemory)
    {
        InMemory = inMemory;
        Path = path;
        _fd = fd;
        ReadOnly = readOnly;
        IsBlockDevice = blockDevice;
        SizeBytes = sizeBytes;
        LogicalBlockSize = logicalBlockSize;
        DirectIo = directIo;
        Fallback = fallback;
    }

    public string Path { get; }

    public int Fd => _fd;

    public bool ReadOnly { get; }

    public bool IsBlockDevice { get; }

    public long SizeBytes { get; }

    public ulong Sectors => (ulong)SizeBytes / SectorSize;

    /// <summary>BLKSSZGET for a block device, 512 for a regular file: the O_DIRECT alignment unit.</summary>
    public int LogicalBlockSize { get; }

    /// <summary>True when the descriptor really has O_DIRECT.</summary>
    public bool DirectIo { get; }

    public DirectIoFallback Fallback { get; }

    /// <summary>
    /// The file lives on a memory file system (tmpfs, ramfs, hugetlbfs): there is no device behind it,
    /// so every read, O_DIRECT or not, is a copy the kernel does synchronously (tmpfs accepts O_DIRECT
    /// since Linux 6.6 but still copies inside the call).
    /// </summary>
    public bool InMemory { get; }

    /// <summary>
    /// Opens <paramref name="path"/> (a regular file or a block device) close-on-exec, read-write or
    /// read-only, with O_DIRECT when <paramref name="directIo"/> is set and the store supports it for
    /// 512-byte requests; otherwise buffered, with <see cref="Fallback"/> saying why.
    /// </summary>
    /// <exception cref="StorageException">The path cannot be opened, is neither a file nor a block
    /// device, or its size cannot be read.</exception>
    public static BackingStore Open(string path, bool readOnly, bool directIo)
    {
        int flags = (readOnly ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC;
        DirectIoFallback fallback = DirectIoFallback.None;
        int fd = Libc.open(path, flags | (directIo ? Libc.O_DIRECT : 0), 0);
        if (fd < 0 && directIo && Marshal.GetLastPInvokeError() == (int)Errno.EINVAL)
        {
            fallback = DirectIoFallback.RefusedByFileSystem;
            fd = Libc.open(path, flags, 0);
        }
        if (fd < 0)
            throw Fail(path, "cannot open", Marshal.GetLastPInvokeError());

        try
        {
            stat st;
            if (Libc.fstat(fd, &st) < 0)
                throw Fail(path, "fstat", Marshal.GetLastPInvokeError());
            uint type = st.st_mode & Libc.S_IFMT;
            long size;
            int blockSize = SectorSize;
            bool blockDevice = type == Libc.S_IFBLK;
            if (blockDevice)
            {
                ulong bytes;
                if (Libc.ioctl(fd, Libc.BLKGETSIZE64, &bytes) < 0)
                    throw Fail(path, "ioctl BLKGETSIZE64", Marshal.GetLastPInvokeError());
                int lbs;
                if (Libc.ioctl(fd, Libc.BLKSSZGET, &lbs) < 0)
                    throw Fail(path, "ioctl BLKSSZGET", Marshal.GetLastPInvokeError());
                size = (long)bytes;
                blockSize = lbs;
            }
            else if (type == Libc.S_IFREG)
            {
                size = st.st_size;
            }
            else
            {
                throw new StorageException(path + ": not a regular file or block device", (int)Errno.EINVAL);
            }

            bool direct = directIo && fallback == DirectIoFallback.None;
            if (direct && !AcceptsSectorAlignedDirectIo(fd, size))
            {
                fallback = DirectIoFallback.AlignmentAbove512;
                direct = false;
                int fl = Libc.fcntl(fd, Libc.F_GETFL, 0);
                if (fl < 0 || Libc.fcntl(fd, Libc.F_SETFL, fl & ~Libc.O_DIRECT) < 0)
                    throw Fail(path, "fcntl (clearing O_DIRECT)", Marshal.GetLastPInvokeError());
            }
            bool inMemory = false;
            statfs fs;
            if (!blockDevice && Libc.fstatfs(fd, &fs) == 0)
                inMemory = fs.f_type is FsMagic.TMPFS_MAGIC or FsMagic.RAMFS_MAGIC or FsMagic.HUGETLBFS_MAGIC;
            return new BackingStore(path, fd, readOnly, blockDevice, size, blockSize, direct, fallback, inMemory);
        }
        catch
        {
            Libc.close(fd);
            throw;
        }
    }

    /// <summary>
    /// AoE requests start and end on 512-byte boundaries; on a store that needs more (logical block
    /// size 4096) O_DIRECT would fail most of them with EINVAL. Probe with one 512-byte read at
    /// offset 512 into a page-aligned buffer; stores too small to probe are assumed fine.
    /// </summary>
    private static bool AcceptsSectorAlignedDirectIo(int fd, long size)
    {
        if (size < 2 * SectorSize)
            return true;
        void* buffer = NativeMemory.AlignedAlloc(4096, 4096);
        try
        {
            nint r = Libc.pread(fd, buffer, SectorSize, SectorSize);
            return r >= 0 || Marshal.GetLastPInvokeError() != (int)Errno.EINVAL;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private static StorageException Fail(string path, string what, int errno)
        => new(path + ": " + what + ": " + StorageException.Describe(errno), errno);

    public void Dispose()
    {
        if (_fd >= 0)
        {
            Libc.close(_fd);
            _fd = -1;
        }
    }
}
