using System.Diagnostics;
using System.Globalization;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Restorer;

/// <summary>
/// The processes a restore created, as host pids, and how to stop them all. The restorer's connection peer (SO_PEERCRED
/// on lazy-pages.socket: the <c>criu restore</c> process) is the ancestor of every restored task while the handshake
/// runs, so each task's pid from the checkpoint (its innermost namespace pid) is found among the restorer's descendants
/// by the last field of <c>NSpid</c> in /proc/PID/status, whether or not the tree runs in a pid namespace of its own.
/// Resolve while the restorer is alive (a <c>criu restore -d</c> leaves once the tree runs, and the tree is reparented);
/// stop at any time later. Thread-safe.
/// </summary>
/// <remarks>
/// <para>Stopping freezes before it signals: every process of each task's subtree gets SIGSTOP, walking children again
/// until no new one appears (a process that forks while being stopped leaves a child to find), then the signal goes to
/// all of them at once, so no child escapes by being reparented when its parent dies. Fork children are descendants of
/// their task and are stopped with it.</para>
/// <para>Processes are held by identity (pid and start time): a pid reused meanwhile is never signalled. Neither this
/// process nor the restorer itself is ever signalled, and only processes started since a given moment count (the
/// daemon passes the moment it began listening: no restore can start before, so whatever the restorer had started
/// earlier is left alone). When a task's pid could not be resolved (a restorer whose processes do not carry the
/// checkpoint's pids, such as the restore simulator), every process the restorer started since then is stopped
/// instead.</para>
/// </remarks>
public sealed class RestoredTree
{
    private const int SigStop = 19;
    private const int SigCont = 18;
    private const int MaxWalkRounds = 64;

    private readonly Lock _gate = new();
    private readonly Dictionary<int, ProcessIdentity> _tasks = [];
    private readonly Dictionary<int, ProcessIdentity> _seen = [];
    private readonly HashSet<int> _unresolved = [];
    private readonly int _self = Environment.ProcessId;

    private RestoredTree(ProcessIdentity restorer, ulong startedSince)
    {
        Restorer = restorer;
        StartedSince = startedSince;
    }

    /// <summary>Only processes started at or after this (clock ticks since boot, as /proc says) belong to the tree.</summary>
    public ulong StartedSince { get; }

    /// <summary>The restorer process (the lazy-pages.socket peer).</summary>
    public ProcessIdentity Restorer { get; }

    /// <summary>Task pid (from the checkpoint) → host pid, for the tasks resolved so far.</summary>
    public IReadOnlyDictionary<int, int> HostPids
    {
        get
        {
            lock (_gate)
            {
                return _tasks.ToDictionary(t => t.Key, t => t.Value.Pid);
            }
        }
    }

    /// <summary>Task pids whose process was not found among the restorer's descendants.</summary>
    public IReadOnlyCollection<int> Unresolved
    {
        get
        {
            lock (_gate)
            {
                return [.. _unresolved];
            }
        }
    }

    /// <summary>
    /// Attaches to the restorer with host pid <paramref name="restorerPid"/> (SO_PEERCRED of its connection); null when
    /// it is not visible from here (pid 0: another pid namespace) or already gone. Only processes started at or after
    /// <paramref name="startedSince"/> (<see cref="ProcFs.NowTicks"/> taken before the restore could begin, e.g. when the
    /// daemon started listening) belong to the tree; without it, the restorer's own start.
    /// </summary>
    /// <remarks>Not "when the restorer connected": the restorer forks its tasks as soon as its connect returns, which can be
    /// before this daemon accepted.</remarks>
    public static RestoredTree? Attach(int restorerPid, ulong? startedSince = null) =>
        restorerPid > 0 && ProcFs.Identity(restorerPid) is { } identity
            ? new RestoredTree(identity, startedSince ?? identity.StartTime)
            : null;

