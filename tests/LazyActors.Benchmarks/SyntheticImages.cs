using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;
using LazyActors.Tools.Synthetic;

namespace LazyActors.Benchmarks;

/// <summary>
/// A synthetic one-task checkpoint written to a temp dir for the image benchmarks, deleted on dispose. With
/// <c>maxEntryPages = 1</c> every dumped page is its own pagemap entry (about 57k runs for 256 MiB), the worst case
/// for lookups; with 256 (CRIU's page-pipe size) entries are as large as CRIU writes them.
/// </summary>
internal sealed class SyntheticImages : IDisposable
{
    private SyntheticImages(string directory, Checkpoint checkpoint)
    {
        Directory = directory;
        Checkpoint = checkpoint;
        Task = checkpoint.Tasks[0];
    }

    public string Directory { get; }

    public Checkpoint Checkpoint { get; }

    public TaskImages Task { get; }

    public static SyntheticImages Create(long bytes, int maxEntryPages)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"lazyactors-bdn-{Environment.ProcessId}-{Guid.NewGuid():N}");
        SyntheticCheckpoint.Write(dir, new SyntheticCheckpointOptions(1, bytes, 0x5EED) { MaxEntryPages = maxEntryPages });
        return new SyntheticImages(dir, Checkpoint.Open(dir));
    }

    /// <summary><paramref name="count"/> random page addresses inside PE_PRESENT runs (seeded).</summary>
    public ulong[] PresentPages(int count, int seed)
    {
        var present = Task.Pagemap.Where(r => r.IsPresent).ToArray();
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var run = present[random.Next(present.Length)];
            return run.Vaddr + ((ulong)random.NextInt64((long)run.NrPages) * PageGeometry.PageSize);
        }).ToArray();
    }

    /// <summary><paramref name="count"/> random page addresses in gaps between runs (seeded); empty if there are none.</summary>
    public ulong[] GapPages(int count, int seed)
    {
        var gaps = new List<ulong>();
        var runs = Task.Pagemap;
        for (int i = 1; i < runs.Count; i++)
        {
            if (runs[i].Vaddr > runs[i - 1].End)
            {
                gaps.Add(runs[i - 1].End);
            }
        }

        var random = new Random(seed);
        return gaps.Count == 0 ? [] : Enumerable.Range(0, count).Select(_ => gaps[random.Next(gaps.Count)]).ToArray();
    }

    public void Dispose()
    {
        Checkpoint.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
