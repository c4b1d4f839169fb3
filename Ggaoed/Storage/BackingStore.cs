using System;
using System.Globalization;
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

/// <summary>
/// How a store keeps a second exporter away while it is open (see <see cref="BackingStore"/>: one
/// daemon per disk).
/// </summary>
public enum StoreClaim
{
    /// <summary>No claim: a shared (multi-gateway) file, which other gateways must be able to open and lock.</summary>
    None,

    /// <summary>A block device opened O_EXCL: mounts, LVM, md, swap and other O_EXCL openers are kept out (and kept us out).</summary>
    ExclusiveOpen,

    /// <summary>A read-write file under an OFD write lock on all of it: any other lock on it is refused.</summary>
    WriteLock,

    /// <summary>A read-only file under an OFD read lock: other read-only exporters may join, a read-write one may not.</summary>
    ReadLock,

    /// <summary>The file system refused the lock (no lock daemon on NFS, a FUSE file system without
    /// locks): exported unguarded; <see cref="BackingStore.ClaimProblem"/> says why.</summary>
    Unavailable,
}

/// <summary>A failed storage syscall; the message names the path, the call and the errno text.</summary>
public sealed class StorageException : IOException
{
    public StorageException(string message, int errno) : base(message) => Errno = errno;

    public int Errno { get; }
}

/// <summary>How to open a backing store; the daemon fills it from a device's configuration.</summary>
public readonly struct BackingStoreOptions
{
    public bool ReadOnly { get; init; }

    /// <summary>O_DIRECT when the store supports it for 512-byte requests (see <see cref="BackingStore.Fallback"/>).</summary>
    public bool DirectIo { get; init; }

    /// <summary>
    /// Several gateways export this volume on purpose (the <c>shared</c> key). A file then takes no
    /// lock: on NFS, GFS2 or OCFS2 an OFD lock reaches every host, so it would refuse the other gateways.
    /// A block device still opens O_EXCL: that claim is only this host's kernel's (the other gateways
    /// are other hosts), and on this host a second exporter or a mount is still a mistake.
    /// </summary>
    public bool Shared { get; init; }

    /// <summary>First exported sector (vblade -o), in 512-byte sectors.</summary>
    public long OffsetSectors { get; init; }

    /// <summary>Exported sectors (vblade -l); null = from <see cref="OffsetSectors"/> to the end.</summary>
    public long? LengthSectors { get; init; }

    /// <summary>
    /// The open store this one replaces (a reload that reopens a device with new settings): when both
    /// are the same file or block device, the new store takes its claim over instead of being refused
    /// by it, and keeps it after the predecessor is closed. Ignored when they differ.
    /// </summary>
    public BackingStore? Predecessor { get; init; }
}

/// <summary>What <see cref="BackingStore.RefreshSize"/> found.</summary>
public readonly struct SizeRefresh
{
    public SizeRefresh(ulong previousSectors, ulong sectors, bool windowCut, int errno)
    {
        PreviousSectors = previousSectors;
        Sectors = sectors;
        WindowCut = windowCut;
        Errno = errno;
    }

    /// <summary>Exported sectors before the refresh.</summary>
    public ulong PreviousSectors { get; }

    /// <summary>Exported sectors now (unchanged when <see cref="Errno"/> is set).</summary>
    public ulong Sectors { get; }

    public bool Changed => Sectors != PreviousSectors;

    /// <summary>The configured offset/length no longer fits the store: only what is left is exported (maybe nothing).</summary>
    public bool WindowCut { get; }

    /// <summary>0, or the errno of fstat/BLKGETSIZE64 (the size was not read).</summary>
    public int Errno { get; }
}

