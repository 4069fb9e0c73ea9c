using System.Collections.Concurrent;
using System.Diagnostics;

namespace LazyActors.Tools;

/// <summary>
/// The stdout lines of a started process (its output redirected), read by the runtime's event-based reader, so that
/// waiting for the next line can be bounded without blocking on a stream. Dispose only after the process was reaped.
/// </summary>
internal sealed class ProcessLines : IDisposable
{
    private readonly BlockingCollection<string> _lines = [];

    /// <summary>Starts reading <paramref name="process"/>'s stdout.</summary>
    public ProcessLines(Process process)
    {
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _lines.CompleteAdding();
            }
            else
            {
                _lines.Add(e.Data);
            }
        };
        process.BeginOutputReadLine();
    }

    /// <summary>The next line, or null when none came within <paramref name="timeout"/> or the output ended.</summary>
    public string? Next(TimeSpan timeout)
    {
        try
        {
            return _lines.TryTake(out var line, timeout) ? line : null;
        }
        catch (InvalidOperationException)
        {
            return null; // the output ended while we waited
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _lines.Dispose();
}
