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

    /// <summary>A zombie (negative pid on the wire); no uffd follows.</summary>
    void Zombie(int pid);

    /// <summary>The 4-byte "restore finished" word arrived.</summary>
    void RestoreFinished();

    /// <summary>The handshake failed; the message is CRIU-like and names the problem.</summary>
    void Failed(string reason);
}
