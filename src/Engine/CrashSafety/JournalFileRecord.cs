namespace LazyActors.Engine.CrashSafety;

/// <summary>One record of a keeper's journal file.</summary>
/// <param name="Record">The record.</param>
/// <param name="Stored">Its descriptor went to the store (as <c>JOB-N</c>, N its index in the file).</param>
public sealed record JournalFileRecord(JournalRecord Record, bool Stored);
