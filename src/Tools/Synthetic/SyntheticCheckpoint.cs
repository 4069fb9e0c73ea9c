using System.Buffers.Binary;
using System.Runtime.InteropServices;
using LazyActors.Engine.Images;
using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;

namespace LazyActors.Tools.Synthetic;

/// <summary>
/// Writes a synthetic CRIU 4.2 checkpoint (inventory v2, pstree, core, mm, pagemap, pages) with the fixtures' page
/// pattern: u64 word i of buffer b of task t = (seed &lt;&lt; 48) | (t &lt;&lt; 40) | (b &lt;&lt; 32) | i.
/// Per task: buffer 0 is a MAP_LOCKED anonymous VMA (PE_PRESENT, not lazy); buffers 1..n are lazy-capable anonymous
/// VMAs in the 0x7e00_0000_0000 region (buffers 1 and 2 adjacent, so entries can span them) with never-dumped holes
/// ('.'), all-zero pages ('Z') and pattern pages ('P') dumped PE_LAZY|PE_PRESENT. Entries are cut at
/// <see cref="SyntheticCheckpointOptions.MaxEntryPages"/>. Pages are streamed one entry at a time.
/// </summary>
public static class SyntheticCheckpoint
{
    /// <summary>First pid; task t has pid <c>FirstPid + t</c>.</summary>
    public const int FirstPid = 1000;

    /// <summary>Lowest address used for the generated VMAs.</summary>
    public const ulong RegionBase = 0x7e00_0000_0000;

    /// <summary>Address distance between two tasks' VMAs (when they do not share addresses).</summary>
    public const ulong TaskStride = 0x10_0000_0000;

    private const int PageSize = (int)PageGeometry.PageSize;
    private const uint AnonPrivate = MapFlags.Private | MapFlags.Anonymous;
    private const uint ReadWrite = 0x3;

    /// <summary>Computes the layout without writing anything.</summary>
    public static SyntheticLayout Plan(SyntheticCheckpointOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Tasks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BytesPerTask, PageSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxEntryPages, 1);
        var tasks = new List<SyntheticTask>(options.Tasks);
        for (int t = 0; t < options.Tasks; t++)
        {
            tasks.Add(PlanTask(options, t));
        }

