using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Simulation;

/// <summary>The few raw memory operations a simulated task performs on its restored address space.</summary>
internal static class SimMemory
{
    /// <summary>Maps anonymous private memory exactly at <paramref name="address"/>, never over an existing mapping.</summary>
    public static bool TryMapFixed(ulong address, ulong length, out string error)
    {
        var result = Libc.Mmap((nint)address, (nuint)length, ProtFlags.PROT_READ | ProtFlags.PROT_WRITE,
            MapFlags.MAP_PRIVATE | MapFlags.MAP_ANONYMOUS | MapFlags.MAP_FIXED_NOREPLACE, -1, 0);
        if (result == -1)
        {
            error = LinuxException.FromLast($"mmap(0x{address:x}, {length}, MAP_FIXED_NOREPLACE)").Message;
            return false;
        }

        if ((ulong)result != address)
        {
            // Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and treat the address as a hint.
            Libc.Munmap(result, (nuint)length);
            error = $"mmap placed 0x{address:x} at 0x{(ulong)result:x}";
            return false;
        }

        error = "";
        return true;
    }

    public static void Protect(ulong address, ulong length, uint prot)
    {
        if (Libc.Mprotect((nint)address, (nuint)length, (ProtFlags)prot) != 0)
        {
            LinuxException.ThrowLast($"mprotect(0x{address:x}, {length}, {prot})");
        }
    }

    /// <summary>Moves a mapping to a fresh address chosen by the kernel (mremap MAYMOVE|FIXED) and returns it.</summary>
    public static ulong RemapElsewhere(ulong address, ulong length)
    {
        var target = Libc.Mmap(0, (nuint)length, ProtFlags.PROT_NONE, MapFlags.MAP_PRIVATE | MapFlags.MAP_ANONYMOUS | MapFlags.MAP_NORESERVE, -1, 0);
        if (target == -1)
        {
            LinuxException.ThrowLast($"mmap({length}) for an mremap target");
        }

        var moved = Libc.Mremap((nint)address, (nuint)length, (nuint)length, MremapFlags.MREMAP_MAYMOVE | MremapFlags.MREMAP_FIXED, target);
        if (moved == -1)
        {
            LinuxException.ThrowLast($"mremap(0x{address:x}, {length}) to 0x{(ulong)target:x}");
        }

        return (ulong)moved;
    }

    public static void AdviseDontNeed(ulong address, ulong length)
    {
        if (Libc.Madvise((nint)address, (nuint)length, MadviseAdvice.MADV_DONTNEED) != 0)
        {
            LinuxException.ThrowLast($"madvise(0x{address:x}, {length}, MADV_DONTNEED)");
        }
    }

    public static void Unmap(ulong address, ulong length)
    {
        if (Libc.Munmap((nint)address, (nuint)length) != 0)
        {
            LinuxException.ThrowLast($"munmap(0x{address:x}, {length})");
        }
    }
}
