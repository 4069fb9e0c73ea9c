namespace LazyActors.Engine.Protocol.Client;

/// <summary>
/// One request on the wire, waiting for its reply: a GET (with the caller's destination memory) or the closing command.
/// A caller that cancels after the request was sent abandons it: the reply still has to be read off the stream (into a
/// scratch buffer, never into memory the caller may have reused), so the reader claims a request before writing into it.
/// </summary>
internal sealed class PendingReply
{
    private const int Waiting = 0;
    private const int Claimed = 1;
    private const int Abandoned = 2;

    private readonly TaskCompletionSource<int> _completion;
    private CancellationTokenRegistration _registration;
    private int _state;

    /// <param name="request">The GET.</param>
    /// <param name="destination">Where its pages go.</param>
    /// <param name="inline">Run the caller's continuation on the reader's thread (it must be short); else on the pool.</param>
    public PendingReply(PageServerRequest request, Memory<byte> destination, bool inline = false)
    {
        _completion = new(inline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
        Command = PageServerCommand.Get;
        Request = request;
        Destination = destination;
    }

    public PendingReply(PageServerCommand closeCommand)
    {
        _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        Command = closeCommand;
    }

    /// <summary>GET, CLOSE or FORCE_CLOSE.</summary>
    public PageServerCommand Command { get; }

    /// <summary>The GET (default for a close).</summary>
    public PageServerRequest Request { get; }

    /// <summary>Where the GET's pages go.</summary>
    public Memory<byte> Destination { get; }

    /// <summary>Pages received (GET) or the close status.</summary>
    public Task<int> Task => _completion.Task;

    public bool IsClose => Command != PageServerCommand.Get;

    /// <summary>Lets <paramref name="cancellationToken"/> abandon the request while the reader has not claimed it.</summary>
    public void AbandonOn(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(static (state, token) => ((PendingReply)state!).Abandon(token), this);
        }
    }

    /// <summary>True when the caller still wants the data: from now on it may not abandon the request.</summary>
    public bool TryClaim() => Interlocked.CompareExchange(ref _state, Claimed, Waiting) == Waiting;

    public void Complete(int value)
    {
        _registration.Dispose();
        _completion.TrySetResult(value);
    }

    public void Fail(Exception error)
    {
        _registration.Dispose();
        _completion.TrySetException(error);
    }

    public string Describe() => IsClose ? (Command == PageServerCommand.Close ? "PS_IOV_CLOSE" : "PS_IOV_FORCE_CLOSE") : Request.ToString();

    private void Abandon(CancellationToken token)
    {
        if (Interlocked.CompareExchange(ref _state, Abandoned, Waiting) == Waiting)
        {
            _completion.TrySetCanceled(token);
        }
    }
}
