using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Images;

/// <summary>
/// A CRIU checkpoint directory: inventory, process tree, and per process its state, VMAs and pagemap.
/// Page data is read on demand through <see cref="Pages"/>; a <c>parent</c> symlink is followed lazily.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    /// <summary>Name of the symlink CRIU creates for <c>--prev-images-dir</c>.</summary>
    public const string ParentLinkName = "parent";

    private readonly Dictionary<int, TaskImages> _byPid;
    private readonly Lazy<Checkpoint?> _parent;
    private readonly Lazy<CheckpointPageReader> _pages;

    private Checkpoint(string directory, uint imgVersion, InventoryEntry inventory, IReadOnlyList<TaskImages> tasks)
    {
        Directory = directory;
        ImgVersion = imgVersion;
        Inventory = inventory;
        Tasks = tasks;
        _byPid = tasks.ToDictionary(t => t.Pid);
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

    /// <summary>Opens and validates the image set in <paramref name="imagesDir"/>. Page data is not read.</summary>
    public static Checkpoint Open(string imagesDir)
    {
        string directory = Path.GetFullPath(imagesDir);
        if (!System.IO.Directory.Exists(directory))
        {
            throw new ImageFormatException(directory, "image directory does not exist");
        }

        string inventoryPath = Path.Combine(directory, "inventory.img");
        var inventoryImage = ImageFile.ReadInventory(inventoryPath);
        var inventory = ImageFile.ParseEntry(inventoryImage, 0, InventoryEntry.Parser);
        uint version = inventory.ImgVersion;
        if (version != ImageMagic.ImgVersionV1 && version != ImageMagic.ImgVersionV1_1)
        {
            throw new ImageFormatException(inventoryPath, $"unsupported img_version {version} (only 1 and 2 are known)");
        }

        var pstree = ImageFile.ParseAll(ImageFile.Read(Path.Combine(directory, "pstree.img"), ImageMagic.Pstree, version), PstreeEntry.Parser);
        var tasks = new List<TaskImages>(pstree.Count);
        foreach (var process in pstree)
        {
            tasks.Add(ReadTask(directory, version, process));
        }

        return new Checkpoint(directory, version, inventory, tasks);
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

    private static TaskImages ReadTask(string directory, uint version, PstreeEntry process)
    {
        int pid = checked((int)process.Pid);
        var state = TaskState.Unknown;
        string corePath = Path.Combine(directory, $"core-{pid}.img");
        if (File.Exists(corePath))
        {
            var core = ImageFile.ParseEntry(ImageFile.Read(corePath, ImageMagic.Core, version), 0, CoreEntry.Parser);
            if (core.Tc is { HasTaskState: true } tc)
            {
                state = (TaskState)tc.TaskState;
            }
        }

        var threads = process.Threads.Select(t => checked((int)t)).ToArray();
        string mmPath = Path.Combine(directory, $"mm-{pid}.img");
        string pagemapPath = Path.Combine(directory, $"pagemap-{pid}.img");
        if (state == TaskState.Dead && !File.Exists(mmPath) && !File.Exists(pagemapPath))
        {
            return new TaskImages(pid, (int)process.Ppid, (int)process.Pgid, (int)process.Sid, threads, state, [], [], null);
        }

        var mm = ImageFile.ParseEntry(ImageFile.Read(mmPath, ImageMagic.Mm, version), 0, MmEntry.Parser);
        var vmas = new List<Vma>();
        var guards = new List<Vma>();
        foreach (var entry in mm.Vmas)
        {
            var vma = new Vma(entry.Start, entry.End, entry.Pgoff, entry.Shmid, entry.Prot, entry.Flags, entry.Status);
            if (vma.End < vma.Start)
            {
                throw new ImageFormatException(mmPath, $"VMA 0x{vma.Start:x}-0x{vma.End:x} ends before it starts");
            }

            (vma.IsGuard ? guards : vmas).Add(vma);
        }

        vmas.Sort((a, b) => a.Start.CompareTo(b.Start));
        guards.Sort((a, b) => a.Start.CompareTo(b.Start));

        var pagemap = PagemapFile.Read(pagemapPath, version);
        ValidatePagesFile(directory, pagemap);
        return new TaskImages(pid, (int)process.Ppid, (int)process.Pgid, (int)process.Sid, threads, state, vmas, guards, pagemap);
    }

    private static void ValidatePagesFile(string directory, PagemapFile pagemap)
    {
        ulong needed = pagemap.PresentPages * PageGeometry.PageSize;
        if (needed == 0)
        {
            return;
        }

        string pagesPath = Path.Combine(directory, pagemap.PagesFileName);
        if (!File.Exists(pagesPath))
        {
            throw new ImageFormatException(pagesPath, $"pages file is missing; {pagemap.Path} needs {needed} bytes of page data");
        }

        long length = new FileInfo(pagesPath).Length;
        if ((ulong)length < needed)
        {
            throw new ImageFormatException(pagesPath, $"pages file too short: {length} bytes, {pagemap.Path} needs {needed} ({pagemap.PresentPages} PE_PRESENT pages)");
        }
    }

    private Checkpoint? OpenParent()
    {
        string link = Path.Combine(Directory, ParentLinkName);
        return System.IO.Directory.Exists(link) ? Open(link) : null;
    }
}
