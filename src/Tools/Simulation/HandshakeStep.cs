namespace LazyActors.Tools.Simulation;

/// <summary>Where the simulated restorer is in the lazy-pages handshake (for <see cref="RestoreSimOptions.HandshakeHook"/>).</summary>
public enum HandshakeStep
{
    /// <summary>A live task's pid word was sent; its uffd was not yet.</summary>
    PidSent,

    /// <summary>An entry was sent completely (a live task's uffd, or a zombie's word).</summary>
    EntrySent,

    /// <summary>The "restore finished" word was sent.</summary>
    FinishedSent,

    /// <summary>Connected to lazy-pages.socket; nothing sent yet (the tasks start after this, as CRIU's do).</summary>
    Connected,
}
