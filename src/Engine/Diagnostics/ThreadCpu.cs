using System.Globalization;
using System.Text;

namespace LazyActors.Engine.Diagnostics;

/// <summary>
/// CPU time of this process's live threads, summed by thread name, from the kernel's scheduler statistics
/// (<c>/proc/self/task/TID/schedstat</c>: nanoseconds on the CPU), plus the whole process's so far (threads that
/// already ended included). Taken once at the end of a restore, before its threads stop, it says where a restore's CPU
/// went without a profiler or a sampler, which both cost CPU themselves and change how much the daemon's threads spin.
/// </summary>
public sealed record ThreadCpu(IReadOnlyList<ThreadCpu.Group> Groups, TimeSpan Process)
{
    /// <summary>Threads of one name: how many, and their CPU time together.</summary>
    public sealed record Group(string Name, int Threads, TimeSpan Cpu);

    /// <summary>Reads /proc/self/task now. Threads that end while it reads are left out; none is an error.</summary>
    public static ThreadCpu Snapshot()
    {
        var byName = new Dictionary<string, (int Threads, long Nanoseconds)>(StringComparer.Ordinal);
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories("/proc/self/task");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            tasks = [];
        }

        foreach (var task in tasks)
        {
            if (TryRead(task) is not { } thread)
            {
                continue;
            }

            byName.TryGetValue(thread.Name, out var sum);
            byName[thread.Name] = (sum.Threads + 1, sum.Nanoseconds + thread.Nanoseconds);
        }

        var groups = byName
            .Select(pair => new Group(pair.Key, pair.Value.Threads, TimeSpan.FromTicks(pair.Value.Nanoseconds / 100)))
            .OrderByDescending(g => g.Cpu)
            .ToList();
        return new ThreadCpu(groups, Environment.CpuUsage.TotalTime);
    }

    /// <summary>One line, milliseconds: the process's total, then each name (×count when several threads share it).</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"CPU so far, ms: process {Process.TotalMilliseconds:0} (threads that ended included); live threads:");
        foreach (var group in Groups)
        {
            text.Append(CultureInfo.InvariantCulture, $" {group.Name}{(group.Threads > 1 ? $" x{group.Threads}" : string.Empty)} {group.Cpu.TotalMilliseconds:0.0};");
        }

        return text.ToString().TrimEnd(';');
    }

    /// <summary>
    /// CPU time of the calling thread so far (<c>/proc/thread-self/schedstat</c>); zero where it cannot be read. Two
    /// readings on one thread give what the work between them cost that thread (a page-server session, say).
    /// </summary>
    public static TimeSpan OfCurrentThread()
    {
        try
        {
            var schedstat = File.ReadAllText("/proc/thread-self/schedstat");
            var end = schedstat.IndexOf(' ', StringComparison.Ordinal);
            return long.TryParse(end < 0 ? schedstat : schedstat[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var ns)
                ? TimeSpan.FromTicks(ns / 100)
                : TimeSpan.Zero;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return TimeSpan.Zero;
        }
    }

    private static (string Name, long Nanoseconds)? TryRead(string task)
    {
        try
        {
            var name = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n');
            // "run-time wait-time timeslices": the first field is the time on the CPU in nanoseconds.
            var schedstat = File.ReadAllText(Path.Combine(task, "schedstat"));
            var end = schedstat.IndexOf(' ', StringComparison.Ordinal);
            return long.TryParse(end < 0 ? schedstat : schedstat[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var ns)
                ? (name, ns)
                : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // the thread ended meanwhile
        }
    }
}
