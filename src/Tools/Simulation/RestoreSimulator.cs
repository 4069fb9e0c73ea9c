using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Restorer;

namespace LazyActors.Tools.Simulation;

/// <summary>
/// Plays <c>criu restore --lazy-pages</c> against a lazy-pages daemon on real processes (spec §1–2): one process per
/// live task of the checkpoint, each with its own userfaultfd; ONE connection to <c>WORKDIR/lazy-pages.socket</c>
/// carrying, per pstree entry, the int32 pid and the uffd (1 byte + SCM_RIGHTS), a negative pid for zombies, then the
/// u32 "restore finished" word. Afterwards every task touches and verifies its memory. Every wait is bounded; every
/// process started is killed if needed and reaped.
/// </summary>
public sealed class RestoreSimulator
{
    /// <summary>
    /// How long past our own deadline a task's report is awaited. A task counts its timeout from its own start, which on
    /// a loaded machine comes seconds after ours, and only then reports the pages it was never served.
    /// </summary>
    private static readonly TimeSpan ReportGrace = TimeSpan.FromSeconds(10);

    private readonly RestoreSimOptions _options;

    /// <summary>Creates a simulation with <paramref name="options"/>; nothing starts before <see cref="Run"/>.</summary>
    public RestoreSimulator(RestoreSimOptions options)
    {
        _options = options;
    }

