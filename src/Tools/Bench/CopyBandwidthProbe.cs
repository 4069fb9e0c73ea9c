using System.Diagnostics;
using System.Runtime.CompilerServices;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Tools.Bench;

/// <summary>
/// Raw UFFDIO_COPY bandwidth: a fresh, never-touched anonymous region registered MISSING on a fresh userfaultfd is
/// filled chunk after chunk from one pre-faulted source buffer of the chunk's size. Only the copy loop is timed (not
/// mmap, registration, source preparation or munmap); the destination pages are allocated by the kernel inside the
/// ioctl, exactly as when a daemon serves a restored task.
/// </summary>
public static class CopyBandwidthProbe
{
    /// <summary>Bandwidth in bytes per second of each repetition (each on a new region and a new uffd).</summary>
    /// <param name="chunkBytes">Bytes per UFFDIO_COPY (a page multiple dividing <paramref name="regionBytes"/>).</param>
    /// <param name="regionBytes">Bytes copied per repetition.</param>
    /// <param name="repetitions">Number of timed repetitions.</param>
    /// <exception cref="LinuxException">The kernel refused userfaultfd, registration or a copy.</exception>
    public static double[] Measure(int chunkBytes, long regionBytes, int repetitions)
    {
        if (chunkBytes <= 0 || chunkBytes % (int)PageGeometry.PageSize != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkBytes), chunkBytes, "The chunk must be a positive multiple of 4096 bytes.");
        }

        if (regionBytes < chunkBytes || regionBytes % chunkBytes != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(regionBytes), regionBytes, $"The region must be a positive multiple of the {chunkBytes}-byte chunk.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(repetitions, 1);
        using var source = MappedRegion.Map((ulong)chunkBytes);
        FillSource(source);
        var results = new double[repetitions];
        for (int i = 0; i < repetitions; i++)
        {
            results[i] = regionBytes / OneRepetition(source, chunkBytes, regionBytes).TotalSeconds;
        }

        return results;
    }

    /// <summary>Writes a non-zero pattern into every page so the source is resident (not the shared zero page).</summary>
    internal static void FillSource(MappedRegion source)
    {
        for (ulong offset = 0; offset < source.Length; offset += PageGeometry.PageSize)
        {
            var page = source.GetSpan(offset, (int)PageGeometry.PageSize);
            page.Fill((byte)(0xA5 ^ PageGeometry.PagesIn(offset)));
        }
    }

    private static TimeSpan OneRepetition(MappedRegion source, int chunkBytes, long regionBytes)
    {
        using var uffd = UserFaultFd.Create(nonBlocking: true);
        uffd.Api(0);
        using var destination = MappedRegion.Map((ulong)regionBytes);
        uffd.Register(destination.Start, destination.Length, RegisterMode.Missing);
        return CopyAll(uffd, destination.Start, source.Address, (ulong)chunkBytes, (ulong)regionBytes);
    }

    // Fully optimised from the first call: a tier-0 loop would be measured otherwise.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static TimeSpan CopyAll(UserFaultFd uffd, ulong destination, nint source, ulong chunk, ulong total)
    {
        long start = Stopwatch.GetTimestamp();
        for (ulong offset = 0; offset < total; offset += chunk)
        {
            var result = uffd.Copy(destination + offset, source, chunk);
            if (!result.IsSuccess || (ulong)result.Bytes != chunk)
            {
                throw new LinuxException(result.Error, $"UFFDIO_COPY 0x{chunk:x} bytes to 0x{destination + offset:x} (copied {result.Bytes})");
            }
        }

        return Stopwatch.GetElapsedTime(start);
    }
}
