using System.Globalization;

namespace LazyActors.Engine.Restorer;

/// <summary>
/// A process as it is known to /proc: its pid and start time (clock ticks after boot), so a pid that was reused by a
/// later process is never taken for the one that was seen.
/// </summary>
/// <param name="Pid">The pid in this process's pid namespace.</param>
/// <param name="StartTime">Field 22 of /proc/PID/stat.</param>
public readonly record struct ProcessIdentity(int Pid, ulong StartTime);

/// <summary>What the restored-tree logic reads from /proc: identities, states, children, namespace pids.</summary>
public static class ProcFs
{
    private static readonly long TicksPerSecond = Math.Max(1, Interop.Libc.Sysconf(Interop.Libc.SC_CLK_TCK));

    /// <summary>Now, in the unit and origin of <see cref="ProcessIdentity.StartTime"/> (clock ticks since boot).</summary>
    public static ulong NowTicks()
    {
        var uptime = File.ReadAllText("/proc/uptime").Split(' ')[0];
        return (ulong)(double.Parse(uptime, CultureInfo.InvariantCulture) * TicksPerSecond);
    }

    /// <summary>The identity of <paramref name="pid"/> now, or null when it does not exist.</summary>
    public static ProcessIdentity? Identity(int pid) =>
        TryReadStat(pid, out _, out var start, out _) ? new ProcessIdentity(pid, start) : null;

    /// <summary>True while <paramref name="identity"/> is running, sleeping or stopped (not gone, not a zombie).</summary>
    public static bool IsAlive(ProcessIdentity identity) =>
        TryReadStat(identity.Pid, out var state, out var start, out _) && start == identity.StartTime && state is not ('Z' or 'X' or 'x');

    /// <summary>True while the pid still names <paramref name="identity"/> (zombies included).</summary>
    public static bool Exists(ProcessIdentity identity) =>
        TryReadStat(identity.Pid, out _, out var start, out _) && start == identity.StartTime;

    /// <summary>
    /// The children of every thread of <paramref name="pid"/> (<c>/proc/PID/task/*/children</c>); where the kernel
    /// lacks that file, the processes whose parent is <paramref name="pid"/>.
    /// </summary>
    public static IReadOnlyList<int> Children(int pid)
    {
        var children = new List<int>();
        string tasks = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task";
        string[] threads;
        try
        {
            threads = Directory.GetDirectories(tasks);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return children;
        }

        var supported = false;
        foreach (var thread in threads)
        {
            string text;
            try
            {
                text = File.ReadAllText(Path.Combine(thread, "children"));
                supported = true;
            }
            catch (FileNotFoundException) when (!supported)
            {
                return ChildrenByScan(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // the thread exited meanwhile
            }

            foreach (var token in text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var child) && !children.Contains(child))
                {
                    children.Add(child);
                }
            }
        }

        return children;
    }

    /// <summary>
    /// The last field of <c>NSpid</c> in /proc/PID/status: the pid as the innermost pid namespace of the process sees it
    /// (what a checkpoint records), or null when the process is gone.
    /// </summary>
    public static int? InnermostPid(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status"))
            {
                if (!line.StartsWith("NSpid:", StringComparison.Ordinal))
                {
                    continue;
                }

                var fields = line["NSpid:".Length..].Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries);
                return fields.Length > 0 && int.TryParse(fields[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var inner) ? inner : null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return pid; // a kernel without NSpid has one pid namespace level
    }

    private static List<int> ChildrenByScan(int parent)
    {
        var children = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && TryReadStat(pid, out _, out _, out var ppid) && ppid == parent)
            {
                children.Add(pid);
            }
        }

        return children;
    }

    /// <summary>State (field 3), start time (22) and parent (4) from /proc/PID/stat; the name (2) may hold anything.</summary>
    private static bool TryReadStat(int pid, out char state, out ulong startTime, out int parent)
    {
        state = '?';
        startTime = 0;
        parent = 0;
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        var close = text.LastIndexOf(')');
        if (close < 0)
        {
            return false;
        }

        var fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state), so field N is fields[N - 3]
        if (fields.Length < 20 || fields[0].Length != 1
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out parent)
            || !ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out startTime))
        {
            return false;
        }

        state = fields[0][0];
        return true;
    }
}