    /// <summary>Restores the checkpoint against the daemon, lets every task touch and verify, and reports. Never throws for a failed restore: the report says what went wrong.</summary>
    public SimReport Run()
    {
        var total = Stopwatch.StartNew();
        using var checkpoint = Checkpoint.Open(_options.ImagesDir);
        var alive = checkpoint.Tasks.Where(t => t.State != TaskState.Dead).ToList();
        var zombies = checkpoint.Tasks.Where(t => t.State == TaskState.Dead).Select(t => t.Pid).ToList();
        foreach (var task in alive)
        {
            var plan = TaskMemoryPlan.For(task);
            if (plan.RemoteOnlyPages > 0)
            {
                return Failed($"pid {task.Pid} has {plan.RemoteOnlyPages} lazy pages whose data is not in {_options.ImagesDir} (a `dump --lazy-pages` image set): restore-sim verifies against local page data and needs a normal dump or merged images", zombies);
            }
        }

        var socketPath = Path.GetFullPath(Path.Combine(_options.EffectiveWorkDir, LazyPagesHandshake.SocketName));
        var controlDir = Path.Combine("/tmp", $"lzsim-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(controlDir);
        var controlPath = Path.Combine(controlDir, "ctl.sock");
        var tasks = new List<SimTaskProcess>();
        try
        {
            using var listener = UnixSocket.Listen(controlPath);
            SafeFdHandle daemon;
            try
            {
                daemon = UnixSocket.Connect(socketPath);
                _options.HandshakeHook?.Invoke(HandshakeStep.Connected, 0);
            }
            catch (Exception ex) when (ex is LinuxException or ArgumentException)
            {
                return Failed($"connect to {socketPath} failed: {ex.Message} (is a lazy-pages daemon listening in work dir {_options.EffectiveWorkDir}?)", zombies);
            }

            using (daemon)
            {
                var firstAlive = alive.FirstOrDefault()?.Pid;
                string? forkHelper = null;
                if (_options.Scenario == SimScenario.Fork)
                {
                    forkHelper = ForkHelper.Locate();
                }

                foreach (var task in alive)
                {
                    var args = new SimTaskArgs(_options.ImagesDir, task.Pid, controlPath, _options.Touch, _options.Threads,
                        task.Pid == firstAlive ? _options.Scenario : SimScenario.None, _options.Verify, _options.Timeout, _options.Seed);
                    if (forkHelper is not null && task.Pid == firstAlive)
                    {
                        var planPath = WriteForkPlan(checkpoint, task, controlDir, args);
                        tasks.Add(new SimTaskProcess(task.Pid, true, () => TaskProcessLauncher.StartForkHelper(forkHelper, planPath)));
                    }
                    else
                    {
                        tasks.Add(new SimTaskProcess(task.Pid, false, () => TaskProcessLauncher.StartManaged(args)));
                    }

                    Report($"task {task.Pid}: started as process {tasks[^1].Process.Id}");
                }

                var deadline = Stopwatch.StartNew();
                var setupError = CollectReadyTasks(listener, tasks, deadline);
                if (setupError is not null)
                {
                    return Failed(setupError, zombies, tasks);
                }

                if (_options.StartTimeout is not null)
                {
                    deadline.Restart();
                }

                var restoreMs = total.Elapsed.TotalMilliseconds;
                SendHandshake(daemon, checkpoint, tasks, deadline);
                if (_options.HoldBeforeTouch > TimeSpan.Zero)
                {
                    Thread.Sleep(_options.HoldBeforeTouch);
                }

                if (_options.TouchGate is { } gate)
                {
                    WaitForTouchGate(gate, deadline);
                }

                var verifyClock = Stopwatch.StartNew();
                foreach (var t in tasks)
                {
                    SimControl.Send(t.Control!, SimControl.Go, ReadOnlySpan<byte>.Empty);
                }

                var results = CollectResults(tasks, deadline);
                var verifiedMs = verifyClock.Elapsed.TotalMilliseconds;
                foreach (var t in tasks)
                {
                    t.Process.WaitForExit((int)Math.Max(1000, Remaining(deadline).TotalMilliseconds));
                    t.Reap();
                }

                return new SimReport
                {
                    Ok = results.All(r => r.Ok) && results.Count >= tasks.Count,
                    Images = _options.ImagesDir,
                    RestoreMs = restoreMs,
                    TouchToVerifiedMs = verifiedMs,
                    Tasks = results,
                    Zombies = zombies,
                };
            }
        }
        catch (Exception ex) when (ex is LinuxException or IOException or InvalidDataException or TimeoutException or InvalidOperationException or ImageFormatException)
        {
            return Failed(ex.Message, zombies, tasks);
        }
        finally
        {
            foreach (var t in tasks)
            {
                t.Dispose();
            }

            try
            {
                Directory.Delete(controlDir, recursive: true);
            }
            catch (IOException)
            {
                // best effort: a temp directory
            }
        }
    }

    private string? CollectReadyTasks(SafeFdHandle listener, List<SimTaskProcess> tasks, Stopwatch deadline)
    {
        var bound = _options.StartTimeout ?? _options.Timeout;
        var waiting = tasks.ToDictionary(t => t.Pid);
        while (waiting.Count > 0)
        {
            if (deadline.Elapsed > bound)
            {
                return $"tasks {string.Join(", ", waiting.Keys)} did not register their userfaultfd within {bound.TotalSeconds:0.#} s";
            }

            foreach (var t in waiting.Values.ToList())
            {
                if (!t.Process.HasExited)
                {
                    continue;
                }

                t.Process.WaitForExit();
                if (t.Process.ExitCode == SimulatedTask.CollisionExitCode && t.Attempts <= _options.MaxCollisionRetries)
                {
                    Report($"task {t.Pid}: {t.Stderr}; retrying in a fresh process (attempt {t.Attempts + 1})");
                    t.Restart();
                    continue;
                }

                return $"task {t.Pid} exited with code {t.Process.ExitCode} before registering its memory: {t.Stderr}";
            }

            SafeFdHandle connection;
            try
            {
                connection = UnixSocket.Accept(listener, TimeSpan.FromMilliseconds(100));
            }
            catch (TimeoutException)
            {
                continue;
            }

            var (type, payload) = SimControl.Receive(connection, Remaining(deadline, bound));
            if (type != SimControl.Ready || payload.Length != 4)
            {
                connection.Dispose();
                return $"a task process sent control frame {type} instead of READY: {Encoding.UTF8.GetString(payload)}";
            }

            var pid = BinaryPrimitives.ReadInt32LittleEndian(payload);
            var uffd = UnixSocket.ReceiveFd(connection, Remaining(deadline, bound));
            if (!waiting.Remove(pid, out var task))
            {
                connection.Dispose();
                uffd.Dispose();
                return $"a task process announced unexpected pid {pid}";
            }

            task.Control = connection;
            task.Uffd = uffd;
            Report($"task {pid}: userfaultfd registered and received");
        }

        return null;
    }

    /// <summary>The bytes CRIU's restore sends on lazy-pages.socket, in pstree order (spec §1.3).</summary>
    private void SendHandshake(SafeFdHandle daemon, Checkpoint checkpoint, List<SimTaskProcess> tasks, Stopwatch deadline)
    {
        Span<byte> word = stackalloc byte[4];
        var sent = 0;
        foreach (var entry in checkpoint.Tasks)
        {
            if (entry.State == TaskState.Dead)
            {
                BinaryPrimitives.WriteInt32LittleEndian(word, -entry.Pid);
                UnixSocket.SendExactly(daemon, word);
                _options.HandshakeHook?.Invoke(HandshakeStep.EntrySent, ++sent);
                continue;
            }

            var task = tasks.First(t => t.Pid == entry.Pid);
            BinaryPrimitives.WriteInt32LittleEndian(word, entry.Pid);
            UnixSocket.SendExactly(daemon, word);
            _options.HandshakeHook?.Invoke(HandshakeStep.PidSent, sent);
            UnixSocket.SendFd(daemon, task.Uffd!);
            task.Uffd!.Dispose();
            task.Uffd = null;
            SimControl.Send(task.Control!, SimControl.Handed, ReadOnlySpan<byte>.Empty);
            _options.HandshakeHook?.Invoke(HandshakeStep.EntrySent, ++sent);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(word, LazyPagesHandshake.RestoreFinished);
        UnixSocket.SendExactly(daemon, word);
        _options.HandshakeHook?.Invoke(HandshakeStep.FinishedSent, sent);
        Report($"restore finished sent after {deadline.Elapsed.TotalMilliseconds:0} ms");
    }

    private List<TouchResult> CollectResults(List<SimTaskProcess> tasks, Stopwatch deadline)
    {
        // One dedicated thread per task: the collectors wait for each other at the touch barrier, so they must not
        // depend on the thread pool growing (it injects threads slowly on a 2-core machine).
        using var allTouched = new CountdownEvent(tasks.Count);
        var results = new List<TouchResult>[tasks.Count];
        var threads = new Thread[tasks.Count];
        for (var i = 0; i < tasks.Count; i++)
        {
            var index = i;
            threads[i] = new Thread(() =>
            {
                var signalled = false;
                try
                {
                    results[index] = CollectResult(tasks[index], deadline, allTouched, ref signalled).ToList();
                }
                finally
                {
                    if (!signalled)
                    {
                        allTouched.Signal();
                    }
                }
            })
            { IsBackground = true, Name = $"restore-sim-collect-{tasks[i].Pid}" };
            threads[i].Start();
        }

        foreach (var thread in threads)
        {
            thread.Join();
        }

        return results.SelectMany(r => r ?? []).ToList();
    }

    private IEnumerable<TouchResult> CollectResult(SimTaskProcess task, Stopwatch deadline, CountdownEvent allTouched, ref bool signalled)
    {
        if (task.IsForkHelper)
        {
            allTouched.Signal(); // the C helper verifies on its own
            signalled = true;
            if (!task.Process.WaitForExit(Remaining(deadline) + ReportGrace))
            {
                task.Reap();
                return [new TouchResult { Pid = task.Pid, Error = $"fork helper of pid {task.Pid} did not finish within {_options.Timeout.TotalSeconds:0.#} s" }];
            }

            task.Process.WaitForExit(); // flushes redirected output
            var parsed = ForkResultParser.Parse(task.Pid, task.Stdout).ToList();
            if (parsed.Count < 2)
            {
                parsed.Add(new TouchResult { Pid = task.Pid, Role = "fork", Error = $"fork helper exited with code {task.Process.ExitCode} and {parsed.Count} result line(s): {task.Stderr} {task.Stdout}".Trim() });
            }

            return parsed;
        }

        try
        {
            var (type, payload) = SimControl.Receive(task.Control!, Remaining(deadline) + ReportGrace);
            if (type == SimControl.Touched)
            {
                allTouched.Signal();
                signalled = true;
                allTouched.Wait(Remaining(deadline) + ReportGrace);
                SimControl.Send(task.Control!, SimControl.VerifyNow, ReadOnlySpan<byte>.Empty);
                (type, payload) = SimControl.Receive(task.Control!, Remaining(deadline) + TimeSpan.FromSeconds(30));
            }

            if (type is SimControl.Result or SimControl.Timeout)
            {
                var result = JsonSerializer.Deserialize(payload, SimJsonContext.Default.TouchResult)
                    ?? throw new InvalidDataException($"task {task.Pid} sent an empty result");
                Report($"task {task.Pid}: {(result.Ok ? "verified" : "FAILED")} {result.Pages} pages in {result.TouchMs:0} ms");
                return [result];
            }

            return [new TouchResult { Pid = task.Pid, Error = $"task {task.Pid} reported: {Encoding.UTF8.GetString(payload)}" }];
        }
        catch (Exception ex) when (ex is TimeoutException or EndOfStreamException or IOException or LinuxException or InvalidDataException or JsonException)
        {
            task.Reap();
            return [new TouchResult { Pid = task.Pid, OsPid = task.Process.Id, Error = $"task {task.Pid} gave no result: {ex.Message} {task.Stderr}".Trim() }];
        }
    }

    private static string WriteForkPlan(Checkpoint checkpoint, TaskImages task, string dir, SimTaskArgs args)
    {
        var plan = TaskMemoryPlan.For(task);
        var expectedPath = Path.Combine(dir, $"expected-{task.Pid}.bin");
        var planPath = Path.Combine(dir, $"plan-{task.Pid}.txt");
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"ctl {args.ControlPath}\nexpected {expectedPath}\npid {task.Pid}\n");
        text.Append(CultureInfo.InvariantCulture, $"touch {args.Touch.ToString().ToLowerInvariant()}\ntimeout_ms {(long)args.Timeout.TotalMilliseconds}\nseed {args.Seed}\n");
        using (var expected = new FileStream(expectedPath, FileMode.Create, FileAccess.Write))
        {
            var buffer = new byte[256 * PageGeometry.PageSize];
            foreach (var vma in plan.Vmas)
            {
                var offset = expected.Position;
                text.Append(CultureInfo.InvariantCulture, $"vma {vma.Start:x} {vma.End:x} {vma.Prot} {offset}\n");
                foreach (var run in plan.Eager.Where(r => r.Start >= vma.Start && r.Start < vma.End))
                {
                    text.Append(CultureInfo.InvariantCulture, $"eager {run.Start:x} {run.Pages} {offset + (long)(run.Start - vma.Start)}\n");
                }

                for (ulong p = 0; p < vma.Pages; p += 256)
                {
                    var pages = (int)Math.Min(256, vma.Pages - p);
                    var span = buffer.AsSpan(0, pages * (int)PageGeometry.PageSize);
                    checkpoint.Pages.Read(task.Pid, vma.Start + (p * PageGeometry.PageSize), pages, span);
                    expected.Write(span);
                }
            }
        }

        File.WriteAllText(planPath, text.ToString());
        return planPath;
    }

    private TimeSpan Remaining(Stopwatch deadline) => Remaining(deadline, _options.Timeout);

    private static TimeSpan Remaining(Stopwatch deadline, TimeSpan bound)
    {
        var left = bound - deadline.Elapsed;
        return left > TimeSpan.FromMilliseconds(10) ? left : TimeSpan.FromMilliseconds(10);
    }

    private void WaitForTouchGate(string gate, Stopwatch deadline)
    {
        while (!File.Exists(gate))
        {
            if (deadline.Elapsed > _options.Timeout)
            {
                throw new TimeoutException($"the touch gate {gate} was not opened within {_options.Timeout.TotalSeconds:0.#} s");
            }

            Thread.Sleep(5);
        }

        Report($"touch gate {gate} open");
    }

    private void Report(string line) => _options.Progress?.Invoke(line);

    private SimReport Failed(string error, List<int> zombies, List<SimTaskProcess>? tasks = null)
    {
        var details = tasks is null ? "" : string.Concat(tasks.Where(t => t.Stderr.Length > 0).Select(t => $"\n  task {t.Pid}: {t.Stderr}"));
        return new SimReport { Ok = false, Images = _options.ImagesDir, Error = error + details, Zombies = zombies };
    }
}