    /// <summary>
    /// Finds the process of task <paramref name="taskPid"/> among the restorer's descendants and remembers it (and every
    /// descendant seen). Cheap enough to call once per task as its uffd arrives. Returns its host pid, or null.
    /// </summary>
    public int? Resolve(int taskPid)
    {
        lock (_gate)
        {
            if (_tasks.TryGetValue(taskPid, out var known) && ProcFs.Exists(known))
            {
                return known.Pid;
            }

            foreach (var process in Descendants(Restorer, StartedSince))
            {
                _seen.TryAdd(process.Pid, process);
                if (ProcFs.InnermostPid(process.Pid) == taskPid && ProcFs.Exists(process))
                {
                    _tasks[taskPid] = process;
                    _unresolved.Remove(taskPid);
                    return process.Pid;
                }
            }

            _unresolved.Add(taskPid);
            return null;
        }
    }

    /// <summary>The host pid of task <paramref name="taskPid"/>, or null when not resolved.</summary>
    public int? HostPidOf(int taskPid)
    {
        lock (_gate)
        {
            return _tasks.TryGetValue(taskPid, out var process) ? process.Pid : null;
        }
    }

    /// <summary>
    /// Sends <paramref name="signal"/> to the process of task <paramref name="taskPid"/> alone (not its children, which
    /// are tasks of their own), when it was resolved and is still that same process (start time checked, so a reused pid
    /// is never hit). Returns its host pid, or null when nothing was signalled.
    /// </summary>
    public int? StopTask(int taskPid, int signal)
    {
        lock (_gate)
        {
            if (!_tasks.TryGetValue(taskPid, out var process) || process.Pid == _self || process.Pid == Restorer.Pid || !ProcFs.Exists(process))
            {
                return null;
            }

            _ = Libc.Kill(process.Pid, signal);
            if (signal != 9 && signal != SigStop)
            {
                _ = Libc.Kill(process.Pid, SigCont);
            }

            return process.Pid;
        }
    }

    /// <summary>
    /// Stops the tree: freezes every process of every resolved task's subtree (plus, when a task was not resolved, every
    /// process the restorer had started), sends <paramref name="signal"/> to them all (with SIGCONT after a signal other
    /// than SIGKILL/SIGSTOP so it is acted upon), then waits up to <paramref name="waitForExit"/> for them to die (not for
    /// SIGSTOP). Never signals this process or the restorer.
    /// </summary>
    public TreeStopResult Stop(int signal, TimeSpan waitForExit)
    {
        lock (_gate)
        {
            var roots = new List<ProcessIdentity>(_tasks.Values);
            var fallback = _unresolved.Count > 0 || _tasks.Count == 0;
            if (fallback)
            {
                // A restorer that also lives on (restore without -d) still has the tree below it: walk it again.
                roots.AddRange(_seen.Values);
                roots.AddRange(Descendants(Restorer, StartedSince));
            }

            var frozen = Freeze(roots);
            foreach (var process in frozen)
            {
                if (signal != SigStop && ProcFs.Exists(process))
                {
                    _ = Libc.Kill(process.Pid, signal);
                    if (signal != 9)
                    {
                        _ = Libc.Kill(process.Pid, SigCont);
                    }
                }
            }

            var alive = signal == SigStop ? [] : WaitForExit(frozen, waitForExit);
            return new TreeStopResult(Restorer.Pid, signal, [.. frozen.Select(p => p.Pid)], alive, fallback, HostPidsLocked());
        }
    }

    private Dictionary<int, int> HostPidsLocked() => _tasks.ToDictionary(t => t.Key, t => t.Value.Pid);

