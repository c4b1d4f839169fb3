using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>
/// io_uring (linux/io_uring.h). glibc has no wrappers (liburing is a separate library returning
/// -errno); these go through <c>syscall(2)</c>, which returns -1 and sets errno. Only what the storage
/// engine and its probe use is declared here.
/// </summary>
[CHeader("linux/io_uring.h", "sys/syscall.h")]
public static unsafe partial class IoUring
{
    // Same numbers on x86-64 and arm64 (asm-generic/unistd.h, arch/x86/entry/syscalls/syscall_64.tbl).
    public const long SYS_io_uring_setup = 425;
    public const long SYS_io_uring_enter = 426;
    public const long SYS_io_uring_register = 427;

    // io_uring_params.flags (setup).
    public const uint IORING_SETUP_CQSIZE = 1U << 3;
    public const uint IORING_SETUP_CLAMP = 1U << 4;
    public const uint IORING_SETUP_SUBMIT_ALL = 1U << 7;
    public const uint IORING_SETUP_COOP_TASKRUN = 1U << 8;
    public const uint IORING_SETUP_TASKRUN_FLAG = 1U << 9;
    public const uint IORING_SETUP_SINGLE_ISSUER = 1U << 12;
    public const uint IORING_SETUP_DEFER_TASKRUN = 1U << 13;

    // io_uring_params.features (filled in by the kernel).
    public const uint IORING_FEAT_SINGLE_MMAP = 1U << 0;
    public const uint IORING_FEAT_NODROP = 1U << 1;
    public const uint IORING_FEAT_SUBMIT_STABLE = 1U << 2;

    // io_uring_enter flags.
    public const uint IORING_ENTER_GETEVENTS = 1U << 0;

    // The SQ ring's flags word (written by the kernel).
    public const uint IORING_SQ_NEED_WAKEUP = 1U << 0;
    public const uint IORING_SQ_CQ_OVERFLOW = 1U << 1;
    public const uint IORING_SQ_TASKRUN = 1U << 2;

    // io_uring_sqe.opcode (enum io_uring_op).
    public const byte IORING_OP_NOP = 0;
    public const byte IORING_OP_READV = 1;
    public const byte IORING_OP_WRITEV = 2;
    public const byte IORING_OP_FSYNC = 3;
    public const byte IORING_OP_READ_FIXED = 4;
    public const byte IORING_OP_WRITE_FIXED = 5;
    public const byte IORING_OP_READ = 22;
    public const byte IORING_OP_WRITE = 23;

    // io_uring_sqe.flags.
    public const byte IOSQE_FIXED_FILE = 1 << 0;
    public const byte IOSQE_IO_DRAIN = 1 << 1;
    public const byte IOSQE_IO_LINK = 1 << 2;
    public const byte IOSQE_ASYNC = 1 << 4;

    /// <summary>io_uring_sqe.fsync_flags: fdatasync instead of fsync.</summary>
    public const uint IORING_FSYNC_DATASYNC = 1U << 0;

    // io_uring_register opcodes.
    public const uint IORING_REGISTER_BUFFERS = 0;
    public const uint IORING_UNREGISTER_BUFFERS = 1;
    public const uint IORING_REGISTER_EVENTFD = 4;
    public const uint IORING_UNREGISTER_EVENTFD = 5;
    public const uint IORING_REGISTER_PROBE = 8;

    /// <summary>io_uring_probe_op.flags: the opcode is supported.</summary>
    public const ushort IO_URING_OP_SUPPORTED = 1;

    // mmap offsets of the three shared regions.
    public const long IORING_OFF_SQ_RING = 0;
    public const long IORING_OFF_CQ_RING = 0x8000000;
    public const long IORING_OFF_SQES = 0x10000000;

    // syscall(2) is variadic in C; see Aio for why a fixed-argument prototype is safe on x86-64 and
    // arm64 (glibc's syscall() is assembly that moves the arguments into the kernel's registers).
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall2(long number, long a1, long a2);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall4(long number, long a1, long a2, long a3, long a4);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long syscall6(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    /// <summary>io_uring_setup(entries, &amp;params): the ring's fd, or -1/errno.</summary>
    public static int io_uring_setup(uint entries, io_uring_params* p) => (int)syscall2(SYS_io_uring_setup, entries, (long)p);

    /// <summary>io_uring_enter without a signal mask: SQEs consumed, or -1/errno.</summary>
    public static int io_uring_enter(int fd, uint toSubmit, uint minComplete, uint flags)
        => (int)syscall6(SYS_io_uring_enter, fd, toSubmit, minComplete, flags, 0, 0);

    /// <summary>io_uring_register: 0 (or an opcode-specific value), or -1/errno.</summary>
    public static int io_uring_register(int fd, uint opcode, void* arg, uint nrArgs)
        => (int)syscall4(SYS_io_uring_register, fd, opcode, (long)arg, nrArgs);
}

/// <summary>struct io_sqring_offsets: where the SQ ring's fields live in its mapping.</summary>
[CHeader("linux/io_uring.h")]
public struct io_sqring_offsets
{
    public uint head;
    public uint tail;
    public uint ring_mask;
    public uint ring_entries;
    public uint flags;
    public uint dropped;
    public uint array;
    public uint resv1;

