using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Images;

/// <summary>
/// A CRIU checkpoint directory: inventory, process tree, and per process its state, VMAs and pagemap.
/// Page data is read on demand through <see cref="Pages"/>; a <c>parent</c> symlink is followed lazily.
/// </summary>
/// <remarks>
/// Every image is opened through <see cref="ImageFileAccess"/>: regular files only, never through a symbolic link,
/// metadata bounded in size. The one link followed is <see cref="ParentLinkName"/> (CRIU's <c>--prev-images-dir</c>,
/// usually <c>../previous-dump</c>): it must lead to a directory, the chain is at most <see cref="MaxParentChain"/>
/// deep and may not loop, and the images inside a parent obey the same rules. Anything else that does not fit (a pid
/// out of range, a pid twice in pstree.img, overlapping VMAs) is an <see cref="ImageFormatException"/> naming the file.
/// </remarks>
public sealed class Checkpoint : IDisposable
{
    /// <summary>Name of the symlink CRIU creates for <c>--prev-images-dir</c>.</summary>
    public const string ParentLinkName = "parent";

    /// <summary>How many <see cref="ParentLinkName"/> links a chain may follow (CRIU's pre-dump chains are short).</summary>
    public const int MaxParentChain = 32;

    private readonly Dictionary<int, TaskImages> _byPid;
    private readonly Lazy<Checkpoint?> _parent;
    private readonly Lazy<CheckpointPageReader> _pages;
    private readonly IReadOnlyList<(ulong Device, ulong Inode)> _chain;

    private readonly bool _described;

