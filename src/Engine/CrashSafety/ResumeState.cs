using LazyActors.Engine.Interop;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// Everything a dead daemon journalled, as its successor (or the guardian, to report a give-up) sees it: the socket or
/// the restorer's connection and the handshake position, every uffd with its descriptor, the events in the order they
/// were read, the copied ranges, the uffds that needed no more service. Built record by record with <see cref="Add"/>,
/// in journal order. Owns the descriptors it holds until they are taken.
/// </summary>
public sealed class ResumeState : IDisposable
{
    private readonly List<JournalRecord> _ordered = [];
    private readonly Dictionary<int, SafeFdHandle> _descriptors = [];
    private readonly Dictionary<int, List<(ulong DumpStart, ulong Pages)>> _progress = [];
    private readonly Dictionary<int, (int Phase, string? Reason)> _ended = [];
    private readonly List<int> _zombies = [];

    /// <summary>The listening socket, while no restorer was accepted.</summary>
    public SafeFdHandle? Listener { get; private set; }

    /// <summary>The restorer's connection, once accepted.</summary>
    public SafeFdHandle? Connection { get; private set; }

    /// <summary>The restorer's host pid (0 when unknown or not accepted yet).</summary>
    public int RestorerPid { get; private set; }

    /// <summary>When the first daemon began listening (<see cref="Restorer.ProcFs.NowTicks"/>).</summary>
    public ulong ListeningSince { get; private set; }

    /// <summary>Pstree entries that arrived (live tasks and zombies).</summary>
    public int EntriesDone { get; private set; }

    /// <summary>The pid of the last entry when it was a zombie (journalled before its word was consumed), else null.</summary>
    public int? LastZombie { get; private set; }

    /// <summary>Zombie pids, in order.</summary>
    public IReadOnlyList<int> Zombies => _zombies;

    /// <summary>"restore finished" arrived.</summary>
    public bool Finished { get; private set; }

    /// <summary>Task, Fork and Event records in journal order.</summary>
    public IReadOnlyList<JournalRecord> Ordered => _ordered;

    /// <summary>Copied ranges by uffd id.</summary>
    public IReadOnlyDictionary<int, List<(ulong DumpStart, ulong Pages)>> Progress => _progress;

    /// <summary>Uffds that needed no more service: their phase (<see cref="Actors.TaskPhase"/>) and reason.</summary>
    public IReadOnlyDictionary<int, (int Phase, string? Reason)> Ended => _ended;

    /// <summary>The highest uffd id journalled.</summary>
    public int LastId { get; private set; }

    /// <summary>How many daemons died before this state was handed over.</summary>
    public int Restarts { get; private set; }

    /// <summary>True once the guardian's end-of-replay marker arrived.</summary>
    public bool Complete { get; private set; }

    /// <summary>Reads the guardian's replay from <paramref name="channel"/> until its end marker (bounded).</summary>
    /// <exception cref="InvalidDataException">The guardian went away or sent something this version does not write.</exception>
    public static ResumeState Read(SafeFdHandle channel, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(channel);
        var state = new ResumeState();
        var buffer = new byte[GuardianSocket.MaxRecord];
        var deadline = DateTime.UtcNow + timeout;
        try
        {
            while (!state.Complete)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    throw new InvalidDataException($"the guardian's journal replay did not end within {timeout.TotalSeconds:0} s");
                }

                int length;
                SafeFdHandle? fd;
                try
                {
                    length = GuardianSocket.Receive(channel, buffer, out fd, left);
                }
                catch (TimeoutException)
                {
                    continue;
                }

                if (length == 0)
                {
                    throw new InvalidDataException("the guardian closed the resume channel before the end of its journal replay");
                }

                state.Add(JournalRecord.Decode(buffer.AsSpan(0, length)), fd);
            }

