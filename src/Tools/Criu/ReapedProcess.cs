using System.Globalization;
using System.Text;
using LazyActors.Engine.Interop;
using LazyActors.Tools.Bench;

namespace LazyActors.Tools.Criu;

/// <summary>
/// One step of a CRIU run (the workload, <c>criu dump</c>, a lazy-pages daemon, <c>criu restore</c>) started under
/// its own <c>la_reaper</c>: a child subreaper that reaps the command and everything reparented to it (the tree
/// <c>criu restore -d</c> leaves behind, a daemon that detached, the children of a killed tree), reports each exit
/// with its rusage and the monotonic time on a pipe, and kills what is left by pid when its deadline passes or when
/// asked (<see cref="Terminate"/>). The harness reaps only the reaper (wait4 by pid), so it never competes with
/// .NET's own child handling and leaves nothing to PID 1. Disposing terminates, waits (bounded) and reaps.
/// </summary>
public sealed class ReapedProcess : IDisposable
{
    /// <summary>The argv word replaced by the command's status descriptor number (<see cref="ReapedProcessOptions.StatusPipe"/>).</summary>
    public const string StatusFdToken = "{status-fd}";

    private static readonly TimeSpan ReapBound = TimeSpan.FromSeconds(15);

    private readonly TaskCompletionSource<int> _mainPid = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ReaperExit> _mainExit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ReaperOutcome> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<ReaperExit> _exits = [];
    private readonly List<int> _killed = [];
    private readonly Lock _lock = new();
    private readonly Thread _reader;
    private readonly FileStream _report;
    private SafeFdHandle? _statusRead;
    private int _reaperExitCode = -1;
    private bool _deadlinePassed;
    private bool _reaperReaped;

    private ReapedProcess(int reaperPid, long spawnedNs, IReadOnlyList<string> argv, string logPath, FileStream report, SafeFdHandle? statusRead)
    {
        ReaperPid = reaperPid;
        SpawnedNs = spawnedNs;
        Argv = argv;
        LogPath = logPath;
        _report = report;
        _statusRead = statusRead;
        _reader = new Thread(ReadReports) { IsBackground = true, Name = $"la_reaper {reaperPid} report" };
        _reader.Start();
    }

    /// <summary>Pid of the reaper (the harness's child).</summary>
    public int ReaperPid { get; }

    /// <summary>CLOCK_MONOTONIC just before the reaper was spawned, ns: the step's start.</summary>
    public long SpawnedNs { get; }

    /// <summary>The command as started (status token replaced).</summary>
    public IReadOnlyList<string> Argv { get; }

    /// <summary>The command's stdout and stderr.</summary>
    public string LogPath { get; }

    /// <summary>The command's pid, once the reaper has forked it.</summary>
    public Task<int> MainPid => _mainPid.Task;

    /// <summary>The command's own exit (what reparented processes do is in <see cref="Exits"/>).</summary>
    public Task<ReaperExit> MainExit => _mainExit.Task;

    /// <summary>Completes once nothing is left below the reaper and the reaper has been reaped.</summary>
    public Task<ReaperOutcome> Completion => _completion.Task;

    /// <summary>Every process reaped so far.</summary>
    public IReadOnlyList<ReaperExit> Exits
    {
        get
        {
            lock (_lock)
            {
                return [.. _exits];
            }
        }
    }

    /// <summary>Starts <paramref name="options"/>' command under a new reaper.</summary>
    /// <exception cref="InvalidOperationException">The reaper is missing or could not be spawned.</exception>
    public static unsafe ReapedProcess Start(ReapedProcessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!File.Exists(CriuHelpers.ReaperPath))
        {
            throw new InvalidOperationException(CriuHelpers.MissingReason() ?? $"{CriuHelpers.ReaperPath} is missing");
        }

        int* report = stackalloc int[2];
        int* status = stackalloc int[2];
        status[0] = status[1] = -1;
        if (Libc.Pipe2(report, OpenFlags.O_CLOEXEC) < 0)
        {
            LinuxException.ThrowLast("pipe2(reaper report)");
        }

