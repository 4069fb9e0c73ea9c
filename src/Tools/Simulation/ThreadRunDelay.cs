using System.Buffers.Text;
using Microsoft.Win32.SafeHandles;

namespace LazyActors.Tools.Simulation;

/// <summary>
/// The calling thread's run delay: nanoseconds it spent runnable but waiting for a CPU, the second field of
/// <c>/proc/thread-self/schedstat</c>. A first touch that took 20 ms because its own thread sat on a run queue behind
/// other busy tasks says nothing about the daemon, so the touch loop subtracts this wait to tell the two apart.
/// </summary>
/// <remarks>
/// The kernel fills the field only while scheduler statistics or delay accounting are on
/// (<c>/proc/sys/kernel/task_delayacct</c>); <see cref="TryOpen"/> returns null when the file is missing or reads as
/// all zeros for a thread that has obviously run. Open it on the thread it measures: <c>thread-self</c> resolves at open.
/// </remarks>
internal sealed class ThreadRunDelay : IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly byte[] _buffer = new byte[96];

    private ThreadRunDelay(SafeFileHandle file) => _file = file;

    /// <summary>Opens the calling thread's schedstat, or null when the kernel does not account run delay.</summary>
    public static ThreadRunDelay? TryOpen()
    {
        SafeFileHandle file;
        try
        {
            file = File.OpenHandle("/proc/thread-self/schedstat", FileMode.Open, FileAccess.Read);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        var probe = new ThreadRunDelay(file);
        if (!probe.TryReadFields(out var runtime, out _) || runtime == 0)
        {
            probe.Dispose();
            return null;
        }

        return probe;
    }

    /// <summary>Whether this kernel accounts run delay for threads at all (probed on the calling thread).</summary>
    public static bool IsAccounted()
    {
        using var probe = TryOpen();
        return probe is not null;
    }

    /// <summary>Total run delay of the thread so far, in nanoseconds.</summary>
    public long ReadNanoseconds() => TryReadFields(out _, out var delay) ? delay : 0;

    private bool TryReadFields(out long runtime, out long delay)
    {
        runtime = delay = 0;
        var length = RandomAccess.Read(_file, _buffer, 0);
        var text = _buffer.AsSpan(0, length);
        if (!Utf8Parser.TryParse(text, out runtime, out var used))
        {
            return false;
        }

        text = text[used..].TrimStart((byte)' ');
        return Utf8Parser.TryParse(text, out delay, out _);
    }

    public void Dispose() => _file.Dispose();
}
