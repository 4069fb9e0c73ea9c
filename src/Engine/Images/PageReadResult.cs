namespace LazyActors.Engine.Images;

/// <summary>
/// Outcome of <see cref="CheckpointPageReader.Read"/>: how many pages had data (copied from this image set or its parents)
/// and how many were in no pagemap entry (zero-filled).
/// </summary>
public readonly record struct PageReadResult(int PagesWithData, int PagesAbsent);
