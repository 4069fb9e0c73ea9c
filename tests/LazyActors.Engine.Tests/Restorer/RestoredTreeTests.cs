using System.Diagnostics;
using System.Globalization;
using LazyActors.Engine.Restorer;
using Xunit;

namespace LazyActors.Engine.Tests.Restorer;

/// <summary>
/// <see cref="RestoredTree"/> on real processes: a "restorer" started by the test (a shell, or <c>unshare</c> making a
/// pid namespace like remote restores do) with a tree of sleepers below it. Every process started is killed and reaped.
/// </summary>
public sealed class RestoredTreeTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly List<Process> _started = [];

    public void Dispose()
    {
        foreach (var process in _started)
        {
            try
            {
                // Descendants first, deepest last seen first, so each parent (a waiting shell) reaps its children: this
                // machine's PID 1 reaps no orphans. Then the restorer itself, which the test reaps.
                if (!process.HasExited)
                {
                    foreach (var pid in AllDescendants(process.Id).AsEnumerable().Reverse())
                    {
                        _ = Engine.Interop.Libc.Kill(pid, 9);
                    }

                    Thread.Sleep(100);
                    process.Kill(entireProcessTree: true);
                }

                process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
                // already reaped
            }

            process.Dispose();
        }
    }

    [Fact]
    public void Task_pids_resolve_to_host_pids_among_the_restorers_descendants()
    {
        var restorer = StartRestorer("sleep 60 & sleep 60 & wait");
        var children = WaitForDescendants(restorer.Id, 2);
        var tree = RestoredTree.Attach(restorer.Id, SinceStart(restorer))!;

        // Without a pid namespace a task's pid in the checkpoint is its host pid.
        foreach (var child in children)
        {
            Assert.Equal(child, tree.Resolve(child));
            Assert.Equal(child, tree.HostPidOf(child));
        }

        Assert.Null(tree.Resolve(999_999));
        Assert.Contains(999_999, tree.Unresolved);
        Assert.Equal(restorer.Id, tree.Restorer.Pid);
    }

    [SkippableFact]
    public void In_a_pid_namespace_the_innermost_pid_names_the_task()
    {
        Skip.If(!File.Exists("/usr/bin/unshare") && !File.Exists("/bin/unshare"), "unshare(1) is not installed");
        // unshare forks sh as pid 1 of a new namespace; sh's children get pids 2 and 3 there.
        var restorer = StartRestorer("exec unshare --pid --fork sh -c 'sleep 60 & sleep 60 & wait'");
        var inside = WaitForDescendants(restorer.Id, 3); // sh (pid 1 inside), sleep, sleep; the outer sh exec'd unshare
        var tree = RestoredTree.Attach(restorer.Id, SinceStart(restorer))!;

        var pid2 = tree.Resolve(2);
        var pid3 = tree.Resolve(3);
        Assert.NotNull(pid2);
        Assert.NotNull(pid3);
        Assert.NotEqual(pid2, pid3);
        Assert.Equal(2, ProcFs.InnermostPid(pid2!.Value));
        Assert.Contains(pid2.Value, inside);
        Assert.NotEqual(2, pid2.Value); // a host pid, not the namespace's
    }

    [Fact]
    public void Stop_kills_each_tasks_whole_subtree_including_children_it_forked_later_but_not_the_restorer()
    {
        // The task (a shell) forks a child and a grandchild after it was resolved: like a fork child of a restored task.
        var restorer = StartRestorer("sh -c 'sleep 60' & wait; sleep 60");
        var task = WaitForDescendants(restorer.Id, 1)[0];
        var tree = RestoredTree.Attach(restorer.Id, SinceStart(restorer))!;
        Assert.Equal(task, tree.Resolve(task));
        var beforeStop = WaitForDescendants(task, 1);

        var result = tree.Stop(9, Bound);

        Assert.Contains(task, result.Signalled);
        Assert.All(beforeStop, p => Assert.Contains(p, result.Signalled));
        Assert.Empty(result.StillAlive);
        Assert.False(result.UsedFallback);
        Assert.DoesNotContain(restorer.Id, result.Signalled);
        Assert.DoesNotContain(Environment.ProcessId, result.Signalled);
        Assert.False(restorer.HasExited); // the restorer lives on (it reaps its dead child)
        Assert.Contains("SIGKILL to", result.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Stop_with_unresolved_tasks_stops_every_process_the_restorer_had_started()
    {
        var restorer = StartRestorer("sleep 60 & sleep 60 & wait");
        var children = WaitForDescendants(restorer.Id, 2);
        var tree = RestoredTree.Attach(restorer.Id, SinceStart(restorer))!;
        Assert.Null(tree.Resolve(4242_42)); // a pid no process carries (the simulator's tasks)

        var result = tree.Stop(9, Bound);

        Assert.True(result.UsedFallback);
        Assert.Equal(children.Order(), result.Signalled.Order());
        Assert.Empty(result.StillAlive);
        Assert.Contains("every process restorer pid", result.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Processes_the_restorer_started_before_it_connected_are_left_alone()
    {
        var restorer = StartRestorer("sleep 60 & read line; sleep 60 & wait");
        var before = WaitForDescendants(restorer.Id, 1)[0];
        Thread.Sleep(50); // a clock tick or more: /proc start times count in 10 ms
        var tree = RestoredTree.Attach(restorer.Id, ProcFs.NowTicks())!; // as a daemon starts listening: now
        Thread.Sleep(50);
        restorer.StandardInput.WriteLine("go");
        restorer.StandardInput.Flush();
        var after = WaitForDescendants(restorer.Id, 2).Single(p => p != before);
        Assert.Null(tree.Resolve(4242_42));

        var result = tree.Stop(9, Bound);

        Assert.Equal([after], result.Signalled);
        Assert.True(ProcFs.IsAlive(ProcFs.Identity(before)!.Value));
    }

    [Fact]
    public void Stop_with_SIGSTOP_freezes_the_tree_and_leaves_it_alive()
    {
        var restorer = StartRestorer("sleep 60 & wait");
        var child = WaitForDescendants(restorer.Id, 1)[0];
        var tree = RestoredTree.Attach(restorer.Id, SinceStart(restorer))!;
        tree.Resolve(child);

        var result = tree.Stop(19, Bound);

        Assert.Equal([child], result.Signalled);
        Assert.True(WaitUntil(() => State(child) == 'T'), $"state {State(child)}");
        Assert.True(ProcFs.IsAlive(ProcFs.Identity(child)!.Value));
    }

    [Fact]
    public void A_restorer_that_is_gone_or_unknown_gives_no_tree()
    {
        Assert.Null(RestoredTree.Attach(0));
        var done = StartRestorer("exit 0");
        done.WaitForExit(5000);
        var pid = done.Id;
        done.Dispose();
        _started.Remove(done);
        Assert.Null(RestoredTree.Attach(pid));
    }

    [Fact]
    public void ProcFs_reads_identity_children_and_namespace_pid_of_this_process()
    {
        var self = ProcFs.Identity(Environment.ProcessId);
        Assert.NotNull(self);
        Assert.True(ProcFs.IsAlive(self!.Value));
        Assert.False(ProcFs.Exists(self.Value with { StartTime = self.Value.StartTime + 1 })); // another process's identity
        Assert.Equal(Environment.ProcessId, ProcFs.InnermostPid(Environment.ProcessId));
        var restorer = StartRestorer("sleep 60 & wait");
        Assert.Contains(WaitForDescendants(restorer.Id, 1)[0], ProcFs.Children(restorer.Id));
    }

    /// <summary>The restorer's start: its children in these tests come after it, as a restore's do after the connect.</summary>
    private static ulong SinceStart(Process restorer) => ProcFs.Identity(restorer.Id)!.Value.StartTime;

    private Process StartRestorer(string script)
    {
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardInput = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        var process = Process.Start(info) ?? throw new InvalidOperationException("sh did not start");
        _started.Add(process);
        return process;
    }

    /// <summary>The descendants of <paramref name="root"/> once there are at least <paramref name="count"/> (bounded).</summary>
    private static List<int> WaitForDescendants(int root, int count)
    {
        List<int> found = [];
        Assert.True(WaitUntil(() => (found = AllDescendants(root)).Count >= count), $"{root} has {found.Count} descendant(s), expected {count}");
        return found;
    }

    private static List<int> AllDescendants(int root)
    {
        var found = new List<int>();
        var queue = new Queue<int>([root]);
        while (queue.Count > 0)
        {
            foreach (var child in ProcFs.Children(queue.Dequeue()))
            {
                found.Add(child);
                queue.Enqueue(child);
            }
        }

        return found;
    }

    private static char State(int pid)
    {
        var text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        return text[text.LastIndexOf(')') + 2];
    }

    private static bool WaitUntil(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Bound)
        {
            if (condition())
            {
                return true;
            }

            Thread.Sleep(20);
        }

        return false;
    }
}