    private Checkpoint(string directory, uint imgVersion, InventoryEntry inventory, IReadOnlyList<TaskImages> tasks,
        Dictionary<int, TaskImages> byPid, IReadOnlyList<(ulong Device, ulong Inode)> chain, bool described = false)
    {
        _described = described;
        Directory = directory;
        ImgVersion = imgVersion;
        Inventory = inventory;
        Tasks = tasks;
        _byPid = byPid;
        _chain = chain;
        _parent = new Lazy<Checkpoint?>(OpenParent, LazyThreadSafetyMode.ExecutionAndPublication);
        _pages = new Lazy<CheckpointPageReader>(() => new CheckpointPageReader(this), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The image directory.</summary>
    public string Directory { get; }

    /// <summary><c>InventoryEntry.img_version</c> (1 or 2).</summary>
    public uint ImgVersion { get; }

    /// <summary>The decoded inventory record.</summary>
    internal InventoryEntry Inventory { get; }

    /// <summary>Processes in pstree.img order.</summary>
    public IReadOnlyList<TaskImages> Tasks { get; }

    /// <summary>The checkpoint the <c>parent</c> symlink points to, opened on first use; null without one.</summary>
    public Checkpoint? Parent => _parent.Value;

    /// <summary>Random-access page reads for every task of this checkpoint (and its parents).</summary>
    public CheckpointPageReader Pages => _pages.Value;

    /// <summary>True for a checkpoint described by a source over the wire (<see cref="Describe"/>): no image file behind it.</summary>
    public bool IsDescribed => _described;

    /// <summary>
    /// A checkpoint whose images stay with another process (the source of the Akka transport), built from its metadata:
    /// the restore's model (pstree, VMAs, pagemap runs) without any image file. <paramref name="origin"/> stands for the
    /// directory in messages. Its pages cannot be read through <see cref="Pages"/>; it has no parent.
    /// </summary>
    /// <exception cref="ImageFormatException">A pid twice.</exception>
    internal static Checkpoint Describe(string origin, uint imgVersion, IReadOnlyList<TaskImages> tasks)
    {
        var byPid = new Dictionary<int, TaskImages>(tasks.Count);
        foreach (var task in tasks)
        {
            if (!byPid.TryAdd(task.Pid, task))
            {
                throw new ImageFormatException(origin, $"pid {task.Pid} is described twice (every process appears once)");
            }
        }

        return new Checkpoint(origin, imgVersion, new InventoryEntry { ImgVersion = imgVersion }, tasks, byPid, [], described: true);
    }

    /// <summary>Opens and validates the image set in <paramref name="imagesDir"/>. Page data is not read.</summary>
    /// <exception cref="ImageFormatException">Anything wrong with the directory or an image; the message names the file.</exception>
    public static Checkpoint Open(string imagesDir) => Open(imagesDir, []);

    private static Checkpoint Open(string imagesDir, IReadOnlyList<(ulong Device, ulong Inode)> descendants)
    {
        string directory = Path.GetFullPath(imagesDir);
        var identity = DirectoryIdentity(directory);
        if (descendants.Contains(identity))
        {
            throw new ImageFormatException(directory, $"the '{ParentLinkName}' chain leads back to a directory already in it (a loop)");
        }

        var chain = descendants.Append(identity).ToArray();
        string inventoryPath = Path.Combine(directory, "inventory.img");
        var inventoryImage = ImageFile.ReadInventory(inventoryPath);
        var inventory = ImageFile.ParseEntry(inventoryImage, 0, InventoryEntry.Parser);
        uint version = inventory.ImgVersion;
        if (version != ImageMagic.ImgVersionV1 && version != ImageMagic.ImgVersionV1_1)
        {
            throw new ImageFormatException(inventoryPath, $"unsupported img_version {version} (only 1 and 2 are known)");
        }

        string pstreePath = Path.Combine(directory, "pstree.img");
        var pstree = ImageFile.ParseAll(ImageFile.Read(pstreePath, ImageMagic.Pstree, version), PstreeEntry.Parser);
        var tasks = new List<TaskImages>(pstree.Count);
        var byPid = new Dictionary<int, TaskImages>(pstree.Count);
        for (int i = 0; i < pstree.Count; i++)
        {
            var process = pstree[i];
            int pid = Id(pstreePath, i, "pid", process.Pid);
            if (byPid.ContainsKey(pid))
            {
                throw new ImageFormatException(pstreePath, $"entry {i} repeats pid {pid} (every process appears once)");
            }

            var task = ReadTask(directory, version, pstreePath, i, pid, process);
            tasks.Add(task);
            byPid.Add(pid, task);
        }

        return new Checkpoint(directory, version, inventory, tasks, byPid, chain);
    }

    /// <summary>
    /// Refuses an image set whose PE_LAZY pages cannot all be served lazily (see
    /// <see cref="LazyRangeCalculator.CollectUnservableLazyRanges"/>): restoring it would leave those pages wrong.
    /// </summary>
    /// <exception cref="ImageFormatException">Names the task's pagemap, the first such ranges and the page count.</exception>
    public void RequireLazyPagesServable()
    {
        foreach (var task in Tasks)
        {
            if (task.UnservableLazyRanges.Count == 0)
            {
                continue;
            }

            ulong pages = task.UnservableLazyRanges.Aggregate(0UL, (sum, r) => sum + r.Pages);
            var shown = string.Join(", ", task.UnservableLazyRanges.Take(3).Select(r => $"0x{r.Start:x}-0x{r.End:x}"));
            var more = task.UnservableLazyRanges.Count > 3 ? $" and {task.UnservableLazyRanges.Count - 3} more range(s)" : "";
            throw new ImageFormatException(task.PagemapOrigin ?? $"{Directory}/pagemap-{task.Pid}.img",
                $"{pages} PE_LAZY page(s) of pid {task.Pid} at {shown}{more} lie outside every lazy-capable VMA of mm-{task.Pid}.img "
                + "(anonymous private, not locked, hugetlb or vDSO); the restorer skips PE_LAZY pages and registers only lazy-capable VMAs, so nothing would restore them");
        }
    }

    /// <summary>The task with image pid <paramref name="pid"/>; throws <see cref="KeyNotFoundException"/> naming the directory.</summary>
    public TaskImages GetTask(int pid) =>
        _byPid.TryGetValue(pid, out var task) ? task : throw new KeyNotFoundException($"{Directory}: no task with pid {pid} in pstree.img");

    /// <summary>The task with image pid <paramref name="pid"/>, if any.</summary>
    public bool TryGetTask(int pid, out TaskImages task) => _byPid.TryGetValue(pid, out task!);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_pages.IsValueCreated)
        {
            _pages.Value.Dispose();
        }

        if (_parent.IsValueCreated)
        {
            _parent.Value?.Dispose();
        }
    }

