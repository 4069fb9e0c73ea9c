using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Images;

/// <summary>
/// Random-access reads of page data by (pid, dump-time address). Run lookup is a binary search; pages files are
/// memory-mapped read-only on first use, never loaded whole. PE_PARENT runs are resolved through the parent chain.
/// Thread-safe.
/// </summary>
public sealed class CheckpointPageReader : IDisposable
{
    private const int PageSize = (int)PageGeometry.PageSize;

    private readonly Checkpoint _checkpoint;
    private readonly Dictionary<uint, PagesFileMapping> _mappings = [];
    private readonly Lock _gate = new();
    private bool _disposed;

    internal CheckpointPageReader(Checkpoint checkpoint)
    {
        _checkpoint = checkpoint;
    }

    /// <summary>
    /// Copies <paramref name="nrPages"/> pages of task <paramref name="pid"/> starting at <paramref name="vaddr"/> into
    /// <paramref name="dest"/> (exactly <c>nrPages * 4096</c> bytes). Pages in no pagemap entry are zero-filled.
    /// </summary>
    /// <exception cref="PageDataUnavailableException">A page is PE_LAZY without PE_PRESENT (its data is on the source host),
    /// or PE_PARENT without a parent image set holding it.</exception>
    public PageReadResult Read(int pid, ulong vaddr, int nrPages, Span<byte> dest)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nrPages);
        if (dest.Length != (long)nrPages * PageSize)
        {
            throw new ArgumentException($"dest is {dest.Length} bytes, expected {nrPages} pages = {(long)nrPages * PageSize}", nameof(dest));
        }

        if (vaddr % PageSize != 0)
        {
            throw new ArgumentException($"address 0x{vaddr:x} is not page aligned", nameof(vaddr));
        }

        var task = _checkpoint.GetTask(pid);
        var runs = task.Pagemap;
        int withData = 0;
        int absent = 0;
        ulong address = vaddr;
        int runIndex = task.FindFirstRunEndingAfter(address);
        int done = 0;
        while (done < nrPages)
        {
            var chunk = dest[(done * PageSize)..];
            if (runIndex >= runs.Count || runs[runIndex].Vaddr > address)
            {
                // A gap: pages in no entry read as zeros.
                ulong gapEnd = runIndex < runs.Count ? runs[runIndex].Vaddr : ulong.MaxValue;
                int count = (int)Math.Min((ulong)(nrPages - done), (gapEnd - address) / PageSize);
                chunk[..(count * PageSize)].Clear();
                absent += count;
                done += count;
                address += (ulong)count * PageSize;
                continue;
            }

            var run = runs[runIndex];
            int inRun = (int)Math.Min((ulong)(nrPages - done), (run.End - address) / PageSize);
            var target = chunk[..(inRun * PageSize)];
            if (run.IsPresent)
            {
                long offset = run.PagesFileOffset + (long)(address - run.Vaddr);
                MappingFor(task).Copy(offset, target);
            }
            else if ((run.Flags & PageFlags.Parent) != 0)
            {
                var parent = _checkpoint.Parent
                    ?? throw new PageDataUnavailableException(pid, address, task.PagemapFile!.Path, "PE_PARENT entry but the image set has no parent");
                if (!parent.TryGetTask(pid, out _))
                {
                    throw new PageDataUnavailableException(pid, address, task.PagemapFile!.Path, $"PE_PARENT entry but parent {parent.Directory} has no pid {pid}");
                }

                var fromParent = parent.Pages.Read(pid, address, inRun, target);
                if (fromParent.PagesAbsent != 0)
                {
                    throw new PageDataUnavailableException(pid, address, task.PagemapFile!.Path, $"PE_PARENT entry but parent {parent.Directory} has no data for {fromParent.PagesAbsent} of its pages");
                }
            }
            else
            {
                string why = run.IsLazy
                    ? "PE_LAZY entry without PE_PRESENT (lazy dump: the data is on the source host's page server)"
                    : $"entry flags {(uint)run.Flags} carry no data";
                throw new PageDataUnavailableException(pid, address, task.PagemapFile!.Path, why);
            }

            withData += inRun;
            done += inRun;
            address += (ulong)inRun * PageSize;
            runIndex++;
        }

        return new PageReadResult(withData, absent);
    }

    /// <summary>
    /// Zero-copy access: when [<paramref name="vaddr"/>, +<paramref name="nrPages"/> pages) lies inside one PE_PRESENT
    /// entry, returns the address of its bytes in a read-only mapping of the pages file (valid until this reader is
    /// disposed). Otherwise false.
    /// </summary>
    public bool TryGetMappedPages(int pid, ulong vaddr, int nrPages, out nint address)
    {
        address = 0;
        if (nrPages <= 0 || vaddr % PageSize != 0 || !_checkpoint.TryGetTask(pid, out var task))
        {
            return false;
        }

        int index = task.FindRun(vaddr);
        if (index < 0)
        {
            return false;
        }

        var run = task.Pagemap[index];
        ulong end = vaddr + (ulong)nrPages * PageSize;
        if (!run.IsPresent || end > run.End || end < vaddr)
        {
            return false;
        }

        var mapping = MappingFor(task);
        long offset = run.PagesFileOffset + (long)(vaddr - run.Vaddr);
        if (offset + (long)nrPages * PageSize > mapping.Length)
        {
            return false;
        }

        address = mapping.AddressOf(offset);
        return true;
    }

    /// <summary>
    /// Zero-copy access to raw bytes of task <paramref name="pid"/>'s <c>pages-&lt;id&gt;.img</c>: the address of
    /// [<paramref name="offset"/>, +<paramref name="length"/>) in a read-only mapping of the file (valid until this
    /// reader is disposed). For callers that know offsets from <see cref="PagemapRun.PagesFileOffset"/> and serve ranges
    /// spanning adjacent PE_PRESENT entries (a page server). False when the task has no pages file or the range is
    /// outside it.
    /// </summary>
    public bool TryGetMappedPagesFileRange(int pid, long offset, long length, out nint address)
    {
        address = 0;
        if (offset < 0 || length <= 0 || !_checkpoint.TryGetTask(pid, out var task) || task.PresentPages == 0)
        {
            return false;
        }

        var mapping = MappingFor(task);
        if (offset > mapping.Length - length)
        {
            return false;
        }

        address = mapping.AddressOf(offset);
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var mapping in _mappings.Values)
            {
                mapping.Dispose();
            }

            _mappings.Clear();
        }
    }

    private PagesFileMapping MappingFor(TaskImages task)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_mappings.TryGetValue(task.PagesId, out var mapping))
            {
                mapping = new PagesFileMapping(Path.Combine(_checkpoint.Directory, PagemapFile.PagesFileNameFor(task.PagesId)));
                _mappings.Add(task.PagesId, mapping);
            }

            return mapping;
        }
    }
}
