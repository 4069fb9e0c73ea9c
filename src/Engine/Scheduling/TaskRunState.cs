using Microsoft.Win32.SafeHandles;

namespace LazyActors.Engine.Scheduling;

/// <summary>
/// Whether a restored task's main thread is on a CPU (or waiting for one) right now: the state letter of
/// <c>/proc/PID/stat</c>, 'R'. A task blocked in a page fault sleeps ('S' or 'D'), so a running task is computing on
/// pages it already has: a second copier would then take the CPU it runs on, not help it (python, after the restore,
/// hashes 192 MiB it mostly has while the push goes on). The file is opened once and read again from offset 0 for each
/// question (about a microsecond); a task that is gone, or a file that cannot be read, counts as not running.
/// </summary>
public sealed class TaskRunState : IDisposable
{
    private readonly SafeFileHandle? _stat;
    private readonly byte[] _buffer = new byte[512];

    private TaskRunState(SafeFileHandle? stat) => _stat = stat;

    /// <summary>Watches the process <paramref name="hostPid"/> (as seen from this pid namespace); never throws.</summary>
    public static TaskRunState Open(int hostPid)
    {
        try
        {
            return new TaskRunState(File.OpenHandle($"/proc/{hostPid}/stat", FileMode.Open, FileAccess.Read));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new TaskRunState(null);
        }
    }

    /// <summary>True when the task's main thread is runnable ('R') now; false when it sleeps, stopped, or cannot be told.</summary>
    public bool IsRunning()
    {
        if (_stat is null)
        {
            return false;
        }

        int read;
        try
        {
            read = RandomAccess.Read(_stat, _buffer, 0);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        return StateOf(_buffer.AsSpan(0, read)) == 'R';
    }

    /// <summary>
    /// The state letter of one <c>/proc/PID/stat</c> line: the first field after the command, which is in parentheses and
    /// may itself hold spaces and ')' (so the last ')' ends it); '\0' when the line has none.
    /// </summary>
    public static char StateOf(ReadOnlySpan<byte> line)
    {
        var close = line.LastIndexOf((byte)')');
        return close >= 0 && close + 2 < line.Length && line[close + 1] == (byte)' ' ? (char)line[close + 2] : '\0';
    }

    /// <inheritdoc />
    public void Dispose() => _stat?.Dispose();
}
