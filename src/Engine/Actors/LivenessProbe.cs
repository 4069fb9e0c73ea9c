using System.Globalization;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors;

/// <summary>
/// Finds out whether the task behind a uffd still exists, without its host pid (which the handshake does not give, nor
/// a FORK event for a child): UFFDIO_ZEROPAGE of one page answers ESRCH once the task's mm is gone, whatever the page.
/// The page probed is never pending nor in flight in the task's book, so the probe cannot hide data: where it is not
/// mapped or not registered the kernel answers ENOENT and changes nothing; where it is registered and missing it
/// installs the zero page a fault there would get from the daemon anyway (not pending = zero page); where a page is
/// present it answers EEXIST. It runs under the uffd's gate like every copy, so an event read but not applied yet (a
/// remap that moved pending memory onto the probed page) holds it back with EAGAIN. Single-threaded: the task actor's.
/// </summary>
internal sealed class LivenessProbe
{
    /// <summary>The last page below 2^47, the top of the usual x86_64 user address space: rarely mapped.</summary>
    public const ulong HighCandidate = (1UL << 47) - (2 * PageGeometry.PageSize);

    private static readonly Lazy<ulong> LowCandidate = new(ReadLowCandidate);

    private readonly IUffd _uffd;
    private readonly TaskRangeBook _book;
    private readonly HashSet<ulong> _refused = [];

    public LivenessProbe(IUffd uffd, TaskRangeBook book)
    {
        _uffd = uffd;
        _book = book;
    }

    /// <summary>Probes once: gone (with the reason), alive, or disabled because every candidate page is refused.</summary>
    public LivenessOutcome Probe()
    {
        foreach (var page in Candidates())
        {
            if (_refused.Contains(page) || _book.Pending.Contains(page) || _book.InFlight.Contains(page))
            {
                continue;
            }

            var result = _uffd.ZeroPage(page, PageGeometry.PageSize);
            switch (result.Error)
            {
                case Errno.ESRCH or Errno.ENOSPC:
                    return LivenessOutcome.OfGone($"exited: the liveness probe (UFFDIO_ZEROPAGE at 0x{page:x}) answered {result.Error}, its memory is gone");
                case Errno.EINVAL:
                    // Outside this task's address space (a 32-bit task, a high mmap_min_addr): try another page.
                    _refused.Add(page);
                    continue;
                default:
                    return LivenessOutcome.Alive;
            }
        }

        return _refused.Count >= 2
            ? LivenessOutcome.OfDisabled($"UFFDIO_ZEROPAGE refused every probe page ({string.Join(", ", _refused.Select(p => $"0x{p:x}"))}) with EINVAL")
            : LivenessOutcome.Alive;
    }

    private IEnumerable<ulong> Candidates()
    {
        yield return HighCandidate;
        yield return LowCandidate.Value;
        if (_book.Pending.TryPeekLowest(out var lowest) && lowest.Start >= LowCandidate.Value + PageGeometry.PageSize)
        {
            yield return lowest.Start - PageGeometry.PageSize;
        }
    }

    /// <summary>The lowest page a task may map (vm.mmap_min_addr, at least 64 KiB).</summary>
    private static ulong ReadLowCandidate()
    {
        ulong least = 0x10000;
        try
        {
            var text = File.ReadAllText("/proc/sys/vm/mmap_min_addr").Trim();
            if (ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var configured))
            {
                least = Math.Max(least, (configured + PageGeometry.PageMask) & ~PageGeometry.PageMask);
            }
        }
        catch (IOException)
        {
            // not readable: the default
        }
        catch (UnauthorizedAccessException)
        {
            // not readable: the default
        }

        return least;
    }
}
