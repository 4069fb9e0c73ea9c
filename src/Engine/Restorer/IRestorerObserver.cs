using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Restorer;

/// <summary>Receives what <see cref="RestorerConnection"/> reads from <c>criu restore --lazy-pages</c>, on its thread.</summary>
public interface IRestorerObserver
{
    /// <summary>
    /// The restorer connected. <paramref name="restorerPid"/> is the connecting process (SO_PEERCRED: the
    /// <c>criu restore</c> process, ancestor of every restored task while the handshake runs) as seen from here, or 0 when
    /// it is unknown (not visible in this pid namespace).
    /// </summary>
    void Connected(int restorerPid);

    /// <summary>A live task's pid and its userfaultfd (ownership moves to the observer).</summary>
    void TaskUffd(int pid, SafeFdHandle uffd);

    /// <summary>
    /// A connection was accepted from an allowed peer, before its first byte (the restorer, unless it closes without a word:
    /// then <see cref="ListeningAgain"/> follows) and before <see cref="Connected"/>; the observer may keep a duplicate
    /// (the crash journal does). The connection stays owned by the handshake.
    /// </summary>
    void Accepted(SafeFdHandle connection, int restorerPid)
    {
    }

    /// <summary>A zombie (negative pid on the wire); no uffd follows. Called before its word is consumed, so that a
    /// journal written here never lags the connection.</summary>
    void Zombie(int pid);

    /// <summary>The 4-byte "restore finished" word arrived (called before it is consumed, like <see cref="Zombie"/>).</summary>
    void RestoreFinished();

    /// <summary>
    /// How long after "restore finished" the handshake watches for the restorer to close the connection (CRIU closes it
    /// when <c>criu restore</c> exits) and then calls <see cref="RestorerGone"/>; zero (the default): not watched.
    /// </summary>
    TimeSpan RestorerExitWatch => TimeSpan.Zero;

    /// <summary>
    /// After "restore finished", with a <see cref="RestorerExitWatch"/>: the restorer closed the connection
    /// (<paramref name="closed"/>), or did not within that time, or sent something more (false). Not called when the
    /// handshake is cancelled.
    /// </summary>
    void RestorerGone(bool closed)
    {
    }

    /// <summary>The handshake failed; the message is CRIU-like and names the problem.</summary>
    void Failed(string reason);

    /// <summary>A peer that may not restore through this daemon (its uid) connected and was closed; waiting goes on.</summary>
    void PeerRefused(string reason)
    {
    }

    /// <summary>A peer connected and closed without sending anything; waiting goes on.</summary>
    void PeerClosedSilently(string note)
    {
    }

    /// <summary>The connection reported by <see cref="Accepted"/> closed without a word (see
    /// <see cref="PeerClosedSilently"/>): <paramref name="listener"/> is waited on again (a journal keeps it again).</summary>
    void ListeningAgain(SafeFdHandle listener)
    {
    }
}