    /// <summary>resv2 in 6.1 headers, user_addr since 6.5 (IORING_SETUP_NO_MMAP): the name differs, the place does not.</summary>
    [CField(Skip = true)]
    public ulong user_addr;
}

/// <summary>struct io_cqring_offsets: where the CQ ring's fields and CQEs live in its mapping.</summary>
[CHeader("linux/io_uring.h")]
public struct io_cqring_offsets
{
    public uint head;
    public uint tail;
    public uint ring_mask;
    public uint ring_entries;
    public uint overflow;
    public uint cqes;
    public uint flags;
    public uint resv1;

    /// <summary>resv2 in 6.1 headers, user_addr since 6.5: see <see cref="io_sqring_offsets.user_addr"/>.</summary>
    [CField(Skip = true)]
    public ulong user_addr;
}

/// <summary>struct io_uring_params: setup's input (entries, flags) and output (features, offsets).</summary>
[CHeader("linux/io_uring.h")]
public unsafe struct io_uring_params
{
    public uint sq_entries;
    public uint cq_entries;
    public uint flags;
    public uint sq_thread_cpu;
    public uint sq_thread_idle;
    public uint features;
    public uint wq_fd;

    /// <summary>Must be zero: the kernel refuses setup otherwise.</summary>
    public fixed uint resv[3];
    public io_sqring_offsets sq_off;
    public io_cqring_offsets cq_off;
}

/// <summary>
/// struct io_uring_sqe (64 bytes). The kernel's unions are flattened to the members we write:
/// <c>off</c>, <c>addr</c>, <c>rw_flags</c> (also <c>fsync_flags</c>), <c>buf_index</c>, <c>file_index</c>.
/// </summary>
[CHeader("linux/io_uring.h")]
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct io_uring_sqe
{
    [FieldOffset(0)] public byte opcode;
    [FieldOffset(1)] public byte flags;
    [FieldOffset(2)] public ushort ioprio;
    [FieldOffset(4)] public int fd;
    [FieldOffset(8)] public ulong off;
    [FieldOffset(16)] public ulong addr;
    [FieldOffset(24)] public uint len;
    /// <summary>RWF_* for reads and writes.</summary>
    [FieldOffset(28)] public uint rw_flags;
    /// <summary>IORING_FSYNC_DATASYNC for IORING_OP_FSYNC (same word as <see cref="rw_flags"/>).</summary>
    [FieldOffset(28)] public uint fsync_flags;
    /// <summary>Returned unchanged in the CQE: we store an op token here.</summary>
    [FieldOffset(32)] public ulong user_data;
    [FieldOffset(40)] public ushort buf_index;
    [FieldOffset(42)] public ushort personality;
    [FieldOffset(44)] public uint file_index;
    [FieldOffset(48)] public ulong addr3;
}

/// <summary>struct io_uring_cqe (16 bytes without IORING_SETUP_CQE32). <c>res</c> is bytes done or -errno.</summary>
[CHeader("linux/io_uring.h")]
public struct io_uring_cqe
{
    public ulong user_data;
    public int res;
    public uint flags;
}

/// <summary>struct io_uring_probe: header of IORING_REGISTER_PROBE's answer; <see cref="io_uring_probe_op"/>s follow.</summary>
[CHeader("linux/io_uring.h")]
public unsafe struct io_uring_probe
{
    public byte last_op;
    public byte ops_len;
    public ushort resv;
    public fixed uint resv2[3];
}

/// <summary>struct io_uring_probe_op: one opcode's entry (flags has IO_URING_OP_SUPPORTED).</summary>
[CHeader("linux/io_uring.h")]
public struct io_uring_probe_op
{
    public byte op;
    public byte resv;
    public ushort flags;
    public uint resv2;
}
