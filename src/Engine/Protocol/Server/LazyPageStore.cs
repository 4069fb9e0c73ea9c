using LazyActors.Engine.Ranges;
using LazyActors.Engine.Images;

namespace LazyActors.Engine.Protocol.Server;

/// <summary>
/// The source side of a lazy restore: a checkpoint's lazy pages as <c>criu page-server --lazy-pages</c> serves them, from
/// a normal dump (lazy pages are PE_LAZY|PE_PRESENT with their bytes in pages-*.img) or from the lazy part <c>split</c>
/// writes. Lookups follow <see cref="LazyPagesIndex"/>; bytes come from read-only mappings of the pages files, so
/// serving copies nothing in this process. One store serves any number of sessions at once; dispose it after the last.
/// </summary>
public sealed class LazyPageStore : IDisposable
{
    private readonly bool _ownsCheckpoint;
    private readonly Dictionary<uint, Microsoft.Win32.SafeHandles.SafeFileHandle> _files = [];
    private readonly Lock _filesGate = new();
    private bool _disposed;

    /// <summary>Serves <paramref name="checkpoint"/>; disposing the store disposes it when <paramref name="ownsCheckpoint"/>.</summary>
    public LazyPageStore(Checkpoint checkpoint, bool ownsCheckpoint = false)
    {
        Checkpoint = checkpoint ?? throw new ArgumentNullException(nameof(checkpoint));
        _ownsCheckpoint = ownsCheckpoint;
        Index = LazyPagesIndex.Build(checkpoint);
        foreach (int pid in Index.Pids)
        {
            ServedPages += Index.RunsOf(pid).Where(r => r.HasData).Aggregate(0UL, (sum, r) => sum + r.NrPages);
        }
    }

    /// <summary>The checkpoint served.</summary>
    public Checkpoint Checkpoint { get; }

    /// <summary>Where each GET is answered from.</summary>
    public LazyPagesIndex Index { get; }

    /// <summary>Lazy pages with data, over all tasks.</summary>
    public ulong ServedPages { get; }

    /// <summary>Opens the image directory <paramref name="imagesDir"/> (read-only) and serves it.</summary>
    /// <exception cref="ImageFormatException">The images are unreadable; the message names the file.</exception>
    public static LazyPageStore Open(string imagesDir) => new(Checkpoint.Open(imagesDir), ownsCheckpoint: true);

    /// <summary>
    /// Looks a GET up. When found, <paramref name="data"/> is the address of its (clamped) bytes in a mapping of the pages
    /// file, valid until the store is disposed.
    /// </summary>
    /// <exception cref="ImageFormatException">The pages file is shorter than its pagemap says.</exception>
    public PageLookup Find(ulong dstId, ulong vaddr, ulong nrPages, out nint data)
    {
        data = 0;
        var lookup = Index.Find(dstId, vaddr, nrPages);
        if (lookup.Result != PageLookupResult.Found)
        {
            return lookup;
        }

        long bytes = (long)lookup.Pages << PageGeometry.PageShift;
        if (!Checkpoint.Pages.TryGetMappedPagesFileRange(lookup.Pid, lookup.PagesFileOffset, bytes, out data))
        {
            var task = Checkpoint.GetTask(lookup.Pid);
            throw new ImageFormatException(
                Path.Combine(Checkpoint.Directory, task.PagemapFile!.PagesFileName),
                $"pages file too short for pid {lookup.Pid} 0x{vaddr:x}+{lookup.Pages}p at offset {lookup.PagesFileOffset}");
        }

        return lookup;
    }

    /// <summary>
    /// The open pages file of task <paramref name="pid"/> (read-only, kept open with the store), for a session that lets
    /// the kernel send the bytes (sendfile) at the offset a lookup gave. False when the task has no pages file.
    /// </summary>
    public bool TryGetPagesFile(int pid, out Microsoft.Win32.SafeHandles.SafeFileHandle file)
    {
        file = null!;
        if (!Checkpoint.TryGetTask(pid, out var task) || task.PresentPages == 0)
        {
            return false;
        }

        lock (_filesGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_files.TryGetValue(task.PagesId, out var open))
            {
                open = File.OpenHandle(Path.Combine(Checkpoint.Directory, PagemapFile.PagesFileNameFor(task.PagesId)), FileMode.Open, FileAccess.Read, FileShare.Read);
                _files.Add(task.PagesId, open);
            }

            file = open;
            return true;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_filesGate)
        {
            _disposed = true;
            foreach (var file in _files.Values)
            {
                file.Dispose();
            }

            _files.Clear();
        }

        if (_ownsCheckpoint)
        {
            Checkpoint.Dispose();
        }
    }
}