        return new SyntheticLayout(options.Seed, tasks, DepthFirstOrder(options.Tasks));
    }

    /// <summary>Writes the checkpoint into <paramref name="directory"/> (created if needed) and returns its layout.</summary>
    public static SyntheticLayout Write(string directory, SyntheticCheckpointOptions options)
    {
        var layout = Plan(options);
        Directory.CreateDirectory(directory);
        WriteInventory(directory);
        using (var pstree = ImageFileWriter.Create(Path.Combine(directory, "pstree.img"), ImageMagic.Pstree))
        {
            foreach (int index in layout.PstreeOrder)
            {
                var task = layout.Tasks[index];
                var entry = new PstreeEntry { Pid = (uint)task.Pid, Ppid = (uint)task.Ppid, Pgid = FirstPid, Sid = FirstPid };
                entry.Threads.Add((uint)task.Pid);
                pstree.WriteEntry(entry);
            }
        }

        var buffer = new byte[options.MaxEntryPages * PageSize];
        foreach (var task in layout.Tasks)
        {
            WriteCore(directory, task);
            WriteMm(directory, task);
            WritePagemapAndPages(directory, layout.Seed, task, buffer);
        }

        return layout;
    }

    /// <summary>Fills <paramref name="dest"/> (one page) with page <paramref name="page"/> of buffer <paramref name="buffer"/> of task <paramref name="task"/>.</summary>
    public static void FillPatternPage(ushort seed, int task, int buffer, long page, Span<byte> dest)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(dest[..PageSize]);
        ulong high = ((ulong)seed << 48) | ((ulong)(uint)task << 40) | ((ulong)(uint)buffer << 32);
        ulong first = (ulong)page * (PageSize / 8);
        for (int k = 0; k < words.Length; k++)
        {
            ulong value = high | (uint)(first + (ulong)k);
            words[k] = BitConverter.IsLittleEndian ? value : BinaryPrimitives.ReverseEndianness(value);
        }
    }

    private static SyntheticTask PlanTask(SyntheticCheckpointOptions options, int t)
    {
        ulong cursor = RegionBase + (options.SameAddressesForAllTasks ? 0 : (ulong)t * TaskStride);
        var buffers = new List<SyntheticBuffer>();
        var vmas = new List<Vma>();
        if (options.LockedPages > 0)
        {
            buffers.Add(new SyntheticBuffer(0, cursor, new string('P', options.LockedPages), Lazy: false));
            vmas.Add(new Vma(cursor, cursor + (ulong)options.LockedPages * PageSize, 0, 0, ReadWrite, AnonPrivate | MapFlags.Locked, VmaStatus.Regular | VmaStatus.AnonPrivate));
            cursor = vmas[^1].End + 16 * PageSize;
        }

        long totalPages = (options.BytesPerTask + PageSize - 1) / PageSize;
        int count = (int)Math.Max(1, Math.Min(options.LazyVmasPerTask, totalPages));
        long remaining = totalPages;
        for (int b = 1; b <= count; b++)
        {
            long pages = b == count ? remaining : Math.Max(1, remaining / 2);
            remaining -= pages;
            string letters = PlanLetters(options, t, b, pages);
            buffers.Add(new SyntheticBuffer(b, cursor, letters, Lazy: true));
            vmas.Add(new Vma(cursor, cursor + (ulong)pages * PageSize, 0, 0, ReadWrite, AnonPrivate, VmaStatus.Regular | VmaStatus.AnonPrivate));

            // Buffers 1 and 2 are adjacent VMAs (an entry may span both); later ones follow a 16-page gap.
            cursor = vmas[^1].End + (b == 1 ? 0UL : 16UL * PageSize);
        }

        return new SyntheticTask(t, FirstPid + t, t == 0 ? 0 : FirstPid + (t - 1) / 2, (uint)(t + 1), buffers, vmas, PlanPagemap(options, buffers));
    }

    private static string PlanLetters(SyntheticCheckpointOptions options, int t, int b, long pages)
    {
        var letters = new char[pages];
        for (long p = 0; p < pages; p++)
        {
            bool hole = options.HoleBlockOneIn > 0 && Mix(options.Seed, t, b, p / 16, 1) % (ulong)options.HoleBlockOneIn == 0;
            bool zero = options.ZeroPageOneIn > 0 && Mix(options.Seed, t, b, p, 2) % (ulong)options.ZeroPageOneIn == 0;
            letters[p] = hole ? '.' : zero ? 'Z' : 'P';
        }

        return new string(letters);
    }

    private static List<PagemapRun> PlanPagemap(SyntheticCheckpointOptions options, List<SyntheticBuffer> buffers)
    {
        var runs = new List<PagemapRun>();
        long offset = 0;
        ulong runStart = 0;
        ulong runPages = 0;
        var runFlags = PageFlags.None;

        void Flush()
        {
            if (runPages > 0)
            {
                runs.Add(new PagemapRun(runStart, runPages, runFlags, offset));
                offset += (long)runPages * PageSize;
                runPages = 0;
            }
        }

        foreach (var buffer in buffers)
        {
            var flags = buffer.Lazy ? PageFlags.Lazy | PageFlags.Present : PageFlags.Present;
            for (int p = 0; p < buffer.Layout.Length; p++)
            {
                ulong address = buffer.Address + (ulong)p * PageSize;
                if (buffer.Layout[p] == '.')
                {
                    Flush();
                    continue;
                }

                bool extends = runPages > 0 && runFlags == flags && runStart + runPages * PageSize == address && runPages < (ulong)options.MaxEntryPages;
                if (!extends)
                {
                    Flush();
                    runStart = address;
                    runFlags = flags;
                }

                runPages++;
            }
        }

        Flush();
        return runs;
    }

    private static ulong Mix(ushort seed, int t, int b, long index, int salt)
    {
        ulong z = ((ulong)seed << 48) ^ ((ulong)(uint)t << 36) ^ ((ulong)(uint)b << 28) ^ (ulong)index ^ ((ulong)(uint)salt << 60);
        z += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    private static int[] DepthFirstOrder(int tasks)
    {
        var order = new List<int>(tasks);
        var stack = new Stack<int>();
        stack.Push(0);
        while (stack.Count > 0)
        {
            int t = stack.Pop();
            order.Add(t);
            for (int child = 2 * t + 2; child >= 2 * t + 1; child--)
            {
                if (child < tasks)
                {
                    stack.Push(child);
                }
            }
        }

        return order.ToArray();
    }

    private static void WriteInventory(string directory)
    {
        var inventory = new InventoryEntry
        {
            ImgVersion = ImageMagic.ImgVersionV1_1,
            FdinfoPerId = true,
            NsPerId = true,
            RootIds = new RootTaskIds { VmId = 1, FilesId = 1, FsId = 1, SighandId = 1, PidNsId = 1 },
        };
        using var writer = ImageFileWriter.Create(Path.Combine(directory, "inventory.img"), ImageMagic.Inventory);
        writer.WriteEntry(inventory);
    }

    private static void WriteCore(string directory, SyntheticTask task)
    {
        var core = new CoreEntry { Mtype = 1, Tc = new TaskCoreEntry { TaskState = (uint)TaskState.Alive, ExitCode = 0, Comm = "synthetic" } };
        using var writer = ImageFileWriter.Create(Path.Combine(directory, $"core-{task.Pid}.img"), ImageMagic.Core);
        writer.WriteEntry(core);
    }

    private static void WriteMm(string directory, SyntheticTask task)
    {
        var mm = new MmEntry
        {
            MmStartCode = 0, MmEndCode = 0, MmStartData = 0, MmEndData = 0, MmStartStack = 0, MmStartBrk = 0, MmBrk = 0,
            MmArgStart = 0, MmArgEnd = 0, MmEnvStart = 0, MmEnvEnd = 0, ExeFileId = 0,
        };
        foreach (var vma in task.Vmas)
        {
            mm.Vmas.Add(new VmaEntry
            {
                Start = vma.Start, End = vma.End, Pgoff = vma.Pgoff, Shmid = vma.Shmid,
                Prot = vma.Prot, Flags = vma.Flags, Status = vma.Status, Fd = -1,
            });
        }

        using var writer = ImageFileWriter.Create(Path.Combine(directory, $"mm-{task.Pid}.img"), ImageMagic.Mm);
        writer.WriteEntry(mm);
    }

    private static void WritePagemapAndPages(string directory, ushort seed, SyntheticTask task, byte[] buffer)
    {
        using var pagemap = ImageFileWriter.Create(Path.Combine(directory, $"pagemap-{task.Pid}.img"), ImageMagic.Pagemap);
        using var pages = new FileStream(Path.Combine(directory, PagemapFile.PagesFileNameFor(task.PagesId)), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        pagemap.WriteEntry(new PagemapHead { PagesId = task.PagesId });
        int bufferIndex = 0;
        foreach (var run in task.Pagemap)
        {
            pagemap.WriteEntry(new PagemapEntry { Vaddr = run.Vaddr, CompatNrPages = 0, Flags = (uint)run.Flags, NrPages = run.NrPages });
            for (ulong k = 0; k < run.NrPages; k++)
            {
                ulong address = run.Vaddr + k * PageSize;
                while (task.Buffers[bufferIndex].End <= address)
                {
                    bufferIndex++;
                }

                var owner = task.Buffers[bufferIndex];
                long page = (long)((address - owner.Address) / PageSize);
                var dest = buffer.AsSpan((int)k * PageSize, PageSize);
                if (owner.Layout[(int)page] == 'Z')
                {
                    dest.Clear();
                }
                else
                {
                    FillPatternPage(seed, task.Index, owner.Index, page, dest);
                }
            }

            pages.Write(buffer, 0, (int)run.NrPages * PageSize);
        }
    }
}
