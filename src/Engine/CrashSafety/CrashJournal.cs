using System.Collections.Concurrent;
using LazyActors.Engine.Interop;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// The daemon's side of the crash journal: every record goes to the guardian over <see cref="GuardianSocket"/> at
/// the moment the daemon learns the fact, before it acts on it (a task's uffd before its actor exists, an event before
/// it is applied, a FORK child's uffd before anything else), so a successor finds everything a dead daemon had. Records
/// are written by the handshake thread, the epoll reader and the task actors at once; each is one <c>sendmsg</c>.
/// Thread-safe. When the guardian is gone the journal says so once and stops writing: the restore goes on unprotected.
/// </summary>
public sealed class CrashJournal : IDisposable
{
    private readonly SafeFdHandle _channel;
    private readonly ConcurrentDictionary<int, int> _idsByDescriptor = new();
    private readonly Action<string> _warn;
    private int _lastId;
    private int _broken;

    /// <summary>Writes to <paramref name="channel"/> (owned from now on); ids continue after <paramref name="lastId"/>.</summary>
    public CrashJournal(SafeFdHandle channel, int lastId, Action<string> warn)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _channel = channel;
        _lastId = lastId;
        _warn = warn;
    }

    /// <summary>False once the guardian could not be reached.</summary>
    public bool IsProtecting => Volatile.Read(ref _broken) == 0;

    /// <summary>The listening lazy-pages.socket.</summary>
    public void Listener(SafeFdHandle listener) => Write(new JournalRecord(JournalRecordKind.Listener), listener);

    /// <summary>The restorer's connection (the guardian then lets its listener go).</summary>
    public void Accepted(SafeFdHandle connection, int restorerPid, ulong listeningSince) =>
        Write(new JournalRecord(JournalRecordKind.Accepted, Number: restorerPid, Ticks: listeningSince), connection);

    /// <summary>A live task's uffd, as it arrived; returns its journal id (the hub finds it by descriptor number).</summary>
    public int Task(int pid, SafeFdHandle uffd)
    {
        ArgumentNullException.ThrowIfNull(uffd);
        var id = Interlocked.Increment(ref _lastId);
        _idsByDescriptor[uffd.Fd] = id;
        Write(new JournalRecord(JournalRecordKind.Task, id, pid), uffd);
        return id;
    }

    /// <summary>A zombie entry, before its word is consumed from the connection.</summary>
    public void Zombie(int pid) => Write(new JournalRecord(JournalRecordKind.Zombie, Number: pid), null);

    /// <summary>"restore finished", before its word is consumed.</summary>
    public void Finished() => Write(new JournalRecord(JournalRecordKind.Finished), null);

    /// <summary>
    /// The FORK/REMAP/REMOVE/UNMAP events of a batch just read from uffd <paramref name="id"/> (page faults are not
    /// journalled: a fault a dead daemon read is woken by its successor and comes again). Runs on the reader thread.
    /// </summary>
    public void Events(int id, ReadOnlySpan<UffdMsg> batch)
    {
        foreach (ref readonly var message in batch)
        {
            switch (message.Event)
            {
                case UffdEvent.Pagefault:
                    break;
                case UffdEvent.Fork:
                    var child = Interlocked.Increment(ref _lastId);
                    var fd = (int)message.ForkUfd;
                    _idsByDescriptor[fd] = child;
                    using (var borrowed = new SafeFdHandle(fd, ownsHandle: false))
                    {
                        Write(new JournalRecord(JournalRecordKind.Fork, id, child), borrowed);
                    }

                    break;
                default:
                    Write(new JournalRecord(JournalRecordKind.Event, id, Message: message), null);
                    break;
            }
        }
    }

    /// <summary>A successor's uffd taken over from the guardian: <paramref name="descriptor"/> keeps id <paramref name="id"/>.</summary>
    public void Expect(int descriptor, int id) => _idsByDescriptor[descriptor] = id;

    /// <summary>The journal id of a descriptor journalled just before (removed from the lookup); 0 when unknown.</summary>
    public int TakeId(int descriptor) => _idsByDescriptor.TryRemove(descriptor, out var id) ? id : 0;

    /// <summary>Copied ranges of uffd <paramref name="id"/> (dump start, pages), in records of at most
    /// <see cref="JournalRecord.MaxRanges"/>.</summary>
    public void Progress(int id, List<(ulong DumpStart, ulong Pages)> ranges)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        for (var at = 0; at < ranges.Count; at += JournalRecord.MaxRanges)
        {
            var batch = ranges.GetRange(at, Math.Min(JournalRecord.MaxRanges, ranges.Count - at));
            Write(new JournalRecord(JournalRecordKind.Progress, id, Ranges: batch), null);
        }
    }

    /// <summary>Uffd <paramref name="id"/> needs no more service; <paramref name="phase"/> is the task's end
    /// (<see cref="Actors.TaskPhase"/> as a number).</summary>
    public void Ended(int id, int phase, string? reason) => Write(new JournalRecord(JournalRecordKind.Ended, id, phase, Text: reason), null);

    /// <summary>The daemon ends the restore itself: the guardian lets everything go and exits.</summary>
    public void Done(int exitCode) => Write(new JournalRecord(JournalRecordKind.Done, Number: exitCode), null);

    /// <inheritdoc />
    public void Dispose() => _channel.Dispose();

    private void Write(JournalRecord record, SafeFdHandle? attached)
    {
        if (Volatile.Read(ref _broken) != 0)
        {
            return;
        }

        Span<byte> buffer = stackalloc byte[GuardianSocket.MaxRecord];
        var length = record.Encode(buffer);
        try
        {
            GuardianSocket.Send(_channel, buffer[..length], attached);
        }
        catch (Exception ex) when (ex is LinuxException or ObjectDisposedException)
        {
            if (Interlocked.Exchange(ref _broken, 1) == 0)
            {
                _warn($"crash safety lost: the guardian cannot be reached ({ex.Message}); the restore goes on, but a daemon crash would no longer be survived");
            }
        }
    }
}