            return state;
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    /// <summary>Takes one record (and its descriptor, owned from now on) in journal order.</summary>
    public void Add(JournalRecord record, SafeFdHandle? fd)
    {
        ArgumentNullException.ThrowIfNull(record);
        switch (record.Kind)
        {
            case JournalRecordKind.Listener:
                // Listening again: the connection accepted before closed without a word (it was not the restorer).
                Replace(Listener, fd);
                Listener = fd;
                Replace(Connection, null);
                Connection = null;
                RestorerPid = 0;
                return;
            case JournalRecordKind.Accepted:
                Listener?.Dispose();
                Listener = null;
                Replace(Connection, fd);
                Connection = fd;
                RestorerPid = record.Number;
                ListeningSince = record.Ticks;
                return;
            case JournalRecordKind.Task:
                EntriesDone++;
                LastZombie = null;
                Track(record.Id, fd);
                _ordered.Add(record);
                return;
            case JournalRecordKind.Zombie:
                EntriesDone++;
                LastZombie = record.Number;
                _zombies.Add(record.Number);
                return;
            case JournalRecordKind.Finished:
                Finished = true;
                LastZombie = null;
                return;
            case JournalRecordKind.Fork:
                Track(record.Number, fd);
                _ordered.Add(record);
                return;
            case JournalRecordKind.Event:
                _ordered.Add(record);
                break;
            case JournalRecordKind.Progress:
                if (!_progress.TryGetValue(record.Id, out var ranges))
                {
                    _progress[record.Id] = ranges = [];
                }

                ranges.AddRange(record.Ranges ?? []);
                break;
            case JournalRecordKind.Ended:
                _ended[record.Id] = (record.Number, record.Text);
                if (_descriptors.Remove(record.Id, out var ended))
                {
                    ended.Dispose();
                }

                break;
            case JournalRecordKind.ResumeEnd:
                Restarts = record.Number;
                Complete = true;
                break;
        }

        fd?.Dispose();
    }

    /// <summary>
    /// What a successor needs and this state has no descriptor for: the socket or the restorer's connection while the
    /// restore had not finished, and the uffd of every task or fork child that had not ended. Empty when it can go on.
    /// </summary>
    public IReadOnlyList<string> Missing()
    {
        var missing = new List<string>();
        if (!Finished && Listener is null && Connection is null)
        {
            missing.Add(RestorerPid > 0 ? $"the connection of the restorer (pid {RestorerPid})" : "lazy-pages.socket (the listening socket)");
        }

        foreach (var record in _ordered.Where(r => r.Kind is JournalRecordKind.Task or JournalRecordKind.Fork))
        {
            var id = record.Kind == JournalRecordKind.Task ? record.Id : record.Number;
            if (!_ended.ContainsKey(id) && !_descriptors.ContainsKey(id))
            {
                missing.Add(record.Kind == JournalRecordKind.Task ? $"the uffd of task {record.Number}" : $"the uffd of a fork child (uffd {id}, parent uffd {record.Id})");
            }
        }

        return missing;
    }

    /// <summary>Takes the descriptor of uffd <paramref name="id"/> (the caller owns it), or null.</summary>
    public SafeFdHandle? TakeDescriptor(int id) => _descriptors.Remove(id, out var fd) ? fd : null;

    /// <summary>Takes the listener (the caller owns it), or null.</summary>
    public SafeFdHandle? TakeListener()
    {
        var listener = Listener;
        Listener = null;
        return listener;
    }

    /// <summary>Takes the restorer's connection (the caller owns it), or null.</summary>
    public SafeFdHandle? TakeConnection()
    {
        var connection = Connection;
        Connection = null;
        return connection;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Listener?.Dispose();
        Connection?.Dispose();
        foreach (var fd in _descriptors.Values)
        {
            fd.Dispose();
        }

        _descriptors.Clear();
    }

    private void Track(int id, SafeFdHandle? fd)
    {
        LastId = Math.Max(LastId, id);
        if (fd is not null)
        {
            Replace(_descriptors.GetValueOrDefault(id), null);
            _descriptors[id] = fd;
        }
    }

    private static void Replace(SafeFdHandle? old, SafeFdHandle? _) => old?.Dispose();
}
