using System.Buffers.Binary;
using LazyActors.Engine.Images;
using LazyActors.Engine.Images.Proto;
using LazyActors.Engine.Ranges;

namespace LazyActors.Tools.Synthetic;

/// <summary>One VMA of a crafted task: anonymous private (lazy-capable) or file-backed private (eager, never lazy).</summary>
/// <param name="Start">First address.</param>
/// <param name="End">End address (exclusive).</param>
/// <param name="Prot">PROT_* bits.</param>
/// <param name="LazyCapable">False makes a file-backed private mapping, which CRIU never restores lazily.</param>
public sealed record CraftedVma(ulong Start, ulong End, uint Prot = 3, bool LazyCapable = true);

/// <summary>One pagemap entry of a crafted task.</summary>
/// <param name="Vaddr">First page.</param>
/// <param name="Pages">Page count.</param>
/// <param name="Lazy">PE_LAZY.</param>
/// <param name="Present">PE_PRESENT (its data is written to the pages file).</param>
public sealed record CraftedEntry(ulong Vaddr, ulong Pages, bool Lazy = true, bool Present = true);

/// <summary>
/// Replaces the memory images of one task of an image set (for instance a synthetic checkpoint) with exactly the VMAs
/// and pagemap entries a test describes, such as an entry that spans two VMAs or runs past its VMA: <c>mm-PID.img</c>,
/// <c>pagemap-PID.img</c> and <c>pages-ID.img</c> are rewritten. Every present page gets distinct, non-zero content (a
/// function of its address), so a page lost to zeros is always seen.
/// </summary>
public static class CraftedMemory
{
    private const int PageSize = (int)PageGeometry.PageSize;

    /// <summary>Rewrites task <paramref name="pid"/>'s memory in <paramref name="directory"/>.</summary>
    public static void Write(string directory, int pid, IReadOnlyList<CraftedVma> vmas, IReadOnlyList<CraftedEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(vmas);
        ArgumentNullException.ThrowIfNull(entries);
        uint pagesId;
        using (var checkpoint = Checkpoint.Open(directory))
        {
            pagesId = checkpoint.GetTask(pid).PagesId;
        }

        var mm = new MmEntry
        {
            MmStartCode = 0, MmEndCode = 0, MmStartData = 0, MmEndData = 0, MmStartStack = 0, MmStartBrk = 0, MmBrk = 0,
            MmArgStart = 0, MmArgEnd = 0, MmEnvStart = 0, MmEnvEnd = 0, ExeFileId = 0,
        };
        foreach (var vma in vmas)
        {
            mm.Vmas.Add(new VmaEntry
            {
                Start = vma.Start, End = vma.End, Pgoff = 0, Shmid = 0, Prot = vma.Prot,
                Flags = vma.LazyCapable ? MapFlags.Private | MapFlags.Anonymous : MapFlags.Private,
                Status = VmaStatus.Regular | (vma.LazyCapable ? VmaStatus.AnonPrivate : VmaStatus.FilePrivate),
                Fd = vma.LazyCapable ? -1 : 3,
            });
        }

        using (var writer = ImageFileWriter.Create(Path.Combine(directory, $"mm-{pid}.img"), ImageMagic.Mm))
        {
            writer.WriteEntry(mm);
        }

        using var map = ImageFileWriter.Create(Path.Combine(directory, $"pagemap-{pid}.img"), ImageMagic.Pagemap);
        using var pages = new FileStream(Path.Combine(directory, PagemapFile.PagesFileNameFor(pagesId)), FileMode.Create, FileAccess.Write);
        map.WriteEntry(new PagemapHead { PagesId = pagesId });
        var page = new byte[PageSize];
        foreach (var entry in entries)
        {
            var flags = (entry.Lazy ? PageFlags.Lazy : PageFlags.None) | (entry.Present ? PageFlags.Present : PageFlags.None);
            map.WriteEntry(new PagemapEntry { Vaddr = entry.Vaddr, CompatNrPages = 0, Flags = (uint)flags, NrPages = entry.Pages });
            for (ulong p = 0; entry.Present && p < entry.Pages; p++)
            {
                FillPage(entry.Vaddr + (p * PageGeometry.PageSize), page);
                pages.Write(page);
            }
        }
    }

    /// <summary>Rewrites task <paramref name="pid"/>'s core image with task_state DEAD, as CRIU records a zombie.</summary>
    public static void MakeZombie(string directory, int pid)
    {
        var path = Path.Combine(directory, $"core-{pid}.img");
        var raw = ImageFile.Read(path, ImageMagic.Core, ImageMagic.ImgVersionV1_1);
        var core = CoreEntry.Parser.ParseFrom(raw.Entries[0]);
        core.Tc.TaskState = (uint)TaskState.Dead;
        using var writer = ImageFileWriter.Create(path, ImageMagic.Core);
        writer.WriteEntry(core);
    }

    /// <summary>The content of the crafted page at <paramref name="address"/>: every word its own address, inverted.</summary>
    public static void FillPage(ulong address, Span<byte> page)
    {
        for (var k = 0; k < PageSize; k += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(page[k..], ~(address + (ulong)k));
        }
    }
}
