namespace LazyActors.Tools.Simulation;

/// <summary>Settings of one restore simulation (the <c>restore-sim</c> verb, also used from tests).</summary>
public sealed record RestoreSimOptions
{
    /// <summary>Checkpoint images to restore (<c>-D</c>).</summary>
    public required string ImagesDir { get; init; }

    /// <summary>Work dir holding <c>lazy-pages.socket</c> (<c>-W</c>); defaults to the images dir, as in CRIU.</summary>
    public string? WorkDir { get; init; }

    /// <summary>First-touch order of every task after "restore finished".</summary>
    public TouchOrder Touch { get; init; } = TouchOrder.Rand;

    /// <summary>Touching threads per task.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Compare every byte against the images after touching.</summary>
    public bool Verify { get; init; } = true;

    /// <summary>What the first live task does before touching (fork, mremap, madvise, munmap, exit).</summary>
    public SimScenario Scenario { get; init; } = SimScenario.None;

    /// <summary>Bound of every wait (connect, handshake, touching); afterwards tasks are killed and reaped.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// When set, the bound of the tasks' start alone (each started and registered its userfaultfd), and
    /// <see cref="Timeout"/> is counted from then: a short touch budget then does not depend on how long a loaded
    /// machine takes to start the task processes. Null: <see cref="Timeout"/> bounds the start too.
    /// </summary>
    public TimeSpan? StartTimeout { get; init; }

    /// <summary>Seed of the random touch order.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>How often a task is restarted in a fresh process when one of its VMAs collides with the runtime's mappings.</summary>
    public int MaxCollisionRetries { get; init; } = 8;

    /// <summary>How long the tasks wait after "restore finished" before they touch their memory (a restore held in
    /// progress, for observing a daemon while it serves); zero = at once, as CRIU's restored tasks do.</summary>
    public TimeSpan HoldBeforeTouch { get; init; } = TimeSpan.Zero;

    /// <summary>
    /// A file whose creation lets the tasks touch (after <see cref="HoldBeforeTouch"/>), or null: a test kills or stops
    /// something after "restore finished" and before the first touch on any machine's timing (a timed hold loses that
    /// race on a machine that is slower to kill than to restore). Waiting for it is bounded by <see cref="Timeout"/>.
    /// </summary>
    public string? TouchGate { get; init; }

    /// <summary>Optional sink for progress lines (task started, handed over, finished).</summary>
    public Action<string>? Progress { get; init; }

    /// <summary>
    /// Called on the handshake's thread at each step with the number of entries sent so far, before the next byte goes
    /// out: tests do things to the daemon at exact moments of the handshake (a crash-safety test kills it there).
    /// </summary>
    public Action<HandshakeStep, int>? HandshakeHook { get; init; }

    /// <summary>The work dir in effect: <see cref="WorkDir"/>, else the images dir.</summary>
    public string EffectiveWorkDir => WorkDir ?? ImagesDir;
}
