using System.Globalization;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Uffd;

/// <summary>
/// What a descriptor received from the restorer really is, found without disturbing it: its <c>/proc/self/fd</c> link
/// names the file (a userfaultfd is <c>anon_inode:[userfaultfd]</c>), poll(2) answers POLLERR on a userfaultfd that
/// was never given UFFDIO_API (every kernel version), and <c>/proc/self/fdinfo</c> shows its features
/// (<c>API:\taa:FEATURES:IOCTLS</c>).
/// </summary>
/// <param name="Kind">The fd link's target, e.g. <c>anon_inode:[userfaultfd]</c> or <c>/dev/null</c>.</param>
/// <param name="IsUserfaultfd">True for a userfaultfd.</param>
/// <param name="ApiDone">True when UFFDIO_API was called on it (it can report and resolve faults).</param>
/// <param name="Features">The features enabled by UFFDIO_API (<see cref="UffdFeatures"/>), when fdinfo shows them.</param>
public readonly record struct UffdDescriptor(string Kind, bool IsUserfaultfd, bool ApiDone, ulong? Features)
{
    /// <summary>What <c>/proc/self/fd/N</c> of a userfaultfd points to.</summary>
    public const string UserfaultfdKind = "anon_inode:[userfaultfd]";

    /// <summary>UFFD_FEATURE_INITIALIZED: the kernel's internal mark of a completed UFFDIO_API, shown in fdinfo.</summary>
    private const ulong InitializedFeature = 1UL << 31;

    /// <summary>
    /// True when the task's memory changes (munmap, mremap, MADV_DONTNEED) are reported as UNMAP/REMAP/REMOVE events, so
    /// that a copy refused with ENOENT can only mean memory that was never registered. Unknown features count as
    /// reported, as CRIU requests them and every kernel CRIU 4 supports grants them.
    /// </summary>
    public bool ReportsMemoryChanges => Features is not { } features || (features & UffdFeatures.MemoryChangeEvents) == UffdFeatures.MemoryChangeEvents;

    /// <summary>Inspects <paramref name="fd"/> (it stays untouched and open).</summary>
    public static unsafe UffdDescriptor Inspect(SafeFdHandle fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        var number = fd.Fd.ToString(CultureInfo.InvariantCulture);
        string kind;
        try
        {
            kind = new FileInfo($"/proc/self/fd/{number}").LinkTarget ?? "unknown";
        }
        catch (IOException)
        {
            kind = "unknown";
        }

        if (kind != UserfaultfdKind)
        {
            return new UffdDescriptor(kind, false, false, null);
        }

        var poll = new PollFd { Fd = fd.Fd, Events = PollFd.POLLIN };
        var added = false;
        fd.DangerousAddRef(ref added);
        try
        {
            _ = Libc.Poll(&poll, 1, 0);
        }
        finally
        {
            fd.DangerousRelease();
        }

        var apiDone = (poll.REvents & PollFd.POLLERR) == 0;
        return new UffdDescriptor(kind, true, apiDone, apiDone ? ReadFeatures(number) : 0);
    }

    /// <summary>Why the daemon cannot serve a task through this descriptor, or null when it can.</summary>
    public string? Problem => !IsUserfaultfd
        ? $"the descriptor is not a userfaultfd (it is {Kind})"
        : !ApiDone ? "its userfaultfd was never given UFFDIO_API, so it can neither report nor resolve a fault" : null;

    private static ulong? ReadFeatures(string fd)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
            {
                if (!line.StartsWith("API:", StringComparison.Ordinal))
                {
                    continue;
                }

                var fields = line[4..].Trim().Split(':');
                if (fields.Length >= 2 && ulong.TryParse(fields[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var features))
                {
                    return features & ~InitializedFeature;
                }
            }
        }
        catch (IOException)
        {
            // fdinfo unreadable: features unknown
        }

        return null;
    }
}
