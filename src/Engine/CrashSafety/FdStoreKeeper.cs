using System.Buffers.Binary;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// The crash safety of one job of the hosted service (<c>serve</c>) under systemd: where the one-shot daemon has its
/// guardian process, a job's journal goes to systemd's file-descriptor store. The job writes its <see cref="CrashJournal"/>
/// as always; this keeper's thread reads each record, appends it to the job's journal file (<see cref="JournalFileName"/>
/// in the work directory: the records, each marked with whether a descriptor came with it) and hands the descriptor to
/// the store as <c>JOB-N</c> (N: the record's index in the file), so a restart of the service finds every listening
/// socket, restorer connection and uffd of its jobs with the journal that says what each one is. A descriptor is removed
/// from the store once nothing needs it (the listener once the restorer is accepted, a uffd once its task ended), and
/// all of them with the file when the job ends.
/// </summary>
/// <remarks>The window: a record is in the keeper's queue once the job's <c>sendmsg</c> returned, but in the store only
/// once the keeper forwarded it (microseconds later); the service dying in between loses that record, as the one-shot
/// daemon loses one dying between its <c>recvmsg</c> and the journal's <c>sendmsg</c>.</remarks>
public sealed class FdStoreKeeper : IDisposable
{
    /// <summary>The job's journal file in its work directory.</summary>
    public const string JournalFileName = "lazy-pages.journal";

    private readonly SystemdFdStore _store;
    private readonly string _job;
    private readonly SafeFdHandle _channel;
    private readonly Action<string> _log;
    private readonly Thread _thread;
    private readonly Dictionary<int, string> _stored = [];
    private readonly Dictionary<int, List<int>> _byUffd = [];
    private int _listener = -1;
    private int _accepted = -1;

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
    /// Starts keeping job <paramref name="job"/>'s journal (file <see cref="JournalFileName"/> in
    /// <paramref name="workDirectory"/>); returns the journal the job writes. The keeper ends when the journal's
    /// <see cref="CrashJournal.Done"/> arrives or it is disposed.
    /// </summary>
    public static (CrashJournal Journal, FdStoreKeeper Keeper) Start(SystemdFdStore store, string job, string workDirectory, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(store);
        var (ours, theirs) = GuardianSocket.Pair();
        try
        {
            var keeper = new FdStoreKeeper(store, job, Path.Combine(workDirectory, JournalFileName), theirs, log);
            File.Delete(keeper.JournalFile);
            keeper._thread.Start();
            return (new CrashJournal(ours, lastId: 0, log), keeper);
        }
        catch
        {
            ours.Dispose();
            theirs.Dispose();
            throw;
        }
    }

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
        var index = 0;
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
                        Store(index, record, fd);
                    }

                    Forget(record);
                    index++;
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
        var name = $"{_job}-{index}";
        _store.Store(name, fd);
        lock (_stored)
        {
            _stored[index] = name;
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
