using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Remoting.Wire;

namespace LazyActors.Engine.Remoting;

/// <summary>
/// A checkpoint's metadata on the Akka transport: the source describes its opened images (<see cref="Of"/>), the
/// destination builds the restore's model from the description (<see cref="ToCheckpoint"/>), checking it as strictly
/// as <see cref="Checkpoint.Open(string)"/> checks image files, so a broken peer gets an error naming it, never a wrong restore.
/// </summary>
public static class CheckpointDescription
{
    /// <summary>
    /// Describes <paramref name="checkpoint"/>. Lazy runs lose PE_PRESENT, as in a lazy dump's pagemap: the destination
    /// holds no data for them.
    /// </summary>
    public static CheckpointMetadata Of(Checkpoint checkpoint, string name, int maxReplyBytes, ulong lazyPages)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var metadata = new CheckpointMetadata
        {
            Checkpoint = name,
            ImgVersion = checkpoint.ImgVersion,
            MaxReplyBytes = (uint)maxReplyBytes,
            LazyPages = lazyPages,
        };
        foreach (var task in checkpoint.Tasks)
        {
            var described = new TaskMetadata
            {
                Pid = task.Pid,
                Ppid = task.Ppid,
                Pgid = task.Pgid,
                Sid = task.Sid,
                State = (uint)task.State,
                HasPagemap = task.PagemapFile is not null,
            };
            described.Threads.AddRange(task.Threads);
            described.Vmas.AddRange(task.Vmas.Select(Describe));
            described.GuardVmas.AddRange(task.GuardVmas.Select(Describe));
            foreach (var run in task.Pagemap)
            {
                var flags = run.IsLazy ? run.Flags & ~PageFlags.Present : run.Flags;
                described.Pagemap.Add(new PagemapRange { Vaddr = run.Vaddr, NrPages = run.NrPages, Flags = (uint)flags });
            }

            metadata.Tasks.Add(described);
        }

        return metadata;
    }

    /// <summary>The restore's model of the checkpoint <paramref name="metadata"/> describes, sent by <paramref name="peer"/>.</summary>
    /// <exception cref="ImageFormatException">The description is inconsistent; the message names the peer and the task.</exception>
    public static Checkpoint ToCheckpoint(CheckpointMetadata metadata, string peer)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var origin = $"{peer} (checkpoint '{metadata.Checkpoint}')";
        if (metadata.ImgVersion != ImageMagic.ImgVersionV1 && metadata.ImgVersion != ImageMagic.ImgVersionV1_1)
        {
            throw new ImageFormatException(origin, $"unsupported img_version {metadata.ImgVersion} (only 1 and 2 are known)");
        }

        if (metadata.Tasks.Count == 0)
        {
            throw new ImageFormatException(origin, "the description has no task");
        }

        var tasks = new List<TaskImages>(metadata.Tasks.Count);
        foreach (var task in metadata.Tasks)
        {
            var where = $"{origin}, pid {task.Pid}";
            if (task.Pid <= 0 || task.Ppid < 0 || task.Pgid < 0 || task.Sid < 0 || task.Threads.Any(t => t <= 0))
            {
                throw new ImageFormatException(where, "a pid, ppid, pgid, sid or thread id is out of range");
            }

            var vmas = Vmas(task.Vmas, where);
            var guards = Vmas(task.GuardVmas, where);
            for (int i = 1; i < vmas.Count; i++)
            {
                if (vmas[i].Start < vmas[i - 1].End)
                {
                    throw new ImageFormatException(where, $"VMA 0x{vmas[i].Start:x}-0x{vmas[i].End:x} overlaps VMA 0x{vmas[i - 1].Start:x}-0x{vmas[i - 1].End:x}");
                }
            }

            var runs = Runs(task.Pagemap, where);
            var threads = task.Threads.Count > 0 ? task.Threads.ToArray() : [task.Pid];
            tasks.Add(new TaskImages(task.Pid, task.Ppid, task.Pgid, task.Sid, threads, (TaskState)task.State, vmas, guards, runs,
                task.HasPagemap ? $"{origin}, pagemap of pid {task.Pid}" : null));
        }

        return Checkpoint.Describe(origin, metadata.ImgVersion, tasks);
    }

    private static VmaMetadata Describe(Vma vma) => new()
    {
        Start = vma.Start,
        End = vma.End,
        Pgoff = vma.Pgoff,
        Shmid = vma.Shmid,
        Prot = vma.Prot,
        Flags = vma.Flags,
        Status = vma.Status,
    };

    private static List<Vma> Vmas(IEnumerable<VmaMetadata> described, string where)
    {
        var vmas = new List<Vma>();
        foreach (var v in described)
        {
            if (v.End < v.Start || !PageGeometry.IsAligned(v.Start) || !PageGeometry.IsAligned(v.End))
            {
                throw new ImageFormatException(where, $"VMA 0x{v.Start:x}-0x{v.End:x} is not a page-aligned range");
            }

            vmas.Add(new Vma(v.Start, v.End, v.Pgoff, v.Shmid, v.Prot, v.Flags, v.Status));
        }

        vmas.Sort((a, b) => a.Start.CompareTo(b.Start));
        return vmas;
    }

    /// <summary>The runs, checked as <see cref="PagemapFile.Read"/> checks a file's entries (aligned, sorted, disjoint, in range).</summary>
    private static List<PagemapRun> Runs(IEnumerable<PagemapRange> described, string where)
    {
        var runs = new List<PagemapRun>();
        ulong previousEnd = 0;
        long offset = 0;
        foreach (var r in described)
        {
            if (!PageGeometry.IsAligned(r.Vaddr) || r.NrPages == 0 || r.Vaddr >= PageGeometry.UserAddressLimit
                || r.NrPages > (PageGeometry.UserAddressLimit - r.Vaddr) / PageGeometry.PageSize)
            {
                throw new ImageFormatException(where, $"pagemap run 0x{r.Vaddr:x}+{r.NrPages}p is not a page-aligned range below 0x{PageGeometry.UserAddressLimit:x}");
            }

            if (runs.Count > 0 && r.Vaddr < previousEnd)
            {
                throw new ImageFormatException(where, $"pagemap run 0x{r.Vaddr:x} is not after the previous run's end 0x{previousEnd:x} (runs must be sorted and disjoint)");
            }

            var flags = (PageFlags)r.Flags;
            bool present = (flags & PageFlags.Present) != 0;
            var run = new PagemapRun(r.Vaddr, r.NrPages, flags, present ? offset : -1);
            if (present)
            {
                offset += (long)(r.NrPages * PageGeometry.PageSize);
            }

            previousEnd = run.End;
            runs.Add(run);
        }

        return runs;
    }
}