    /// <summary>SIGSTOP to each root and its descendants, again and again until no new process appears.</summary>
    private List<ProcessIdentity> Freeze(List<ProcessIdentity> roots)
    {
        var frozen = new Dictionary<int, ProcessIdentity>();
        var wave = roots;
        for (var round = 0; round < MaxWalkRounds && wave.Count > 0; round++)
        {
            var stoppedNow = new List<ProcessIdentity>();
            foreach (var process in wave)
            {
                if (process.Pid == _self || process.Pid == Restorer.Pid || frozen.ContainsKey(process.Pid) || !ProcFs.Exists(process))
                {
                    continue;
                }

                _ = Libc.Kill(process.Pid, SigStop);
                frozen.Add(process.Pid, process);
                stoppedNow.Add(process);
            }

            // Children of everything stopped so far (one forking while it was stopped leaves a child behind).
            wave = [];
            foreach (var parent in frozen.Values)
            {
                foreach (var child in ProcFs.Children(parent.Pid))
                {
                    if (!frozen.ContainsKey(child) && ProcFs.Identity(child) is { } identity)
                    {
                        wave.Add(identity);
                    }
                }
            }

            if (stoppedNow.Count == 0)
            {
                break;
            }
        }

        return [.. frozen.Values];
    }

    private static List<int> WaitForExit(List<ProcessIdentity> processes, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var alive = processes.Where(ProcFs.IsAlive).ToList();
        while (alive.Count > 0 && clock.Elapsed < timeout)
        {
            Thread.Sleep(10);
            alive.RemoveAll(p => !ProcFs.IsAlive(p));
        }

        return [.. alive.Select(p => p.Pid)];
    }

    /// <summary>
    /// Every descendant of <paramref name="root"/> now (breadth first, bounded), through children started at or after
    /// <paramref name="since"/> only: older ones and what is below them were there before the restore.
    /// </summary>
    private static List<ProcessIdentity> Descendants(ProcessIdentity root, ulong since)
    {
        var found = new List<ProcessIdentity>();
        if (!ProcFs.Exists(root))
        {
            return found;
        }

        var seen = new HashSet<int> { root.Pid };
        var queue = new Queue<int>();
        queue.Enqueue(root.Pid);
        while (queue.Count > 0 && found.Count < 1 << 16)
        {
            foreach (var child in ProcFs.Children(queue.Dequeue()))
            {
                if (seen.Add(child) && ProcFs.Identity(child) is { } identity && identity.StartTime >= since)
                {
                    found.Add(identity);
                    queue.Enqueue(child);
                }
            }
        }

        return found;
    }
}

/// <summary>How <see cref="RestoredTree.Stop"/> went.</summary>
/// <param name="RestorerPid">The restorer's host pid.</param>
/// <param name="Signal">The signal sent.</param>
/// <param name="Signalled">Host pids that were frozen and signalled.</param>
/// <param name="StillAlive">Host pids still alive after the wait (empty for SIGSTOP).</param>
/// <param name="UsedFallback">True when not every task was resolved and the restorer's descendants were stopped.</param>
/// <param name="HostPids">Task pid → host pid, as resolved.</param>
public sealed record TreeStopResult(int RestorerPid, int Signal, IReadOnlyList<int> Signalled, IReadOnlyList<int> StillAlive, bool UsedFallback, IReadOnlyDictionary<int, int> HostPids)
{
    /// <summary>One line for the log and the error message.</summary>
    public override string ToString()
    {
        var pids = string.Join(", ", Signalled.Take(16).Select(p => p.ToString(CultureInfo.InvariantCulture))) + (Signalled.Count > 16 ? $" and {Signalled.Count - 16} more" : string.Empty);
        var name = Signal switch { 9 => "SIGKILL", 15 => "SIGTERM", 19 => "SIGSTOP", _ => $"signal {Signal}" };
        var text = Signalled.Count == 0
            ? $"no process of the restored tree was found to stop (restorer pid {RestorerPid})"
            : $"{name} to {Signalled.Count} process(es) of the restored tree: {pids}";
        if (UsedFallback)
        {
            text += $" (not every task's pid was found: every process restorer pid {RestorerPid} had started was stopped)";
        }

        return StillAlive.Count == 0 ? text : $"{text}; still alive after the wait: {string.Join(", ", StillAlive)}";
    }
}
