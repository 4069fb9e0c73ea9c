using LazyActors.Engine.Images;
using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Tests.Images;

/// <summary>Rewrites the single task of a synthetic checkpoint for tests that need unusual pagemaps.</summary>
internal static class ImageTestWriter
{
    private const int PageSize = (int)PageGeometry.PageSize;

    /// <summary>Replaces the task's memory by one lazy VMA of <paramref name="pages"/> pages, all PE_LAZY|PE_PRESENT, backed by a sparse pages file.</summary>
    public static (int Pid, ulong Start) ReplaceWithSparseRun(string dir, int pages)
    {
        using var checkpoint = Checkpoint.Open(dir);
        var task = checkpoint.Tasks[0];
        ulong start = task.Vmas[0].Start;
        var mm = new MmEntry
        {
            MmStartCode = 0, MmEndCode = 0, MmStartData = 0, MmEndData = 0, MmStartStack = 0, MmStartBrk = 0, MmBrk = 0,
            MmArgStart = 0, MmArgEnd = 0, MmEnvStart = 0, MmEnvEnd = 0, ExeFileId = 0,
        };
        mm.Vmas.Add(new VmaEntry
        {
            Start = start, End = start + (ulong)pages * PageSize, Pgoff = 0, Shmid = 0, Prot = 3,
            Flags = MapFlags.Private | MapFlags.Anonymous, Status = VmaStatus.Regular | VmaStatus.AnonPrivate, Fd = -1,
        });
        using (var writer = ImageFileWriter.Create(Path.Combine(dir, $"mm-{task.Pid}.img"), ImageMagic.Mm))
        {
            writer.WriteEntry(mm);
        }

        using (var writer = ImageFileWriter.Create(Path.Combine(dir, $"pagemap-{task.Pid}.img"), ImageMagic.Pagemap))
        {
            writer.WriteEntry(new PagemapHead { PagesId = task.PagesId });
            for (int first = 0; first < pages; first += 256)
            {
                writer.WriteEntry(new PagemapEntry { Vaddr = start + (ulong)first * PageSize, CompatNrPages = 0, Flags = 6, NrPages = (ulong)Math.Min(256, pages - first) });
            }
        }

        using (var stream = new FileStream(Path.Combine(dir, $"pages-{task.PagesId}.img"), FileMode.Create))
        {
            stream.SetLength((long)pages * PageSize);
        }

        return (task.Pid, start);
    }
}
