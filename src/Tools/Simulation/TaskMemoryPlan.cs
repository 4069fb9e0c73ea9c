using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;

namespace LazyActors.Tools.Simulation;

/// <summary>One VMA a simulated task maps at its dump address and registers with userfaultfd.</summary>
public readonly record struct PlannedVma(ulong Start, ulong End, uint Prot)
{
    /// <summary>PROT_READ.</summary>
    public const uint ProtRead = 0x1;

    /// <summary>Bytes mapped.</summary>
    public ulong Length => End - Start;

    /// <summary>Pages mapped.</summary>
    public ulong Pages => PageGeometry.PagesIn(Length);

    /// <summary>Whether the task may read the VMA (only readable memory is touched and verified).</summary>
    public bool Readable => (Prot & ProtRead) != 0;
}

/// <summary>A run of pages the restorer fills before registration (non-lazy data inside a lazy-capable VMA).</summary>
public readonly record struct EagerRun(ulong Start, ulong Pages);

/// <summary>
/// What a restored task's memory looks like to the simulator: the lazy-capable VMAs CRIU's restorer registers with
/// userfaultfd (spec §3.6), and inside them the pages that are filled eagerly (PE_PRESENT or PE_PARENT without PE_LAZY).
/// Everything else in those VMAs is left missing for the lazy-pages daemon.
/// </summary>
public sealed class TaskMemoryPlan
{
    private TaskMemoryPlan(int pid, IReadOnlyList<PlannedVma> vmas, IReadOnlyList<EagerRun> eager, ulong lazyPages, ulong remoteOnlyPages)
    {
        Pid = pid;
        Vmas = vmas;
        Eager = eager;
        LazyPages = lazyPages;
        RemoteOnlyPages = remoteOnlyPages;
    }

    /// <summary>The task's image pid.</summary>
    public int Pid { get; }

    /// <summary>The lazy-capable VMAs to map, register and touch.</summary>
    public IReadOnlyList<PlannedVma> Vmas { get; }

    /// <summary>Pages filled before registration (present, not lazy).</summary>
    public IReadOnlyList<EagerRun> Eager { get; }

    /// <summary>Pages flagged PE_LAZY inside the planned VMAs.</summary>
    public ulong LazyPages { get; }

    /// <summary>PE_LAZY pages with no data in this image set (a <c>dump --lazy-pages</c>): only a page server has them.</summary>
    public ulong RemoteOnlyPages { get; }

    /// <summary>Pages of all planned VMAs.</summary>
    public ulong TotalPages => Vmas.Aggregate(0UL, (sum, v) => sum + v.Pages);

    /// <summary>The plan for <paramref name="task"/>: its private anonymous lazy-capable VMAs and their eager pages.</summary>
    public static TaskMemoryPlan For(TaskImages task)
    {
        var vmas = task.Vmas.Where(v => v.IsLazyCapable).Select(v => new PlannedVma(v.Start, v.End, v.Prot)).ToList();
        var eager = new List<EagerRun>();
        ulong lazy = 0, remoteOnly = 0;
        foreach (var run in task.Pagemap)
        {
            foreach (var vma in vmas)
            {
                var start = Math.Max(run.Vaddr, vma.Start);
                var end = Math.Min(run.End, vma.End);
                if (start >= end)
                {
                    continue;
                }

                var pages = PageGeometry.PagesIn(end - start);
                if ((run.Flags & PageFlags.Lazy) != 0)
                {
                    lazy += pages;
                    if ((run.Flags & (PageFlags.Present | PageFlags.Parent)) == 0)
                    {
                        remoteOnly += pages;
                    }
                }
                else if ((run.Flags & (PageFlags.Present | PageFlags.Parent)) != 0)
                {
                    eager.Add(new EagerRun(start, pages));
                }
            }
        }

        return new TaskMemoryPlan(task.Pid, vmas, eager, lazy, remoteOnly);
    }
}
