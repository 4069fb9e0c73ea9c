using System.Buffers.Binary;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// The crash safety of one job of the hosted service (<c>serve</c>) under systemd: where the one-shot daemon has its
/// guardian process, a job's journal goes to systemd's file-descriptor store. The job writes its <see cref="CrashJournal"/>
/// as always; this keeper's thread reads each record, appends it to the job's journal file (in the service's state
/// directory: the records, each marked with whether a descriptor came with it) and hands the descriptor to the store as
/// <c>JOB-N</c> (N: the record's index in the file), so a restart of the service finds every listening socket, restorer
/// connection and uffd of its jobs with the journal that says what each one is (<see cref="ReadJournalFile"/>,
/// <see cref="Resume"/>). A descriptor is removed from the store once nothing needs it (the listener once the restorer is
/// accepted, a uffd once its task ended), and all of them with the file when the job ends.
/// </summary>
public sealed class FdStoreKeeper : IDisposable
{
    private readonly SystemdFdStore _store;
    private readonly string _job;
    private readonly SafeFdHandle _channel;
    private readonly Action<string> _log;
    private readonly Thread _thread;
    private readonly Dictionary<int, string> _stored = [];
    private readonly Dictionary<int, List<int>> _byUffd = [];
    private int _listener = -1;
    private int _accepted = -1;

    private int _index;

