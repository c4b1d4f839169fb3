using System.Runtime.InteropServices;

namespace Ggaoed.Native;

/// <summary>mmap (sys/mman.h): the packet rings are shared with the kernel through one mapping.</summary>
[CHeader("sys/mman.h")]
public static unsafe partial class Libc
{
    public const int PROT_NONE = 0;
    public const int PROT_READ = 1;
    public const int PROT_WRITE = 2;
    public const int MAP_SHARED = 0x01;
    public const int MAP_PRIVATE = 0x02;
    public const int MAP_ANONYMOUS = 0x20;
    public const int MAP_LOCKED = 0x2000;
    public const int MAP_POPULATE = 0x8000;

    [LibraryImport("libc", SetLastError = true)]
    public static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int munmap(void* addr, nuint length);
}
