using System.Diagnostics;
using System.Globalization;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// The guardian of one restore: holds the journal the daemon writes (records and the descriptors they carry) and
/// outlives the daemon. When the daemon's end of the channel closes without a <see cref="JournalRecordKind.Done"/>
/// record, the daemon is dead (its descriptor table is gone, so none of its threads can touch a uffd any more): the
/// guardian starts a successor, hands it the whole journal with every descriptor still needed, points the pidfile at
/// it and guards it the same way. Where resuming is impossible (restart budget spent, give-up time passed, a successor
/// that cannot be started) it stops the restored tree before letting any uffd go, and reports which tasks and ranges
/// were lost. Single-threaded; blocking.
/// </summary>
public sealed class Guardian
{
    private readonly GuardianOptions _options;
    private readonly Func<int, (int Pid, Func<TimeSpan, bool> WaitForExit)> _startSuccessor;
    private readonly Action<string> _log;
    private readonly Action<string> _error;
    private readonly List<Entry> _journal = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private RestoredTree? _tree;
    private Func<TimeSpan, bool>? _waitForDaemon;

    /// <summary>A guardian; <paramref name="startSuccessor"/> starts the daemon again with the given inherited channel
    /// descriptor as its resume channel and returns its pid and a bounded wait for its exit (reaping it);
    /// <paramref name="log"/> takes its log lines, <paramref name="error"/> the give-up error (also logged).</summary>
    public Guardian(GuardianOptions options, Func<int, (int Pid, Func<TimeSpan, bool> WaitForExit)> startSuccessor, Action<string> log, Action<string> error)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _startSuccessor = startSuccessor;
        _log = log;
        _error = error;
    }

    /// <summary>Guards until the restore ends; returns the guardian's exit code (0, or 1 after a give-up).</summary>
    public int Run(SafeFdHandle channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        var daemonPid = _options.DaemonPid;
        var restarts = 0;
        try
        {
            while (true)
            {
                if (Drain(channel) is { } exitCode)
                {
                    _log($"the daemon (pid {daemonPid}) ended the restore with exit code {exitCode}; the guardian lets go");
                    return 0;
                }

                channel.Dispose();
                _waitForDaemon?.Invoke(TimeSpan.FromSeconds(5));
                var state = Snapshot();
                if (state.Finished && state.Ordered.Where(r => r.Kind is JournalRecordKind.Task or JournalRecordKind.Fork)
                        .All(r => state.Ended.ContainsKey(r.Kind == JournalRecordKind.Task ? r.Id : r.Number)))
                {
                    _log($"the daemon (pid {daemonPid}) died after every task was served; nothing to resume");
                    return 0;
                }

                restarts++;
                if (restarts > _options.Settings.RestartBudget)
                {
                    return GiveUp(state, $"the daemon died {restarts} time(s) (restart budget {_options.Settings.RestartBudget} spent)");
                }

                if (_clock.Elapsed > _options.Settings.GiveUpAfter)
                {
                    return GiveUp(state, $"the daemon died {_clock.Elapsed.TotalSeconds:0} s into the restore, past crash-safety.give-up-after ({_options.Settings.GiveUpAfter.TotalSeconds:0} s)");
                }

                _log($"the daemon (pid {daemonPid}) died without ending the restore; starting successor {restarts} of at most {_options.Settings.RestartBudget}");
                var started = StartSuccessor(restarts);
                if (started is null)
                {
                    return GiveUp(state, "no successor could be started");
                }

                (daemonPid, channel) = started.Value;
                WritePidFile(daemonPid);
            }
        }
        finally
        {
            channel.Dispose();
            foreach (var entry in _journal)
            {
                entry.Descriptor?.Dispose();
            }
        }
    }

    /// <summary>Reads records until the daemon ends the restore (its exit code) or its end closes (null).</summary>
    private int? Drain(SafeFdHandle channel)
    {
        var buffer = new byte[GuardianSocket.MaxRecord];
        while (true)
        {
            int length;
            SafeFdHandle? fd;
            try
            {
                length = GuardianSocket.Receive(channel, buffer, out fd, null);
            }
            catch (InvalidDataException ex)
            {
                _log($"a journal record was refused: {ex.Message}");
                continue;
            }

            if (length == 0)
            {
                return null;
            }

            JournalRecord record;
            try
            {
                record = JournalRecord.Decode(buffer.AsSpan(0, length));
            }
            catch (InvalidDataException ex)
            {
                fd?.Dispose();
                _log($"a journal record was refused: {ex.Message}");
                continue;
            }

            if (record.Kind == JournalRecordKind.Done)
            {
                fd?.Dispose();
                return record.Number;
            }

            Keep(record, buffer.AsSpan(0, length).ToArray(), fd);
        }
    }

    private void Keep(JournalRecord record, byte[] raw, SafeFdHandle? fd)
    {
        switch (record.Kind)
        {
            case JournalRecordKind.Listener:
                // First, or again after a connection that closed without a word: that one was not the restorer.
                ForgetListener();
                ForgetAccepted();
                break;
            case JournalRecordKind.Accepted:
                // The restorer is in; nobody else may connect through the guardian's copy of the socket.
                ForgetListener();
                _tree = RestoredTree.Attach(record.Number, record.Ticks > 0 ? record.Ticks : null);
                break;
            case JournalRecordKind.Task:
                _tree?.Resolve(record.Number);
                break;
            case JournalRecordKind.Ended:
                foreach (var entry in _journal)
                {
                    if (entry.UffdId == record.Id && entry.Descriptor is { } held)
                    {
                        held.Dispose();
                        entry.Descriptor = null;
                    }
                }

                break;
        }

        _journal.Add(new Entry(record, raw, fd));
    }

    private void ForgetAccepted()
    {
        foreach (var entry in _journal.Where(e => e.Record.Kind == JournalRecordKind.Accepted).ToList())
        {
            entry.Descriptor?.Dispose();
            _journal.Remove(entry);
        }

        _tree = null;
    }

    private void ForgetListener()
    {
        foreach (var entry in _journal.Where(e => e.Record.Kind == JournalRecordKind.Listener).ToList())
        {
            entry.Descriptor?.Dispose();
            _journal.Remove(entry);
        }
    }

    /// <summary>Starts a successor and replays the journal to it; null when that failed (it is then stopped).</summary>
    private (int Pid, SafeFdHandle Channel)? StartSuccessor(int restarts)
    {
        var (ours, theirs) = GuardianSocket.Pair();
        SafeFdHandle? inherited = null;
        try
        {
            inherited = GuardianSocket.DuplicateInheritable(theirs);
            theirs.Dispose();
            var (pid, wait) = _startSuccessor(inherited.Fd);
            inherited.Dispose();
            _waitForDaemon = wait;
            Span<byte> end = stackalloc byte[GuardianSocket.MaxRecord];
            foreach (var entry in _journal)
            {
                GuardianSocket.Send(ours, entry.Raw, entry.Descriptor);
            }

            var length = new JournalRecord(JournalRecordKind.ResumeEnd, Number: restarts).Encode(end);
            GuardianSocket.Send(ours, end[..length], null);
            _log($"successor pid {pid} started; {_journal.Count} journal record(s) handed over");
            return (pid, ours);
        }
        catch (Exception ex) when (ex is LinuxException or IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            _log($"the successor could not be started or took no journal: {ex.Message}");
            inherited?.Dispose();
            theirs.Dispose();
            ours.Dispose();
            return null;
        }
    }

    private void WritePidFile(int pid)
    {
        if (_options.PidFile is not { } file)
        {
            return;
        }

        try
        {
            var temporary = $"{file}.{Environment.ProcessId}.tmp";
            File.WriteAllText(temporary, pid.ToString(CultureInfo.InvariantCulture) + "\n");
            File.Move(temporary, file, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log($"cannot point the pidfile {file} at the successor (pid {pid}): {ex.Message}");
        }
    }

    /// <summary>Resuming is impossible: stop the tree before any uffd is let go, then say what was lost.</summary>
    private int GiveUp(ResumeState state, string why)
    {
        string stopped;
        if (_tree is { } tree)
        {
            stopped = tree.Stop((int)_options.Settings.StopSignal, TimeSpan.FromSeconds(5)).ToString();
        }
        else
        {
            stopped = !_journal.Any(e => e.Record.Kind == JournalRecordKind.Accepted)
                ? "no restored process to stop (the restorer had not connected)"
                : "the restored tree could not be stopped: the restorer's pid is unknown (not visible from this pid namespace)";
        }

        var error = $"crash safety gave up: {why}; {stopped}; {Lost(state)}";
        _log(error);
        _error(error);
        try
        {
            File.WriteAllText(_options.StatusFile, error + "\n");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _log($"cannot write {_options.StatusFile}: {ex.Message}");
        }

        return 1;
    }

    /// <summary>Every task still being served and the ranges it had not confirmed copied (from the journal).</summary>
    private string Lost(ResumeState state)
    {
        try
        {
            using var checkpoint = OpenForNaming();
            var lost = new List<string>();
            foreach (var uffd in JournalReplay.Rebuild(state, checkpoint).Where(u => u.EndedPhase is null))
            {
                var ranges = uffd.Book.Pending.ToList();
                var host = _tree?.HostPidOf(uffd.Pid) is { } hostPid ? $" (host pid {hostPid})" : string.Empty;
                var listed = string.Join(", ", ranges.Take(8).Select(r => $"0x{r.Start:x}-0x{r.End:x}"));
                var more = ranges.Count > 8 ? $" and {ranges.Count - 8} more range(s)" : string.Empty;
                lost.Add($"task {uffd.Label}{host}: {uffd.Book.Pending.TotalPages} page(s) not confirmed copied in {ranges.Count} range(s): {listed}{more}");
            }

            var missing = checkpoint.Tasks.Count(t => t.State != TaskState.Dead) - state.Ordered.Count(r => r.Kind == JournalRecordKind.Task);
            if (missing > 0)
            {
                lost.Add($"{missing} task(s) of pstree.img never handed over");
            }

            return lost.Count == 0 ? "no task lacked pages" : $"lost: {string.Join("; ", lost)}";
        }
        catch (Exception ex) when (ex is ImageFormatException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return $"the lost ranges cannot be named: {ex.Message}";
        }
    }

    /// <summary>The checkpoint the restore served: its images, or the description a restore over the Akka transport kept
    /// (its images directory holds none).</summary>
    private Checkpoint OpenForNaming() =>
        !File.Exists(Path.Combine(_options.ImagesDirectory, "pstree.img")) && _options.DescriptionFile is { } described && File.Exists(described)
            ? DescribedCheckpoint.Load(described)
            : Checkpoint.Open(_options.ImagesDirectory);

    /// <summary>The journal as a successor would see it (descriptors not owned: for reading only).</summary>
    private ResumeState Snapshot()
    {
        var state = new ResumeState();
        foreach (var entry in _journal)
        {
            state.Add(entry.Record, null);
        }

        return state;
    }

    private sealed class Entry(JournalRecord record, byte[] raw, SafeFdHandle? descriptor)
    {
        public JournalRecord Record { get; } = record;

        public byte[] Raw { get; } = raw;

        public SafeFdHandle? Descriptor { get; set; } = descriptor;

        /// <summary>The uffd this entry's descriptor belongs to (Task: its id; Fork: the child's), else 0.</summary>
        public int UffdId => Record.Kind switch
        {
            JournalRecordKind.Task => Record.Id,
            JournalRecordKind.Fork => Record.Number,
            _ => 0,
        };
    }
}
