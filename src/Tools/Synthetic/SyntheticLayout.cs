namespace LazyActors.Tools.Synthetic;

/// <summary>What <see cref="SyntheticCheckpoint"/> wrote: every task, its buffers, VMAs and pagemap.</summary>
public sealed record SyntheticLayout(ushort Seed, IReadOnlyList<SyntheticTask> Tasks, IReadOnlyList<int> PstreeOrder);
