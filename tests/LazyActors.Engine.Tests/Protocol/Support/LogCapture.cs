using System.Collections.Concurrent;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>A Serilog logger whose events a test can inspect (rendered messages, by level).</summary>
internal sealed class LogCapture : ILogEventSink
{
    private readonly ConcurrentQueue<LogEvent> _events = new();

    public LogCapture()
    {
        Logger = new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(this).CreateLogger();
    }

    public ILogger Logger { get; }

    public IEnumerable<string> Messages(LogEventLevel level) =>
        _events.Where(e => e.Level == level).Select(e => e.RenderMessage());

    public bool Contains(LogEventLevel level, string fragment) =>
        Messages(level).Any(m => m.Contains(fragment, StringComparison.Ordinal));

    public void Emit(LogEvent logEvent) => _events.Enqueue(logEvent);

    /// <summary>Waits (bounded) until a message at <paramref name="level"/> contains <paramref name="fragment"/>.</summary>
    public async Task<string> WaitForAsync(LogEventLevel level, string fragment, TimeSpan timeout)
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

        throw new TimeoutException($"no {level} log containing '{fragment}' within {timeout.TotalSeconds} s; got:\n{string.Join("\n", _events.Select(e => $"{e.Level}: {e.RenderMessage()}"))}");
    }
}
