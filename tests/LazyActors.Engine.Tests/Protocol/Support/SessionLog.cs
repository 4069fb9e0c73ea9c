using System.Collections.Concurrent;
using LazyActors.Engine.Protocol.Server;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>The results of a server's sessions, in the order they ended.</summary>
internal sealed class SessionLog
{
    private readonly BlockingCollection<PageServerSessionResult> _results = [];

    public SessionLog(LazyPageServer server) => server.SessionEnded += _results.Add;

    public Task<PageServerSessionResult> NextAsync(TimeSpan timeout) => Task.Run(() =>
        _results.TryTake(out var result, timeout) ? result : throw new TimeoutException($"no session ended within {timeout.TotalSeconds} s"));
}
