using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Uffd;

/// <summary>
/// An anonymous private mapping owned by this process (mmap/munmap/madvise/mremap/mprotect). Used for uffd
/// registration targets in tests and for page buffers. Disposing unmaps it.
/// </summary>
public sealed class MappedRegion : IDisposable
{
    private MappedRegion(nint address, ulong length)
    {
        Address = address;
        Length = length;
    }

    /// <summary>Start address (page aligned).</summary>
    public nint Address { get; private set; }

    /// <summary>Length in bytes (page multiple).</summary>
    public ulong Length { get; private set; }

    /// <summary>True once unmapped.</summary>
    public bool IsUnmapped => Length == 0;

    /// <summary>Start address as the u64 the uffd ioctls take.</summary>
    public ulong Start => (ulong)Address;

    /// <summary>Maps <paramref name="length"/> bytes (rounded up to pages) of anonymous private memory.</summary>
    public static MappedRegion Map(ulong length, ProtFlags protection = ProtFlags.PROT_READ | ProtFlags.PROT_WRITE)
    {
        var rounded = RoundUp(length);
        var address = Libc.Mmap(0, (nuint)rounded, protection, MapFlags.MAP_PRIVATE | MapFlags.MAP_ANONYMOUS, -1, 0);
        if (address == Libc.MapFailed)
        {
            LinuxException.ThrowLast($"mmap(anonymous, 0x{rounded:x})");
        }

        return new MappedRegion(address, rounded);
    }

    /// <summary>
    /// Maps anonymous memory exactly at <paramref name="address"/> with MAP_FIXED_NOREPLACE (added to
    /// <paramref name="flags"/>). Returns null when something is already mapped there (EEXIST); throws otherwise.
    /// </summary>
    public static MappedRegion? MapFixedNoReplace(ulong address, ulong length, ProtFlags protection, MapFlags flags = MapFlags.MAP_PRIVATE)
    {
        if (!PageGeometry.IsAligned(address))
        {
            throw new ArgumentException($"Address 0x{address:x} is not page aligned.", nameof(address));
        }

        var rounded = RoundUp(length);
        var all = flags | MapFlags.MAP_ANONYMOUS | MapFlags.MAP_FIXED_NOREPLACE;
        var result = Libc.Mmap((nint)address, (nuint)rounded, protection, all, -1, 0);
        if (result == Libc.MapFailed)
        {
            var errno = LinuxException.LastErrno();
            if (errno == Errno.EEXIST)
            {
                return null;
            }

            throw new LinuxException(errno, $"mmap(0x{address:x}, 0x{rounded:x}, MAP_FIXED_NOREPLACE)");
        }

        if ((ulong)result != address)
        {
            // Kernels before 4.17 ignore the flag and treat the address as a hint.
            _ = Libc.Munmap(result, (nuint)rounded);
            return null;
        }

        return new MappedRegion(result, rounded);
    }

    /// <summary>A span over [offset, offset+length) of the region.</summary>
    public unsafe Span<byte> GetSpan(ulong offset, int length)
    {
        ThrowIfUnmapped();
        if (offset + (ulong)length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"[0x{offset:x}, +0x{length:x}) is outside the 0x{Length:x}-byte region.");
        }

        return new Span<byte>((byte*)Address + offset, length);
    }

    /// <summary>madvise over [offset, offset+length) (the whole region by default), e.g. MADV_DONTNEED.</summary>
    public void Madvise(MadviseAdvice advice, ulong offset = 0, ulong? length = null)
    {
        ThrowIfUnmapped();
        var len = length ?? Length - offset;
        CheckRange(offset, len);
        if (Libc.Madvise(Address + (nint)offset, (nuint)len, advice) < 0)
        {
            LinuxException.ThrowLast($"madvise(0x{Start + offset:x}, 0x{len:x}, {advice})");
        }
    }

    /// <summary>mprotect of the whole region.</summary>
    public void Protect(ProtFlags protection)
    {
        ThrowIfUnmapped();
        if (Libc.Mprotect(Address, (nuint)Length, protection) < 0)
        {
            LinuxException.ThrowLast($"mprotect(0x{Start:x}, 0x{Length:x}, {protection})");
        }
    }

    /// <summary>
    /// mremap to <paramref name="newLength"/> bytes; with <paramref name="newAddress"/> the region is moved there
    /// (MREMAP_MAYMOVE|MREMAP_FIXED), otherwise it may move (MREMAP_MAYMOVE). The region then tracks the new range.
    /// </summary>
    public void Remap(ulong newLength, ulong? newAddress = null)
    {
        ThrowIfUnmapped();
        var rounded = RoundUp(newLength);
        var flags = MremapFlags.MREMAP_MAYMOVE | (newAddress is null ? MremapFlags.None : MremapFlags.MREMAP_FIXED);
        var result = Libc.Mremap(Address, (nuint)Length, (nuint)rounded, flags, (nint)(newAddress ?? 0));
        if (result == Libc.MapFailed)
        {
            LinuxException.ThrowLast($"mremap(0x{Start:x}, 0x{Length:x} -> 0x{rounded:x})");
        }

        Address = result;
        Length = rounded;
    }

    /// <summary>munmap; idempotent.</summary>
    public void Unmap()
    {
        if (IsUnmapped)
        {
            return;
        }

        if (Libc.Munmap(Address, (nuint)Length) < 0)
        {
            LinuxException.ThrowLast($"munmap(0x{Start:x}, 0x{Length:x})");
        }

        Length = 0;
    }

    /// <inheritdoc />
    public void Dispose() => Unmap();

    /// <inheritdoc />
    public override string ToString() => IsUnmapped ? "region(unmapped)" : $"region(0x{Start:x}-0x{Start + Length:x})";

    private static ulong RoundUp(ulong length)
    {
        if (length == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), "A mapping needs at least one byte.");
        }

        return (length + PageGeometry.PageMask) & ~PageGeometry.PageMask;
    }

    private void CheckRange(ulong offset, ulong length)
    {
        if (!PageGeometry.IsAligned(offset) || offset + length > Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"[0x{offset:x}, +0x{length:x}) is not a page-aligned part of {this}.");
        }
    }

    private void ThrowIfUnmapped() => ObjectDisposedException.ThrowIf(IsUnmapped, this);
}
