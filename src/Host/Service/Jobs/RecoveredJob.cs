using LazyActors.Engine.CrashSafety;

namespace LazyActors.Host.Service.Jobs;

/// <summary>A job <see cref="JobFdStore.Recover"/> found after a restart of the service.</summary>
/// <param name="Spec">Its spec (restart count already increased).</param>
/// <param name="State">What its restore goes on from (owns the descriptors that came back).</param>
/// <param name="Records">Its journal file's records.</param>
/// <param name="InStore">The names of its descriptors systemd handed back.</param>
/// <param name="Missing">What it needs and did not get back (empty: it can go on).</param>
internal sealed record RecoveredJob(PersistedJob Spec, ResumeState State, IReadOnlyList<JournalFileRecord> Records, IReadOnlySet<string> InStore, IReadOnlyList<string> Missing);
