namespace LazyActors.Engine.Restorer;

/// <summary>Constants of the UNIX-socket handshake between <c>criu restore --lazy-pages</c> and the daemon.</summary>
public static class LazyPagesHandshake
{
    /// <summary>"ReSTore Finished": the 4-byte value the restorer sends once all tasks are restored.</summary>
    public const uint RestoreFinished = 0x52535446u;

    /// <summary>The relative name of the rendezvous socket in the work directory.</summary>
    public const string SocketName = "lazy-pages.socket";

    /// <summary>Listen backlog CRIU uses.</summary>
    public const int Backlog = 10;
}
