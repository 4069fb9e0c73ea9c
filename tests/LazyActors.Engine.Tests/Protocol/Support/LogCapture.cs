using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>A logger whose entries a test can inspect (rendered messages, by level).</summary>
internal sealed class LogCapture : ILogger
{
    private readonly ConcurrentQueue<(LogLevel Level, string Message)> _entries = new();

    public ILogger Logger => this;

    public IEnumerable<string> Messages(LogLevel level) =>
        _entries.Where(e => e.Level == level).Select(e => e.Message);

    public bool Contains(LogLevel level, string fragment) =>
        Messages(level).Any(m => m.Contains(fragment, StringComparison.Ordinal));

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        _entries.Enqueue((logLevel, formatter(state, exception)));

    /// <summary>Waits (bounded) until a message at <paramref name="level"/> contains <paramref name="fragment"/>.</summary>
    public async Task<string> WaitForAsync(LogLevel level, string fragment, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Messages(level).FirstOrDefault(m => m.Contains(fragment, StringComparison.Ordinal)) is { } found)
            {
                return found;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException($"no {level} log containing '{fragment}' within {timeout.TotalSeconds} s; got:\n{string.Join("\n", _entries.Select(e => $"{e.Level}: {e.Message}"))}");
    }
}