    private static TaskImages ReadTask(string directory, uint version, string pstreePath, int index, int pid, PstreeEntry process)
    {
        var state = TaskState.Unknown;
        string corePath = Path.Combine(directory, $"core-{pid}.img");
        var coreBytes = ImageFileAccess.TryReadAll(corePath, ImageFileAccess.MaxMetadataImageBytes);
        if (coreBytes is not null)
        {
            var core = ImageFile.ParseEntry(ImageFile.Parse(corePath, coreBytes, ImageFile.HeaderFor(ImageMagic.Core, version)), 0, CoreEntry.Parser);
            if (core.Tc is { HasTaskState: true } tc)
            {
                state = (TaskState)tc.TaskState;
            }
        }

        var threads = process.Threads.Select(t => Id(pstreePath, index, "thread id", t)).ToArray();
        int ppid = Id(pstreePath, index, "ppid", process.Ppid, allowZero: true);
        int pgid = Id(pstreePath, index, "pgid", process.Pgid, allowZero: true);
        int sid = Id(pstreePath, index, "sid", process.Sid, allowZero: true);
        string mmPath = Path.Combine(directory, $"mm-{pid}.img");
        string pagemapPath = Path.Combine(directory, $"pagemap-{pid}.img");
        var mmBytes = ImageFileAccess.TryReadAll(mmPath, ImageFileAccess.MaxMetadataImageBytes);
        if (state == TaskState.Dead && mmBytes is null)
        {
            using var pagemapFile = ImageFileAccess.TryOpenRegular(pagemapPath, out _);
            if (pagemapFile is null)
            {
                return new TaskImages(pid, ppid, pgid, sid, threads, state, [], [], null);
            }
        }

        var mm = ImageFile.ParseEntry(
            ImageFile.Parse(mmPath, mmBytes ?? throw new ImageFormatException(mmPath, "image file is missing"), ImageFile.HeaderFor(ImageMagic.Mm, version)),
            0, MmEntry.Parser);
        var vmas = new List<Vma>();
        var guards = new List<Vma>();
        foreach (var entry in mm.Vmas)
        {
            var vma = new Vma(entry.Start, entry.End, entry.Pgoff, entry.Shmid, entry.Prot, entry.Flags, entry.Status);
            if (vma.End < vma.Start || !PageGeometry.IsAligned(vma.Start) || !PageGeometry.IsAligned(vma.End))
            {
                throw new ImageFormatException(mmPath, $"VMA 0x{vma.Start:x}-0x{vma.End:x} is not a page-aligned range");
            }

            (vma.IsGuard ? guards : vmas).Add(vma);
        }

        vmas.Sort((a, b) => a.Start.CompareTo(b.Start));
        guards.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (int i = 1; i < vmas.Count; i++)
        {
            if (vmas[i].Start < vmas[i - 1].End)
            {
                throw new ImageFormatException(mmPath, $"VMA 0x{vmas[i].Start:x}-0x{vmas[i].End:x} overlaps VMA 0x{vmas[i - 1].Start:x}-0x{vmas[i - 1].End:x}");
            }
        }

        var pagemap = PagemapFile.Read(pagemapPath, version);
        ValidatePagesFile(directory, pagemap);
        return new TaskImages(pid, ppid, pgid, sid, threads, state, vmas, guards, pagemap);
    }

    /// <summary>A pid-like field of pstree.img entry <paramref name="index"/>: 1..int.MaxValue (0 too where allowed).</summary>
    private static int Id(string pstreePath, int index, string field, uint value, bool allowZero = false)
    {
        if (value > int.MaxValue || (value == 0 && !allowZero))
        {
            throw new ImageFormatException(pstreePath, $"entry {index}: {field} {value} is out of range (1..{int.MaxValue})");
        }

        return (int)value;
    }

    /// <summary>Device and inode of <paramref name="directory"/>, which must be a directory (links to one are followed).</summary>
    private static (ulong Device, ulong Inode) DirectoryIdentity(string directory)
    {
        var fd = Libc.Open(directory, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC);
        if (fd < 0)
        {
            var errno = LinuxException.LastErrno();
            throw new ImageFormatException(directory, errno switch
            {
                Errno.ENOENT => "image directory does not exist",
                Errno.ENOTDIR => "is not a directory",
                _ => $"image directory cannot be opened: {new LinuxException(errno, "open").Message}",
            });
        }

        using var handle = new SafeFdHandle(fd, ownsHandle: true);
        var status = ImageFileAccess.Status(handle, directory);
        return (status.Device, status.Inode);
    }

    private static void ValidatePagesFile(string directory, PagemapFile pagemap)
    {
        ulong needed = pagemap.PresentPages * PageGeometry.PageSize;
        if (needed == 0)
        {
            return;
        }

        string pagesPath = Path.Combine(directory, pagemap.PagesFileName);
        using var pages = ImageFileAccess.TryOpenRegular(pagesPath, out long length)
            ?? throw new ImageFormatException(pagesPath, $"pages file is missing; {pagemap.Path} needs {needed} bytes of page data");
        if ((ulong)length < needed)
        {
            throw new ImageFormatException(pagesPath, $"pages file too short: {length} bytes, {pagemap.Path} needs {needed} ({pagemap.PresentPages} PE_PRESENT pages)");
        }
    }

    private Checkpoint? OpenParent()
    {
        if (_described)
        {
            return null;
        }

        string link = Path.Combine(Directory, ParentLinkName);
        if (!Path.Exists(link) && new FileInfo(link).LinkTarget is null)
        {
            return null;
        }

        if (_chain.Count >= MaxParentChain)
        {
            throw new ImageFormatException(link, $"the '{ParentLinkName}' chain is longer than {MaxParentChain} image sets");
        }

        return Open(link, _chain);
    }
}
