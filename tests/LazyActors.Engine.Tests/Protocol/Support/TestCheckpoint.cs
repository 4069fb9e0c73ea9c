using LazyActors.Engine.Images;
using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>
/// Writes a minimal CRIU 4.2 image set (inventory, pstree, core, mm, pagemap, pages) with exactly the pagemap entries a
/// protocol test needs. Page k of an entry is filled with <c>Fill(vaddr of the page)</c>, so every page is recognisable.
/// </summary>
internal static class TestCheckpoint
{
    private const int PageSize = (int)PageGeometry.PageSize;

    /// <summary>An entry: <paramref name="Pages"/> pages from <paramref name="Vaddr"/> with PE_* <paramref name="Flags"/>.</summary>
    public readonly record struct Entry(ulong Vaddr, ulong Pages, PageFlags Flags);

    /// <summary>A task: its pid, its entries (address order) and one lazy-capable VMA covering them all.</summary>
    public sealed record TaskSpec(int Pid, IReadOnlyList<Entry> Entries);

    /// <summary>The byte every word of page <paramref name="vaddr"/> of <paramref name="pid"/> starts with (low byte of the page number ^ pid).</summary>
    public static byte Fill(int pid, ulong vaddr) => (byte)((vaddr >> 12) ^ (ulong)pid ^ 0x5a);

    public static void Write(string directory, params TaskSpec[] tasks)
    {
        Directory.CreateDirectory(directory);
        using (var writer = ImageFileWriter.Create(Path.Combine(directory, "inventory.img"), ImageMagic.Inventory))
        {
            writer.WriteEntry(new InventoryEntry { ImgVersion = ImageMagic.ImgVersionV1_1, FdinfoPerId = true });
        }

        using (var writer = ImageFileWriter.Create(Path.Combine(directory, "pstree.img"), ImageMagic.Pstree))
        {
            foreach (var task in tasks)
            {
                var entry = new PstreeEntry { Pid = (uint)task.Pid, Ppid = task == tasks[0] ? 0 : (uint)tasks[0].Pid, Pgid = (uint)tasks[0].Pid, Sid = (uint)tasks[0].Pid };
                entry.Threads.Add((uint)task.Pid);
                writer.WriteEntry(entry);
            }
        }

        uint pagesId = 1;
        foreach (var task in tasks)
        {
            WriteTask(directory, task, pagesId++);
        }
    }

    private static void WriteTask(string directory, TaskSpec task, uint pagesId)
    {
        using (var writer = ImageFileWriter.Create(Path.Combine(directory, $"core-{task.Pid}.img"), ImageMagic.Core))
        {
            writer.WriteEntry(new CoreEntry { Mtype = 1, Tc = new TaskCoreEntry { TaskState = (uint)TaskState.Alive, ExitCode = 0, Comm = "test" } });
        }

        var mm = new MmEntry
        {
            MmStartCode = 0, MmEndCode = 0, MmStartData = 0, MmEndData = 0, MmStartStack = 0, MmStartBrk = 0, MmBrk = 0,
            MmArgStart = 0, MmArgEnd = 0, MmEnvStart = 0, MmEnvEnd = 0, ExeFileId = 0,
        };
        if (task.Entries.Count > 0)
        {
            mm.Vmas.Add(new VmaEntry
            {
                Start = task.Entries[0].Vaddr, End = task.Entries[^1].Vaddr + (task.Entries[^1].Pages * PageSize), Pgoff = 0, Shmid = 0, Prot = 3,
                Flags = MapFlags.Private | MapFlags.Anonymous, Status = VmaStatus.Regular | VmaStatus.AnonPrivate, Fd = -1,
            });
        }

        using (var writer = ImageFileWriter.Create(Path.Combine(directory, $"mm-{task.Pid}.img"), ImageMagic.Mm))
        {
            writer.WriteEntry(mm);
        }

        using var pagemap = ImageFileWriter.Create(Path.Combine(directory, $"pagemap-{task.Pid}.img"), ImageMagic.Pagemap);
        using var pages = new FileStream(Path.Combine(directory, PagemapFile.PagesFileNameFor(pagesId)), FileMode.Create);
        pagemap.WriteEntry(new PagemapHead { PagesId = pagesId });
        var page = new byte[PageSize];
        foreach (var entry in task.Entries)
        {
            pagemap.WriteEntry(new PagemapEntry { Vaddr = entry.Vaddr, CompatNrPages = 0, Flags = (uint)entry.Flags, NrPages = entry.Pages });
            if ((entry.Flags & PageFlags.Present) == 0)
            {
                continue;
            }

            for (ulong k = 0; k < entry.Pages; k++)
            {
                Array.Fill(page, Fill(task.Pid, entry.Vaddr + (k * PageSize)));
                pages.Write(page);
            }
        }
    }
}