        var reportRead = new SafeFdHandle(report[0], ownsHandle: true);
        using var reportWrite = new SafeFdHandle(report[1], ownsHandle: true);
        SafeFdHandle? statusRead = null;
        SafeFdHandle? statusWrite = null;
        try
        {
            if (options.StatusPipe)
            {
                if (Libc.Pipe2(status, OpenFlags.O_CLOEXEC) < 0)
                {
                    LinuxException.ThrowLast("pipe2(status)");
                }

                statusRead = new SafeFdHandle(status[0], ownsHandle: true);
                statusWrite = new SafeFdHandle(status[1], ownsHandle: true);
            }

            // The child's numbers avoid every source descriptor, so no dup2 overwrites a source still to be copied.
            var sources = new HashSet<int> { report[1], status[1] };
            int childReport = FreeNumber(sources, 3);
            int childStatus = options.StatusPipe ? FreeNumber(sources, childReport + 1) : -1;
            var command = options.StatusPipe
                ? options.Argv.Select(w => w == StatusFdToken ? childStatus.ToString(CultureInfo.InvariantCulture) : w).ToList()
                : [.. options.Argv];
            var argv = new List<string> { CriuHelpers.ReaperPath, "--report-fd", Number(childReport), "--deadline-ms", Number((long)options.Deadline.TotalMilliseconds) };
            if (options.NewSession)
            {
                argv.Add("--setsid");
            }

            if (options.NewPidNamespace)
            {
                argv.Add("--new-pidns");
            }

            if (options.StatusPipe)
            {
                argv.AddRange(["--pass-fd", Number(childStatus)]);
            }

            argv.Add("--");
            argv.AddRange(command);
            long spawned = MonotonicClock.NowNs();
            int pid = Spawn(argv, options, (report[1], childReport), options.StatusPipe ? (status[1], childStatus) : null);
            statusWrite?.Dispose();
            statusWrite = null;
            var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(reportRead.DangerousGetHandle(), ownsHandle: true), FileAccess.Read, 1);
            reportRead.SetHandleAsInvalid();
            return new ReapedProcess(pid, spawned, command, options.LogPath, stream, statusRead);
        }
        catch
        {
            reportRead.Dispose();
            statusRead?.Dispose();
            statusWrite?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits for the readiness byte on the status pipe (<c>--status-fd</c>: CRIU and our daemon write one <c>\0</c>
    /// once listening; <c>criu dump --lazy-pages</c> once the images are written). Returns CLOCK_MONOTONIC at its
    /// arrival, ns, or null with the problem when the pipe closed without it (the command exited) or
    /// the time ran out. Call once.
    /// </summary>
    public Task<(long? ArrivedNs, string? Problem)> WaitForStatusByteAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var fd = Interlocked.Exchange(ref _statusRead, null) ?? throw new InvalidOperationException("No status pipe, or it was already waited for.");
        return Task.Run(() => WaitForByte(fd, timeout, cancellationToken), cancellationToken);
    }

    /// <summary>Asks the reaper to kill (SIGKILL, by pid) everything below it; it exits once all is reaped.</summary>
    public void Terminate()
    {
        // Under the lock that covers reaping: once the reaper is reaped its pid may be reused, and must not be signalled.
        lock (_lock)
        {
            if (!_reaperReaped)
            {
                _ = SpawnNative.Kill(ReaperPid, CriuNative.Sigterm);
            }
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for <see cref="Completion"/>; on timeout terminates and waits again (bounded).</summary>
    public async Task<ReaperOutcome> EndAsync(TimeSpan timeout)
    {
        try
        {
            return await Completion.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Terminate();
            return await Completion.WaitAsync(ReapBound).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Terminates what is still running and waits (bounded) until the reaper has reaped it all and been reaped; as a
    /// last resort kills the reaper itself.
    /// </summary>
    public void Dispose()
    {
        Terminate();
        if (!_reader.Join(ReapBound))
        {
            // The reaper did not finish killing (a process stuck in the kernel): kill it and let the reader reap it.
            lock (_lock)
            {
                if (!_reaperReaped)
                {
                    _ = SpawnNative.Kill(ReaperPid, SpawnNative.Sigkill);
                }
            }

            _reader.Join(ReapBound);
        }

        Interlocked.Exchange(ref _statusRead, null)?.Dispose();
        _report.Dispose();
    }

    /// <summary>The tail of the command's log (empty when there is none).</summary>
    public string LogTail(int maxChars = 1500)
    {
        try
        {
            return File.Exists(LogPath) ? CriuTool.Tail(File.ReadAllText(LogPath), maxChars) : "";
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static int FreeNumber(HashSet<int> taken, int from)
    {
        int n = from;
        while (taken.Contains(n))
        {
            n++;
        }

        taken.Add(n);
        return n;
    }

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static unsafe (long?, string?) WaitForByte(SafeFdHandle fd, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using (fd)
        {
            long deadline = MonotonicClock.NowNs() + (long)(timeout.TotalMilliseconds * 1e6);
            var poll = new PollFd { Fd = fd.Fd, Events = PollFd.POLLIN };
            while (true)
            {
                long leftMs = (deadline - MonotonicClock.NowNs()) / 1_000_000;
                if (leftMs <= 0)
                {
                    return (null, $"no readiness byte within {timeout.TotalSeconds:0.#} s");
                }

                if (cancellationToken.IsCancellationRequested)
                {
                    return (null, "cancelled");
                }

                poll.REvents = 0;
                int rc = Libc.Poll(&poll, 1, (int)Math.Min(leftMs, 100));
                if (rc == 0 || (rc < 0 && LinuxException.LastErrno() == Errno.EINTR))
                {
                    continue;
                }

                if (rc < 0)
                {
                    return (null, LinuxException.FromLast("poll(status pipe)").Message);
                }

                byte b;
                var n = Libc.Read(fd, &b, 1);
                long arrived = MonotonicClock.NowNs();
                if (n == 1)
                {
                    return b == 0 ? (arrived, null) : (arrived, $"the status descriptor carried 0x{b:x2} instead of \\0");
                }

                if (n == 0)
                {
                    return (null, "the status descriptor was closed (the command exited?) without a readiness byte");
                }

                if (LinuxException.LastErrno() is not (Errno.EINTR or Errno.EAGAIN))
                {
                    return (null, LinuxException.FromLast("read(status pipe)").Message);
                }
            }
        }
    }

    private void ReadReports()
    {
        try
        {
            using var reader = new StreamReader(_report, Encoding.ASCII, detectEncodingFromByteOrderMarks: false, bufferSize: 4096, leaveOpen: true);
            while (reader.ReadLine() is { } line)
            {
                Handle(line);
            }
        }
        catch (Exception ex) when (ex is IOException or FormatException or ObjectDisposedException)
        {
            // The pipe broke or a line was garbled: the reaper is still reaped below; the step reports what it saw.
        }

        var (code, problem) = ReapReaper();
        lock (_lock)
        {
            _mainPid.TrySetException(new InvalidOperationException($"la_reaper (pid {ReaperPid}) ended without starting `{string.Join(' ', Argv)}`{problem}; log: {LogTail(600)}"));
            _mainExit.TrySetException(new InvalidOperationException($"la_reaper (pid {ReaperPid}) ended without reporting the exit of `{string.Join(' ', Argv)}`{problem}"));
            _completion.TrySetResult(new ReaperOutcome(code ?? (_reaperExitCode >= 0 ? _reaperExitCode : null), _deadlinePassed, [.. _exits], [.. _killed]));
        }
    }

    private void Handle(string line)
    {
        switch (ReaperLine.Kind(line))
        {
            case "start":
                _mainPid.TrySetResult(ReaperLine.Int(ReaperLine.Fields(line, "start"), "pid", line));
                break;
            case "exit":
                var exit = ReaperExit.Parse(line);
                lock (_lock)
                {
                    _exits.Add(exit);
                }

                if (exit.IsMain)
                {
                    _mainExit.TrySetResult(exit);
                }

                break;
            case "kill":
                var fields = ReaperLine.Fields(line, "kill");
                lock (_lock)
                {
                    _killed.Add(ReaperLine.Int(fields, "pid", line));
                    _deadlinePassed |= fields.GetValueOrDefault("reason") == "deadline";
                }

                break;
            case "done":
                _reaperExitCode = ReaperLine.Int(ReaperLine.Fields(line, "done"), "code", line);
                break;
            default:
                break;
        }
    }

    private unsafe (int? Code, string Problem) ReapReaper()
    {
        long deadline = MonotonicClock.NowNs() + (long)(ReapBound.TotalMilliseconds * 1e6);
        while (true)
        {
            int status;
            int rc;
            lock (_lock)
            {
                rc = SpawnNative.Wait4(ReaperPid, &status, SpawnNative.Wnohang, null);
                _reaperReaped = rc == ReaperPid || (rc < 0 && LinuxException.LastErrno() == Errno.ECHILD);
            }

            if (rc == ReaperPid)
            {
                var (code, signal) = DaemonExit.DecodeStatus(status);
                return (code, signal is { } s ? $" (la_reaper killed by signal {s})" : "");
            }

            if (rc < 0 && LinuxException.LastErrno() != Errno.EINTR)
            {
                return (null, $" (wait4 on la_reaper: {LinuxException.FromLast("wait4").Message})");
            }

            if (MonotonicClock.NowNs() > deadline)
            {
                // The report pipe closed but the reaper lingers: kill it, its children go on to be reaped by it or PID 1.
                _ = SpawnNative.Kill(ReaperPid, SpawnNative.Sigkill);
                deadline = long.MaxValue;
            }

            Thread.Sleep(2);
        }
    }

    private static unsafe int Spawn(IReadOnlyList<string> argv, ReapedProcessOptions options, (int Source, int Target) report, (int Source, int Target)? status) =>
        PosixSpawner.Spawn(argv, actions =>
        {
            PosixSpawner.Check(SpawnNative.FileActionsAddDup2(actions, report.Source, report.Target), "posix_spawn_file_actions_adddup2(report)");
            if (status is { } s)
            {
                PosixSpawner.Check(SpawnNative.FileActionsAddDup2(actions, s.Source, s.Target), "posix_spawn_file_actions_adddup2(status)");
            }

            PosixSpawner.Check(SpawnNative.FileActionsAddOpen(actions, 0, "/dev/null", OpenFlags.O_RDONLY, 0), "posix_spawn_file_actions_addopen(stdin)");
            PosixSpawner.Check(SpawnNative.FileActionsAddOpen(actions, 1, options.LogPath, OpenFlags.O_WRONLY | SpawnNative.OCreat | CriuNative.OAppend, 0x1a4), $"posix_spawn_file_actions_addopen({options.LogPath})");
            PosixSpawner.Check(SpawnNative.FileActionsAddDup2(actions, 1, 2), "posix_spawn_file_actions_adddup2(stderr)");
            if (options.WorkingDirectory is { } cwd)
            {
                PosixSpawner.Check(CriuNative.FileActionsAddChdir(actions, cwd), $"posix_spawn_file_actions_addchdir_np({cwd})");
            }
        });
}
