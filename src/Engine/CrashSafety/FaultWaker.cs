using System.Globalization;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// Wakes every thread that sleeps on a fault of a uffd taken over from a dead daemon. The kernel queues a fault message
/// once: a thread whose fault the dead daemon read but never served sleeps until a COPY, ZEROPAGE or WAKE covers its
/// page. One UFFDIO_WAKE over the whole user address space (from <c>vm.mmap_min_addr</c> to the x86_64 task size)
/// wakes them all, whatever REMAP moved; a woken thread whose page is still missing faults again, and that fault is
/// read afresh. Waking a thread that was not waiting changes nothing.
/// </summary>
public static class FaultWaker
{
    /// <summary>TASK_SIZE_MAX of x86_64 with 4-level page tables: 2^47 − one page.</summary>
    private const ulong TaskSize = (1UL << 47) - 4096;

    /// <summary>Wakes every faulting thread of <paramref name="uffd"/>; null on success, otherwise the reason.</summary>
    public static unsafe string? WakeAll(SafeFdHandle uffd)
    {
        ArgumentNullException.ThrowIfNull(uffd);
        var start = MinimumAddress();
        var range = new UffdioRange { Start = start, Length = TaskSize - start };
        if (Libc.Ioctl(uffd, UffdIoctls.UFFDIO_WAKE, &range) == 0)
        {
            return null;
        }

        return $"UFFDIO_WAKE 0x{start:x}-0x{TaskSize:x}: {LinuxException.LastErrno()}";
    }

    private static ulong MinimumAddress()
    {
        try
        {
            var value = ulong.Parse(File.ReadAllText("/proc/sys/vm/mmap_min_addr").Trim(), CultureInfo.InvariantCulture);
            return Math.Max(4096, (value + 4095) & ~4095UL);
        }
        catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
        {
            return 65536;
        }
    }
}
