namespace LazyActors.Engine.Pages;

/// <summary>
/// A reference-counted <see cref="PageRead"/>: one read from the page source shared by every requester whose pages it
/// covers. It starts with one reference (the reader's); the underlying read is disposed when the last one is released.
/// Thread-safe (requesters release on their own actors).
/// </summary>
public sealed class SharedPageRead
{
    private int _references = 1;

    /// <summary>Shares <paramref name="read"/>.</summary>
    public SharedPageRead(PageRead read)
    {
        Read = read;
    }

    /// <summary>The shared data.</summary>
    public PageRead Read { get; }

    /// <summary>Current reference count (diagnostics and tests).</summary>
    public int References => Volatile.Read(ref _references);

    /// <summary>Takes one more reference.</summary>
    /// <exception cref="InvalidOperationException">The read was already released.</exception>
    public void AddReference()
    {
        if (Interlocked.Increment(ref _references) <= 1)
        {
            throw new InvalidOperationException("page read used after its last reference was released");
        }
    }

    /// <summary>Drops one reference; the last one disposes the read.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Read.Dispose();
        }
    }
}
