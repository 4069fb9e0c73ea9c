using LazyActors.Engine.Images;

namespace LazyActors.Tools.Synthetic;

/// <summary>One synthetic process: task index <paramref name="Index"/> (the pattern's t), its pid, parent and images.</summary>
public sealed record SyntheticTask(
    int Index, int Pid, int Ppid, uint PagesId,
    IReadOnlyList<SyntheticBuffer> Buffers, IReadOnlyList<Vma> Vmas, IReadOnlyList<PagemapRun> Pagemap);