/// <summary>
/// An exported file or block device. Sizes are in bytes and in AoE's 512-byte sectors; a tail shorter
/// than a sector is not exported. The store exports a window of itself, <see cref="OffsetSectors"/> and
/// <see cref="Sectors"/> long (vblade -o/-l; the whole store by default); I/O adds
/// <see cref="BaseOffsetBytes"/> to every AoE LBA.
/// <para>One daemon per disk: while open, the store keeps a claim (<see cref="Claim"/>) that makes a
/// second exporter fail with a message saying who holds it. A block device is opened O_EXCL, the
/// kernel's own exclusive claim, which also fails when the disk or a partition of it is mounted, is an
/// active LVM PV, an md member or swap. A file takes an OFD lock on all of it, a write lock when it is
/// exported read-write and a read lock when read-only, so two read-only exports of one image may run
/// side by side but never next to a read-write one (its initiators would read data changing under
/// their caches). OFD locks belong to the open file, so a second open in this same process is refused
/// too.</para>
/// </summary>
public sealed unsafe class BackingStore : IDisposable
{
    private int _fd;

    /// <summary>A duplicate of a predecessor's descriptor whose open file holds the claim, or -1 when <see cref="_fd"/> holds it.</summary>
    private int _inheritedClaimFd;

    // For matching a predecessor: st_dev and st_ino of a file.
    private readonly ulong _fileSystem;
    private readonly ulong _inode;

    private BackingStore(string path, int fd, in BackingStoreOptions options, bool blockDevice, long sizeBytes, int logicalBlockSize,
        bool directIo, DirectIoFallback fallback, long fileSystemType, DeviceNumber device, ulong fileSystem, ulong inode)
    {
        FileSystemType = fileSystemType;
        Path = path;
        _fd = fd;
        _inheritedClaimFd = -1;
        ReadOnly = options.ReadOnly;
        Shared = options.Shared;
        OffsetSectors = options.OffsetSectors;
        LengthSectors = options.LengthSectors;
        IsBlockDevice = blockDevice;
        SizeBytes = sizeBytes;
        LogicalBlockSize = logicalBlockSize;
        DirectIo = directIo;
        Fallback = fallback;
        DeviceNumber = device;
        _fileSystem = fileSystem;
        _inode = inode;
    }

    public string Path { get; }

    public int Fd => _fd;

    public bool ReadOnly { get; }

    public bool Shared { get; }

    public bool IsBlockDevice { get; }

    /// <summary>The block device's number (st_rdev), which uevents name as MAJOR/MINOR; 0:0 for a file.</summary>
    public DeviceNumber DeviceNumber { get; }

    /// <summary>Size of the whole file or device, as last read (at open, then by <see cref="RefreshSize"/>).</summary>
    public long SizeBytes { get; private set; }

    /// <summary>First exported sector of the store.</summary>
    public long OffsetSectors { get; }

    /// <summary>The configured length of the window; null = to the end of the store.</summary>
    public long? LengthSectors { get; }

    /// <summary>Byte offset of exported sector 0 in the store: the engine adds it to every I/O.</summary>
    public long BaseOffsetBytes => OffsetSectors * Sector.Size;

    /// <summary>
    /// Exported sectors: <see cref="LengthSectors"/>, or the store's sectors past the offset when no
    /// length is set; never past the store's end (after a shrink, what is left of the window, maybe 0).
    /// </summary>
    public ulong Sectors => WindowSectors(SizeBytes);

    /// <summary>The configured window does not fit the store as it is now (it shrank): see <see cref="Sectors"/>.</summary>
    public bool WindowCut => IsWindowCut(SizeBytes);

    /// <summary>BLKSSZGET for a block device, 512 for a regular file: the O_DIRECT alignment unit.</summary>
    public int LogicalBlockSize { get; }

    /// <summary>True when the descriptor really has O_DIRECT.</summary>
    public bool DirectIo { get; }

    /// <summary>Why <see cref="DirectIo"/> is off although it was asked for (None when it is on or was not asked for).</summary>
    public DirectIoFallback Fallback { get; }

    /// <summary><see cref="Fallback"/> in words for the admin's warning; null when there is none.</summary>
    public string? FallbackReason => Fallback switch
    {
        DirectIoFallback.RefusedByFileSystem => "the file system refuses O_DIRECT (open gave EINVAL)",
        DirectIoFallback.AlignmentAbove512 => "its logical block size is " + LogicalBlockSize.ToString(CultureInfo.InvariantCulture)
            + " bytes and O_DIRECT refused a 512-byte read, but AoE requests come in 512-byte sectors",
        _ => null,
    };

