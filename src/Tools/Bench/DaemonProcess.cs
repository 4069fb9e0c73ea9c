using System.Diagnostics;
using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Bench;

/// <summary>
/// A lazy-pages daemon under test, started with posix_spawn as <c>TEMPLATE -D IMAGES -W WORKDIR --status-fd N
/// [EXTRA...]</c>: stdin from /dev/null, stdout and stderr to a log file, the write end of a pipe as descriptor N.
/// Readiness is the <c>\0</c> byte the daemon writes on N after listen() (criu's <c>--status-fd</c> contract).
/// The bench reaps it itself with wait4, which reports its peak RSS and CPU time. Every wait is bounded; disposing
/// kills (by pid) and reaps a daemon still running.
/// </summary>
public sealed class DaemonProcess : IDisposable
{
    private readonly long _startTimestamp;
    private readonly RssSampler _rss;
    private SafeFdHandle? _statusRead;
    private DaemonExit? _exit;

    private DaemonProcess(int pid, SafeFdHandle statusRead, long startTimestamp, IReadOnlyList<string> argv, string logPath)
    {
        Pid = pid;
        _statusRead = statusRead;
        _startTimestamp = startTimestamp;
        Argv = argv;
        LogPath = logPath;
        _rss = new RssSampler(pid, TimeSpan.FromMilliseconds(10));
    }

    /// <summary>Process id of the daemon.</summary>
    public int Pid { get; }

    /// <summary>The full command line it was started with.</summary>
    public IReadOnlyList<string> Argv { get; }

    /// <summary>Its stdout and stderr.</summary>
    public string LogPath { get; }

    /// <summary>The outcome once reaped, else null.</summary>
    public DaemonExit? Exit => _exit;