    private FdStoreKeeper(SystemdFdStore store, string job, string journalFile, SafeFdHandle channel, Action<string> log)
    {
        _store = store;
        _job = SystemdFdStore.CheckName(job);
        JournalFile = journalFile;
        _channel = channel;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = $"fdstore-{job}" };
    }

    /// <summary>The journal file (deleted when the job ends).</summary>
    public string JournalFile { get; }

    /// <summary>Descriptor names still in the store.</summary>
    public IReadOnlyCollection<string> Stored
    {
        get
        {
            lock (_stored)
            {
                return [.. _stored.Values];
            }
        }
    }

    /// <summary>
    /// Starts keeping job <paramref name="job"/>'s journal in <paramref name="journalFile"/> (created anew); returns the
    /// journal the job writes. The keeper ends when the journal's <see cref="CrashJournal.Done"/> arrives or it is disposed.
    /// </summary>
    public static (CrashJournal Journal, FdStoreKeeper Keeper) Start(SystemdFdStore store, string job, string journalFile, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(journalFile);
        File.Delete(journalFile);
        return Begin(store, job, journalFile, lastId: 0, log, _ => { });
    }

    /// <summary>
    /// Goes on keeping the journal of job <paramref name="job"/> after a restart of the service: <paramref name="records"/>
    /// are the file's records (<see cref="ReadJournalFile"/>, the file cut to them), <paramref name="inStore"/> the names of
    /// the job's descriptors systemd handed back; new records are appended with the indexes after the old ones, and what
    /// the store still holds is removed as a fresh keeper would (a uffd once its task ends, everything when the job ends).
    /// Returns the journal the resumed job writes (ids after <paramref name="lastId"/>).
    /// </summary>
    public static (CrashJournal Journal, FdStoreKeeper Keeper) Resume(SystemdFdStore store, string job, string journalFile, IReadOnlyList<JournalFileRecord> records,
        IReadOnlySet<string> inStore, int lastId, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(inStore);
        return Begin(store, job, journalFile, lastId, log, keeper =>
        {
            foreach (var (record, index) in records.Select((r, i) => (r, i)))
            {
                if (record.Stored && inStore.Contains(keeper.NameOf(index)))
                {
                    keeper.Track(index, record.Record);
                }

                keeper.Forget(record.Record);
            }

            keeper._index = records.Count;
        });
    }

    /// <summary>
    /// The records of a journal file a keeper wrote, in order, each with whether its descriptor went to the store. A
    /// record cut short by a death mid-write ends the list, and the file is cut back to the whole records (so appending
    /// goes on at a record boundary).
    /// </summary>
    /// <exception cref="IOException">The file cannot be read or cut.</exception>
    /// <exception cref="InvalidDataException">A whole record does not decode: the file is not a journal of ours.</exception>
    public static IReadOnlyList<JournalFileRecord> ReadJournalFile(string journalFile)
    {
        var records = new List<JournalFileRecord>();
        using var stream = new FileStream(journalFile, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        var at = 0;
        while (at + 3 <= bytes.Length)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(at));
            if (length == 0 || length > GuardianSocket.MaxRecord || bytes[at + 2] > 1)
            {
                throw new InvalidDataException($"{journalFile}: record {records.Count} at byte {at} has length {length} and mark {bytes[at + 2]}: not a journal this service wrote");
            }

            if (at + 3 + length > bytes.Length)
            {
                break;
            }

            records.Add(new JournalFileRecord(JournalRecord.Decode(bytes.AsSpan(at + 3, length)), bytes[at + 2] == 1));
            at += 3 + length;
        }

        if (at < bytes.Length)
        {
            stream.SetLength(at);
        }

        return records;
    }

    /// <summary>The store name of record <paramref name="index"/> of job <paramref name="job"/>'s journal.</summary>
    public static string NameOf(string job, int index) => $"{job}-{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    private static (CrashJournal Journal, FdStoreKeeper Keeper) Begin(SystemdFdStore store, string job, string journalFile, int lastId, Action<string> log, Action<FdStoreKeeper> prepare)
    {
        var (ours, theirs) = GuardianSocket.Pair();
        try
        {
            var keeper = new FdStoreKeeper(store, job, journalFile, theirs, log);
            prepare(keeper);
            keeper._thread.Start();
            return (new CrashJournal(ours, lastId, log), keeper);
        }
        catch
        {
            ours.Dispose();
            theirs.Dispose();
            throw;
        }
    }

    private string NameOf(int index) => NameOf(_job, index);

    /// <summary>Waits (bounded) for the keeper to forward what the job wrote; call after the journal was disposed.</summary>
    public bool WaitForEnd(TimeSpan timeout) => _thread.Join(timeout);

    /// <inheritdoc />
    public void Dispose()
    {
        _thread.Join(TimeSpan.FromSeconds(5));
        _channel.Dispose();
    }

    private void Run()
    {
        var buffer = new byte[GuardianSocket.MaxRecord];
        var header = new byte[3];
        using var file = new FileStream(JournalFile, FileMode.Append, FileAccess.Write, FileShare.Read);
        try
        {
            while (true)
            {
                int length;
                SafeFdHandle? fd;
                try
                {
                    length = GuardianSocket.Receive(_channel, buffer, out fd, null);
                }
                catch (InvalidDataException ex)
                {
                    _log($"job {_job}: a journal record was refused: {ex.Message}");
                    continue;
                }

                if (length == 0)
                {
                    // The job let its journal go without ending: nothing will resume it from this process.
                    RemoveAll();
                    return;
                }

                using (fd)
                {
                    var record = JournalRecord.Decode(buffer.AsSpan(0, length));
                    if (record.Kind == JournalRecordKind.Done)
                    {
                        RemoveAll();
                        file.Dispose();
                        File.Delete(JournalFile);
                        return;
                    }

                    // The file first: a descriptor in the store is never without the record saying what it is.
                    BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)length);
                    header[2] = fd is null ? (byte)0 : (byte)1;
                    file.Write(header);
                    file.Write(buffer, 0, length);
                    file.Flush();
                    if (fd is not null)
                    {
                        Store(_index, record, fd);
                    }

                    Forget(record);
                    _index++;
                }
            }
        }
        catch (Exception ex) when (ex is LinuxException or IOException or InvalidDataException or ObjectDisposedException)
        {
            _log($"job {_job}: the file-descriptor store no longer follows the job ({ex.Message}); a restart of the service would not resume it");
        }
    }

    private void Store(int index, JournalRecord record, SafeFdHandle fd)
    {
        _store.Store(NameOf(index), fd);
        Track(index, record);
    }

    /// <summary>Record <paramref name="index"/>'s descriptor is in the store: remembered by what it is, to be removed.</summary>
    private void Track(int index, JournalRecord record)
    {
        lock (_stored)
        {
            _stored[index] = NameOf(index);
        }

        switch (record.Kind)
        {
            case JournalRecordKind.Listener:
                _listener = index;
                break;
            case JournalRecordKind.Accepted:
                _accepted = index;
                break;
            case JournalRecordKind.Task or JournalRecordKind.Fork:
                var uffd = record.Kind == JournalRecordKind.Task ? record.Id : record.Number;
                if (!_byUffd.TryGetValue(uffd, out var names))
                {
                    _byUffd[uffd] = names = [];
                }

                names.Add(index);
                break;
        }
    }

    /// <summary>What a record makes unnecessary: the listener once the restorer is accepted, a uffd once its task ended.</summary>
    private void Forget(JournalRecord record)
    {
        if (record.Kind == JournalRecordKind.Accepted && _listener >= 0)
        {
            Remove(_listener);
            _listener = -1;
        }
        else if (record.Kind == JournalRecordKind.Listener && _accepted >= 0)
        {
            // Listening again: the connection accepted before closed without a word.
            Remove(_accepted);
            _accepted = -1;
        }
        else if (record.Kind == JournalRecordKind.Ended && _byUffd.Remove(record.Id, out var indexes))
        {
            foreach (var index in indexes)
            {
                Remove(index);
            }
        }
    }

    private void Remove(int index)
    {
        string? name;
        lock (_stored)
        {
            if (!_stored.Remove(index, out name))
            {
                return;
            }
        }

        _store.Remove(name);
    }

    private void RemoveAll()
    {
        List<int> indexes;
        lock (_stored)
        {
            indexes = [.. _stored.Keys];
        }

        foreach (var index in indexes)
        {
            Remove(index);
        }
    }
}
