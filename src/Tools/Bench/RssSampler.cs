using System.Globalization;

namespace LazyActors.Tools.Bench;

/// <summary>
/// Samples <c>RssAnon</c> of a process from /proc/PID/status every few milliseconds on a background thread and keeps
/// the peak. ru_maxrss counts file pages mapped by the process too (a daemon that uses an mmap of the pages files as
/// its UFFDIO_COPY source "has" the whole image resident in page cache), so the daemon's own memory is this figure.
/// </summary>
internal sealed class RssSampler : IDisposable
{
    private readonly int _pid;
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _peakKiB = -1;

    public RssSampler(int pid, TimeSpan interval)
    {
        _pid = pid;
        _thread = new Thread(() => Loop(interval)) { IsBackground = true, Name = $"rss sampler {pid}" };
        _thread.Start();
    }

    /// <summary>Peak RssAnon seen, MiB (NaN when never read).</summary>
    public double PeakAnonMiB => Interlocked.Read(ref _peakKiB) < 0 ? double.NaN : Interlocked.Read(ref _peakKiB) / 1024.0;

    /// <summary>RssAnon in KiB from the text of /proc/PID/status, or null.</summary>
    public static long? ParseRssAnonKiB(string status)
    {
        foreach (var line in status.Split('\n'))
        {
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
            {
                var parts = line["RssAnon:".Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                return parts.Length > 0 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib : null;
            }
        }

        return null;
    }

    /// <summary>Takes one last sample and stops the thread (bounded join).</summary>
    public void Dispose()
    {
        Sample();
        _stop = true;
        _thread.Join(TimeSpan.FromSeconds(2));
    }

    private void Loop(TimeSpan interval)
    {
        while (!_stop)
        {
            if (!Sample())
            {
                return;
            }

            Thread.Sleep(interval);
        }
    }

    private bool Sample()
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{_pid}/status");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        if (ParseRssAnonKiB(text) is { } kib)
        {
            long seen;
            while (kib > (seen = Interlocked.Read(ref _peakKiB)) && Interlocked.CompareExchange(ref _peakKiB, kib, seen) != seen)
            {
            }
        }

        return true;
    }
}