    /// <summary>Starts <paramref name="template"/> with the lazy-pages options.</summary>
    /// <exception cref="InvalidOperationException">posix_spawn failed (e.g. the executable does not exist).</exception>
    public static unsafe DaemonProcess Start(IReadOnlyList<string> template, string imagesDir, string workDir, IEnumerable<string> extraArgs, string logPath)
    {
        ArgumentNullException.ThrowIfNull(template);
        int* fds = stackalloc int[2];
        if (Libc.Pipe2(fds, OpenFlags.O_CLOEXEC) < 0)
        {
            LinuxException.ThrowLast("pipe2(status pipe)");
        }

        using var statusWrite = new SafeFdHandle(fds[1], ownsHandle: true);
        var statusRead = new SafeFdHandle(fds[0], ownsHandle: true);
        int childStatusFd = fds[1] == 3 ? 4 : 3;
        var argv = CommandTemplate.LazyPagesArgv(template, imagesDir, workDir, childStatusFd, extraArgs);
        try
        {
            long start = Stopwatch.GetTimestamp();
            int pid = Spawn(argv, fds[1], childStatusFd, logPath);
            return new DaemonProcess(pid, statusRead, start, argv, logPath);
        }
        catch
        {
            statusRead.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits for the readiness byte. Returns the milliseconds from spawn to readiness, or null with
    /// <paramref name="problem"/> set when the daemon closed the pipe (usually: exited) without it or
    /// <paramref name="timeout"/> passed.
    /// </summary>
    public unsafe double? WaitReady(TimeSpan timeout, out string? problem)
    {
        problem = null;
        var fd = _statusRead ?? throw new InvalidOperationException("WaitReady was already called.");
        try
        {
            long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            var poll = new PollFd { Fd = (int)fd.DangerousGetHandle(), Events = PollFd.POLLIN };
            while (true)
            {
                long left = deadline - Stopwatch.GetTimestamp();
                if (left <= 0)
                {
                    problem = $"no readiness byte on --status-fd within {timeout.TotalSeconds:0.#} s";
                    return null;
                }

                poll.REvents = 0;
                int rc = Libc.Poll(&poll, 1, (int)Math.Max(1, left * 1000 / Stopwatch.Frequency));
                if (rc < 0 && LinuxException.LastErrno() == Errno.EINTR || rc == 0)
                {
                    continue;
                }

                if (rc < 0)
                {
                    LinuxException.ThrowLast("poll(status pipe)");
                }

                byte b;
                var n = Libc.Read(fd, &b, 1);
                if (n == 1)
                {
                    var ms = Stopwatch.GetElapsedTime(_startTimestamp).TotalMilliseconds;
                    if (b != 0)
                    {
                        problem = $"status fd carried byte 0x{b:x2} instead of \\0";
                    }

                    return ms;
                }

                if (n == 0)
                {
                    problem = "the daemon closed --status-fd (or exited) without signalling readiness";
                    return null;
                }

                if (LinuxException.LastErrno() is not (Errno.EINTR or Errno.EAGAIN))
                {
                    LinuxException.ThrowLast("read(status pipe)");
                }
            }
        }
        finally
        {
            fd.Dispose();
            _statusRead = null;
        }
    }

    /// <summary>True while the daemon has not been reaped and has not exited (checks with wait4 WNOHANG).</summary>
    public bool IsRunning => _exit is null && !TryReap(killed: false);

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the daemon to exit by itself; afterwards kills it with SIGKILL and
    /// reaps it (the result says so). Returns the outcome.
    /// </summary>
    public DaemonExit WaitForExit(TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (_exit is null)
        {
            if (TryReap(killed: false))
            {
                break;
            }

            if (deadline.Elapsed >= timeout)
            {
                KillAndReap();
                break;
            }

            Thread.Sleep(5);
        }

        return _exit!;
    }

    /// <summary>Sends <paramref name="signal"/> (a Linux signal number) while it runs (never after it was reaped).</summary>
    public void Signal(int signal)
    {
        if (_exit is null && !TryReap(killed: false))
        {
            _ = SpawnNative.Kill(Pid, signal);
        }
    }

    /// <summary>Last <paramref name="maxChars"/> characters of the daemon's log (empty if none).</summary>
    public string LogTail(int maxChars = 2000)
    {
        try
        {
            var text = File.ReadAllText(LogPath);
            return text.Length <= maxChars ? text.Trim() : "..." + text[^maxChars..].Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>Kills (SIGKILL, by pid) and reaps the daemon if it is still running; closes the status pipe.</summary>
    public void Dispose()
    {
        _statusRead?.Dispose();
        _statusRead = null;
        if (_exit is null && !TryReap(killed: false))
        {
            KillAndReap();
        }
    }

    private void KillAndReap()
    {
        _ = SpawnNative.Kill(Pid, SpawnNative.Sigkill);
        var deadline = Stopwatch.StartNew();
        while (!TryReap(killed: true))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(10))
            {
                // A process stuck in the kernel after SIGKILL: nothing more can be done from here.
                _rss.Dispose();
                _exit = new DaemonExit(null, SpawnNative.Sigkill, true, double.NaN, double.NaN) { PeakAnonRssMiB = _rss.PeakAnonMiB };
                return;
            }

            Thread.Sleep(5);
        }
    }

    private unsafe bool TryReap(bool killed)
    {
        int status;
        Rusage usage = default;
        int rc = SpawnNative.Wait4(Pid, &status, SpawnNative.Wnohang, &usage);
        if (rc == 0)
        {
            return false;
        }

        _rss.Dispose();

        if (rc < 0)
        {
            var errno = LinuxException.LastErrno();
            if (errno == Errno.EINTR)
            {
                return false;
            }

            // ECHILD: someone else reaped it; no usage figures then.
            _exit = new DaemonExit(null, null, killed, double.NaN, double.NaN);
            return true;
        }

        var (code, signal) = DaemonExit.DecodeStatus(status);
        _exit = new DaemonExit(code, signal, killed, usage.MaxRssKiB / 1024.0, usage.CpuSeconds) { PeakAnonRssMiB = _rss.PeakAnonMiB };
        return true;
    }

    private static unsafe int Spawn(IReadOnlyList<string> argv, int statusWriteFd, int childStatusFd, string logPath) =>
        PosixSpawner.Spawn(argv, actions =>
        {
            PosixSpawner.Check(SpawnNative.FileActionsAddDup2(actions, statusWriteFd, childStatusFd), "posix_spawn_file_actions_adddup2");
            PosixSpawner.Check(SpawnNative.FileActionsAddOpen(actions, 0, "/dev/null", OpenFlags.O_RDONLY, 0), "posix_spawn_file_actions_addopen(stdin)");
            PosixSpawner.Check(SpawnNative.FileActionsAddOpen(actions, 1, logPath, OpenFlags.O_WRONLY | SpawnNative.OCreat | SpawnNative.OTrunc, 0x1a4), "posix_spawn_file_actions_addopen(stdout)");
            PosixSpawner.Check(SpawnNative.FileActionsAddDup2(actions, 1, 2), "posix_spawn_file_actions_adddup2(stderr)");
        });
}
