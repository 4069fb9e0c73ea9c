using System.Diagnostics;
using System.Globalization;
using LazyActors.Engine.Restorer;
using LazyActors.Host;

namespace LazyActors.Testing;

/// <summary>
/// A one-shot <c>lazy-pages</c> run as users run it (its own process, with its crash guardian), for tests that kill the
/// daemon: <see cref="KillDaemon"/> is exactly what a user does (<c>kill -9 $(cat lp.pid)</c>, or the pid they started),
/// and the guardian resumes the restore in a successor. Log <c>WORK/lp.log</c> (the guardian's beside it,
/// <c>lp.log.guardian</c>), pidfile <c>WORK/lp.pid</c>. Dispose kills every process left whose command line names the
/// work directory (daemon, guardian, successors), by pid.
/// </summary>
public sealed class GuardedDaemon : IDisposable
{
    private readonly Process _first;
    private readonly string _work;

    private GuardedDaemon(Process first, string work)
    {
        _first = first;
        _work = work;
    }

    /// <summary>The pid the user started (the first daemon).</summary>
    public int FirstPid => _first.Id;

    /// <summary>The daemon's log.</summary>
    public string LogFile => Path.Combine(_work, "lp.log");

    /// <summary>The guardian's log.</summary>
    public string GuardianLogFile => LogFile + ".guardian";

    /// <summary>The pidfile (written by the guardian for each successor).</summary>
    public string PidFile => Path.Combine(_work, "lp.pid");

    /// <summary>The guardian's give-up report (absent unless it gave up).</summary>
    public string StatusFile => Path.Combine(_work, "lazy-pages.guardian.status");

    /// <summary>Starts <c>lazy-pages -D images -W work -o lp.log -v 4 --pidfile lp.pid</c> plus <paramref name="extra"/>
    /// and waits (bounded) until it listens.</summary>
    public static GuardedDaemon Start(string images, string work, params string[] extra)
    {
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec \"$@\" </dev/null >/dev/null 2>>\"$0/lp.stderr\"");
        start.ArgumentList.Add(work);
        foreach (var part in HostInvocation.Prefix().Concat(["lazy-pages", "-D", images, "-W", work, "-o", "lp.log", "-v", "4", "--pidfile", "lp.pid"]).Concat(extra))
        {
            start.ArgumentList.Add(part);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start lazy-pages");
        var daemon = new GuardedDaemon(process, work);
        var socket = Path.Combine(work, LazyPagesHandshake.SocketName);
        var clock = Stopwatch.StartNew();
        while (!File.Exists(socket) || !File.Exists(daemon.GuardianLogFile))
        {
            if (process.HasExited || clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                daemon.Dispose();
                throw new InvalidOperationException($"lazy-pages did not listen with its guardian within 60 s: {daemon.Stderr()}");
            }

            Thread.Sleep(20);
        }

        return daemon;
    }

    /// <summary>The live daemon's pid: the pidfile's once the guardian wrote it, else the first daemon's.</summary>
    public int CurrentPid
    {
        get
        {
            try
            {
                return int.Parse(File.ReadAllText(PidFile).Trim(), CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is IOException or FormatException)
            {
                return _first.Id;
            }
        }
    }

    /// <summary>SIGKILL to the live daemon, as a user would; returns its pid once it is dead (bounded).</summary>
    public int KillDaemon()
    {
        var pid = CurrentPid;
        _ = Engine.Interop.Libc.Kill(pid, 9);
        if (pid == _first.Id)
        {
            _first.WaitForExit(10_000);
        }
        else
        {
            WaitUntil(() => !IsAlive(pid), TimeSpan.FromSeconds(10));
        }

        return pid;
    }

    /// <summary>Waits (bounded) until a successor other than <paramref name="dead"/> is in the pidfile; its pid or null.</summary>
    public int? WaitForSuccessor(int dead, TimeSpan timeout) =>
        WaitUntil(() => CurrentPid != dead && CurrentPid != _first.Id && IsAlive(CurrentPid), timeout) ? CurrentPid : null;

    /// <summary>Waits (bounded) until no daemon, successor or guardian of this work directory is alive.</summary>
    public bool WaitForAllGone(TimeSpan timeout) => WaitUntil(() => Leftovers().Count == 0, timeout);

    /// <summary>Live (not zombie) processes whose command line names the work directory.</summary>
    public IReadOnlyList<int> Leftovers()
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains(_work, StringComparison.Ordinal) && cmdline.Contains("LazyActors.Host", StringComparison.Ordinal) && IsAlive(pid))
                {
                    found.Add(pid);
                }
            }
            catch (IOException)
            {
                // gone meanwhile
            }
            catch (UnauthorizedAccessException)
            {
                // not ours
            }
        }

        return found;
    }

    /// <summary>The daemon's log so far.</summary>
    public string Log() => File.Exists(LogFile) ? BackgroundVerb.ReadShared(LogFile) : string.Empty;

    /// <summary>The guardian's log so far.</summary>
    public string GuardianLog() => File.Exists(GuardianLogFile) ? BackgroundVerb.ReadShared(GuardianLogFile) : string.Empty;

    /// <summary>What the daemons and the guardian wrote to stderr.</summary>
    public string Stderr()
    {
        var file = Path.Combine(_work, "lp.stderr");
        return File.Exists(file) ? BackgroundVerb.ReadShared(file) : string.Empty;
    }

    /// <summary>Alive and not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        foreach (var pid in Leftovers())
        {
            _ = Engine.Interop.Libc.Kill(pid, 9);
        }

        if (!_first.HasExited)
        {
            _first.Kill();
        }

        _first.WaitForExit(10_000);
        _first.Dispose();
    }

    private static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
            {
                return false;
            }

            Thread.Sleep(20);
        }

        return true;
    }
}
