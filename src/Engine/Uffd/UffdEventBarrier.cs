namespace LazyActors.Engine.Uffd;

/// <summary>
/// Keeps UFFDIO_COPY/ZEROPAGE of one uffd from running between the read of a non-cooperative event (FORK, REMAP,
/// REMOVE, UNMAP) and the moment its owner has applied it. The kernel blocks a copy (EAGAIN) only until the event is
/// read; after that the madvise/mremap/munmap/fork goes on, so a copy landing before the owner updated its ranges could
/// re-populate zapped memory, write to the old place of moved memory, or be missed by a fork child.
/// </summary>
/// <remarks>The epoll reader reads under <see cref="Gate"/> and calls <see cref="EventsRead"/>; the owner copies under
/// <see cref="Gate"/> only when <see cref="HasUnhandledEvents"/> is false, and calls <see cref="EventsHandled"/> after
/// applying them. Thread-safe.</remarks>
public sealed class UffdEventBarrier
{
    private int _unhandled;
    private int _readersWaiting;

    /// <summary>The lock shared by the reader and the copier.</summary>
    public Lock Gate { get; } = new();

    /// <summary>True while events were read that the owner has not applied yet.</summary>
    public bool HasUnhandledEvents => Volatile.Read(ref _unhandled) > 0;

    /// <summary>Counts the non-cooperative events in a batch just read (call under <see cref="Gate"/>).</summary>
    /// <summary>
    /// The epoll reader takes the gate through here. It announces itself first so that copiers, which would otherwise
    /// re-take the (unfair) lock slice after slice and starve the reader for tens of milliseconds, step aside.
    /// </summary>
    public void EnterRead()
    {
        Interlocked.Increment(ref _readersWaiting);
        Gate.Enter();
        Interlocked.Decrement(ref _readersWaiting);
    }

    public void ExitRead() => Gate.Exit();

    /// <summary>
    /// Copiers take the gate through here: they let a waiting reader in first (a bounded spin; the reader only does one
    /// non-blocking read under the gate), so fault messages are read promptly even during back-to-back copies.
    /// </summary>
    public Lock.Scope EnterCopy()
    {
        var spin = new SpinWait();
        for (var i = 0; i < MaxReaderWaitSpins && Volatile.Read(ref _readersWaiting) > 0; i++)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }

        return Gate.EnterScope();
    }

    private const int MaxReaderWaitSpins = 4096;

    public void EventsRead(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _unhandled, count);
        }
    }

    /// <summary>The owner applied <paramref name="count"/> events.</summary>
    public void EventsHandled(int count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _unhandled, -count);
        }
    }
}