    /// <summary>How the store keeps other exporters out; see the class summary.</summary>
    public StoreClaim Claim { get; private set; }

    /// <summary>When <see cref="Claim"/> is <see cref="StoreClaim.Unavailable"/>: why, in words for a warning.</summary>
    public string? ClaimProblem { get; private set; }

    /// <summary>
    /// The file lives on a memory file system (tmpfs, ramfs, hugetlbfs): there is no device behind it,
    /// so every read, O_DIRECT or not, is a copy the kernel does synchronously (tmpfs accepts O_DIRECT
    /// since Linux 6.6 but still copies inside the call).
    /// </summary>
    public bool InMemory => FileSystems.IsInMemory(FileSystemType);

    /// <summary>The descriptor whose open file holds this store's claim (a successor duplicates it).</summary>
    private int ClaimFd => _inheritedClaimFd >= 0 ? _inheritedClaimFd : _fd;

    /// <summary>Opens the whole store with a claim; see <see cref="Open(string, in BackingStoreOptions)"/>.</summary>
    public static BackingStore Open(string path, bool readOnly, bool directIo)
        => Open(path, new BackingStoreOptions { ReadOnly = readOnly, DirectIo = directIo });

    /// <summary>
    /// Opens <paramref name="path"/> (a regular file or a block device) close-on-exec, read-write or
    /// read-only, with O_DIRECT when asked and the store supports it for 512-byte requests (otherwise
    /// buffered, with <see cref="Fallback"/> saying why), claims it (<see cref="Claim"/>) and checks
    /// that the window fits.
    /// </summary>
    /// <exception cref="StorageException">The path cannot be opened, is neither a file nor a block
    /// device, its size cannot be read, the window does not fit, or another exporter (or a mount, LVM,
    /// md) holds it: the message names the path and, where the system tells, the holder.</exception>
    public static BackingStore Open(string path, in BackingStoreOptions options)
    {
        if (options.OffsetSectors < 0 || options.LengthSectors < 0)
            throw new StorageException(path + ": offset and length must not be negative", (int)Errno.EINVAL);
        stat before;
        if (Libc.stat_path(path, &before) < 0)
            throw Fail(path, "cannot open", Marshal.GetLastPInvokeError());
        bool block = (before.st_mode & Libc.S_IFMT) == Libc.S_IFBLK;
        BackingStore? predecessor = options.Predecessor is { } p && p.IsSame(before) ? p : null;
        bool inheritExclusive = block && predecessor is { Claim: StoreClaim.ExclusiveOpen };

        // O_EXCL without O_CREAT means "claim exclusively" for block devices only (open(2)); a file gets a lock below.
        int flags = (options.ReadOnly ? Libc.O_RDONLY : Libc.O_RDWR) | Libc.O_CLOEXEC | (block && !inheritExclusive ? Libc.O_EXCL : 0);
        DirectIoFallback fallback = DirectIoFallback.None;
        int fd = Libc.open(path, flags | (options.DirectIo ? Libc.O_DIRECT : 0), 0);
        if (fd < 0 && options.DirectIo && Marshal.GetLastPInvokeError() == (int)Errno.EINVAL)
        {
            fallback = DirectIoFallback.RefusedByFileSystem;
            fd = Libc.open(path, flags, 0);
        }
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (block && errno == (int)Errno.EBUSY)
                throw Busy(path, DeviceNumber.FromDev(before.st_rdev));
            throw Fail(path, "cannot open", errno);
        }

        BackingStore? store = null;
        try
        {
            stat st;
            if (Libc.fstat(fd, &st) < 0)
                throw Fail(path, "fstat", Marshal.GetLastPInvokeError());
            uint type = st.st_mode & Libc.S_IFMT;
            if (type != Libc.S_IFBLK && type != Libc.S_IFREG)
                throw new StorageException(path + ": not a regular file or block device", (int)Errno.EINVAL);
            // The predecessor was matched by the path's stat: the descriptor must be that same file or device.
            if ((type == Libc.S_IFBLK) != block || (block ? st.st_rdev != before.st_rdev : st.st_dev != before.st_dev || st.st_ino != before.st_ino))
                throw new StorageException(path + ": changed while being opened (replaced by another file?); try again", (int)Errno.EAGAIN);
            int err = ReadSize(fd, block, out long size);
            if (err != 0)
                throw Fail(path, block ? "ioctl BLKGETSIZE64" : "fstat", err);
            int blockSize = Sector.Size;
            if (block)
            {
                int lbs;
                if (Libc.ioctl(fd, Libc.BLKSSZGET, &lbs) < 0)
                    throw Fail(path, "ioctl BLKSSZGET", Marshal.GetLastPInvokeError());
                blockSize = lbs;
            }
            CheckWindow(path, options, size);

            bool direct = options.DirectIo && fallback == DirectIoFallback.None;
            if (direct && !AcceptsSectorAlignedDirectIo(fd, size))
            {
                fallback = DirectIoFallback.AlignmentAbove512;
                direct = false;
                int fl = Libc.fcntl(fd, Libc.F_GETFL, 0);
                if (fl < 0 || Libc.fcntl(fd, Libc.F_SETFL, fl & ~Libc.O_DIRECT) < 0)
                    throw Fail(path, "fcntl (clearing O_DIRECT)", Marshal.GetLastPInvokeError());
            }
            long fileSystemType = 0;
            statfs fs;
            if (!block && Libc.fstatfs(fd, &fs) == 0)
                fileSystemType = fs.f_type;
            store = new BackingStore(path, fd, options, block, size, blockSize, direct, fallback, fileSystemType,
                block ? DeviceNumber.FromDev(st.st_rdev) : default, block ? 0 : st.st_dev, block ? 0 : st.st_ino);
            if (block)
            {
                store.Claim = StoreClaim.ExclusiveOpen;
                if (inheritExclusive)
                    store.InheritClaim(predecessor!);
            }
            else if (!options.Shared)
            {
                store.LockFile(predecessor);
            }
            return store;
        }
        catch
        {
            if (store != null)
                store.Dispose();
            else
                Libc.close(fd);
            throw;
        }
    }

    /// <summary>
    /// True while this store is open and <paramref name="path"/> names the same file (st_dev and inode:
    /// a hard link or another path to it counts) or block device (st_rdev: /dev/sdb and its by-id link
    /// count). The daemon uses it to find the predecessor of a store it reopens under any device name.
    /// </summary>
    public bool IsSame(string path)
    {
        stat st;
        return Libc.stat_path(path, &st) == 0 && IsSame(st);
    }

    private bool IsSame(in stat st)
    {
        if (_fd < 0)
            return false;
        bool block = (st.st_mode & Libc.S_IFMT) == Libc.S_IFBLK;
        if (block != IsBlockDevice)
            return false;
        return block ? DeviceNumber == DeviceNumber.FromDev(st.st_rdev) : _fileSystem == st.st_dev && _inode == st.st_ino;
    }

    /// <summary>
    /// Re-reads the store's size (fstat for a file, BLKGETSIZE64 for a block device: one syscall, no I/O,
    /// no allocation, cheap enough for a timer every few seconds) and returns the exported sectors
    /// before and after. A window that no longer fits is cut to what is left (<see cref="SizeRefresh.WindowCut"/>).
    /// </summary>
    public SizeRefresh RefreshSize()
    {
        long size = 0;
        int err = _fd < 0 ? (int)Errno.EBADF : ReadSize(_fd, IsBlockDevice, out size);
        return ApplySize(size, err);
    }

    /// <summary>
    /// Takes a size read elsewhere with <see cref="ReadSize"/> (on a duplicate of <see cref="Fd"/>, by a
    /// thread that may wait where the reactor must not: see <see cref="SizeReadMayWait"/>); <paramref name="errno"/>
    /// is what that read returned (not 0: the size is kept). Same result as <see cref="RefreshSize"/>.
    /// </summary>
    public SizeRefresh ApplySize(long sizeBytes, int errno = 0)
    {
        ulong before = Sectors;
        if (errno != 0)
            return new SizeRefresh(before, before, WindowCut, errno);
        SizeBytes = sizeBytes;
        return new SizeRefresh(before, Sectors, WindowCut, 0);
    }

    /// <summary>f_type of the file system holding a file (fstatfs at open; 0 when unknown and for a block device).</summary>
    public long FileSystemType { get; }

    /// <summary>
    /// Reading this store's size may wait for another machine: fstat on NFS, SMB, FUSE, Ceph, 9P, AFS,
    /// GFS2 or OCFS2 asks a server or a lock manager for fresh attributes, and a server that is down
    /// holds the call for as long as the mount waits (forever with NFS "hard"). Such a store's size is
    /// read off the reactor thread (<see cref="FileSystems.SizeReadMayWait"/>). A block device's size
    /// (BLKGETSIZE64) and a local file's (the inode in memory) never wait.
    /// </summary>
    public bool SizeReadMayWait => FileSystems.SizeReadMayWait(FileSystemType);

    /// <summary>The size of the file or device open as <paramref name="fd"/>: 0, or the errno of fstat / BLKGETSIZE64.</summary>
    public static int ReadSize(int fd, bool block, out long size)
    {
        size = 0;
        if (block)
        {
            ulong bytes;
            if (Libc.ioctl(fd, Libc.BLKGETSIZE64, &bytes) < 0)
                return Marshal.GetLastPInvokeError();
            size = (long)bytes;
            return 0;
        }
        stat st;
        if (Libc.fstat(fd, &st) < 0)
            return Marshal.GetLastPInvokeError();
        size = st.st_size;
        return 0;
    }

    private ulong WindowSectors(long sizeBytes)
    {
        ulong storeSectors = (ulong)sizeBytes / Sector.Size;
        ulong offset = (ulong)OffsetSectors;
        if (offset >= storeSectors)
            return 0;
        ulong rest = storeSectors - offset;
        return LengthSectors is long length ? Math.Min((ulong)length, rest) : rest;
    }

    private bool IsWindowCut(long sizeBytes) => DoesNotFit(OffsetSectors, LengthSectors, sizeBytes / Sector.Size);

    /// <summary>An offset at or past the end (a whole store may be empty, a window may not), or a length running past it.</summary>
    private static bool DoesNotFit(long offset, long? length, long storeSectors)
        => (offset > 0 && offset >= storeSectors) || (length is long l && offset + l > storeSectors);

    private static void CheckWindow(string path, in BackingStoreOptions o, long sizeBytes)
    {
        long storeSectors = sizeBytes / Sector.Size;
        if (!DoesNotFit(o.OffsetSectors, o.LengthSectors, storeSectors))
            return;
        string where = o.LengthSectors is long l
            ? "offset + length (" + Num(o.OffsetSectors) + " + " + Num(l) + " sectors)"
            : "offset " + Num(o.OffsetSectors);
        throw new StorageException(path + ": " + where + " beyond the end of " + path + " (" + Num(storeSectors)
            + " sectors): correct offset/length or grow the store", (int)Errno.EINVAL);
    }

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>Keeps the predecessor's open file (and so its claim) alive for as long as this store is open.</summary>
    private void InheritClaim(BackingStore predecessor)
    {
        int dup = Libc.fcntl(predecessor.ClaimFd, Libc.F_DUPFD_CLOEXEC, 0);
        if (dup < 0)
            throw Fail(Path, "fcntl F_DUPFD_CLOEXEC (taking over the claim of the store it replaces)", Marshal.GetLastPInvokeError());
        _inheritedClaimFd = dup;
    }

    /// <summary>
    /// The OFD lock on the whole file (l_len 0 = to the end, also after it grows): write for a
    /// read-write export, read for read-only. A predecessor's lock that covers this export is taken over;
    /// a predecessor's read lock under a now read-write export is given up for a write lock (and put back
    /// when that fails).
    /// </summary>
    private void LockFile(BackingStore? predecessor)
    {
        short want = ReadOnly ? Libc.F_RDLCK : Libc.F_WRLCK;
        if (predecessor is { Claim: StoreClaim.WriteLock } || (predecessor is { Claim: StoreClaim.ReadLock } && ReadOnly))
        {
            Claim = predecessor.Claim;
            InheritClaim(predecessor);
            return;
        }
        bool released = predecessor is { Claim: StoreClaim.ReadLock } && SetLock(predecessor.ClaimFd, Libc.F_UNLCK) == 0;
        if (SetLock(_fd, want) == 0)
        {
            Claim = ReadOnly ? StoreClaim.ReadLock : StoreClaim.WriteLock;
            return;
        }
        int errno = Marshal.GetLastPInvokeError();
        if (released)
            SetLock(predecessor!.ClaimFd, Libc.F_RDLCK);
        if (errno is (int)Errno.EAGAIN or (int)Errno.EACCES)
            throw Locked(want);
        // ENOLCK (NFS mounted nolock-less without a lock daemon), EINVAL/EOPNOTSUPP (no OFD locks here).
        Claim = StoreClaim.Unavailable;
        ClaimProblem = Path + ": cannot lock the file (" + ErrnoText.Describe(errno)
            + "), so a second daemon exporting it would not be stopped";
    }

    private static int SetLock(int fd, short type)
    {
        var lk = new flock { l_type = type, l_whence = Libc.SEEK_SET };
        return Libc.fcntl_lock(fd, Libc.F_OFD_SETLK, &lk);
    }

    private StorageException Locked(short wanted)
    {
        // F_OFD_GETLK names the conflicting lock's type; its l_pid is -1 for an OFD lock, so /proc tells who.
        var probe = new flock { l_type = wanted, l_whence = Libc.SEEK_SET };
        bool writer = wanted == Libc.F_RDLCK || Libc.fcntl_lock(_fd, Libc.F_OFD_GETLK, &probe) != 0 || probe.l_type != Libc.F_RDLCK;
        string holders = new StoreHolders().ProcessesLocking(DeviceNumber.FromDev(_fileSystem), _inode);
        string who = holders.Length > 0 ? holders : "another program";
        string message = writer
            ? Path + ": in use: " + who + " holds a write lock on it (another ggaoed exporting it?). "
              + "A file is exported by one daemon only: stop the other one, or set shared = true on every gateway that exports it on purpose"
            : Path + ": in use: " + who + " holds a read lock on it (another ggaoed exporting it read-only?). "
              + "A read-write export needs the file to itself: stop the other one, or export it read-only here too";
        return new StorageException(message, (int)Errno.EAGAIN);
    }

    private static StorageException Busy(string path, DeviceNumber device)
        => new(path + ": in use (the kernel refused an exclusive open, EBUSY): "
            + new StoreHolders().DescribeBusyBlockDevice(device)
            + ". One daemon per disk: unmount it or stop what uses it, or export something else", (int)Errno.EBUSY);

    /// <summary>
    /// AoE requests start and end on 512-byte boundaries; on a store that needs more (logical block
    /// size 4096) O_DIRECT would fail most of them with EINVAL. Probe with one 512-byte read at
    /// offset 512 into a page-aligned buffer; stores too small to probe are assumed fine.
    /// </summary>
    private static bool AcceptsSectorAlignedDirectIo(int fd, long size)
    {
        if (size < 2 * Sector.Size)
            return true;
        void* buffer = NativeMemory.AlignedAlloc(4096, 4096);
        try
        {
            nint r = Libc.pread(fd, buffer, Sector.Size, Sector.Size);
            return r >= 0 || Marshal.GetLastPInvokeError() != (int)Errno.EINVAL;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private static StorageException Fail(string path, string what, int errno)
        => new(path + ": " + what + ": " + ErrnoText.Describe(errno), errno);

    /// <summary>Closes the store; its claim ends with it (unless a successor took it over).</summary>
    public void Dispose()
    {
        if (_fd >= 0)
        {
            Libc.close(_fd);
            _fd = -1;
        }
        if (_inheritedClaimFd >= 0)
        {
            Libc.close(_inheritedClaimFd);
            _inheritedClaimFd = -1;
        }
    }
}
