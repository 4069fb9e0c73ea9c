using System.Buffers.Binary;
using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Restorer;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;

namespace LazyActors.Engine.Tests.CrashSafety;

/// <summary>The crash journal: its wire form, the descriptors it carries to the guardian and back to a successor, and
/// how a successor rebuilds each task's book from it.</summary>
public sealed class CrashJournalTests
{
    private const ulong Page = PageGeometry.PageSize;

    [Fact]
    public void Every_record_kind_round_trips_through_its_wire_form()
    {
        var remap = new UffdMsg { Event = UffdEvent.Remap, RemapFrom = 0x1000, RemapTo = 0x9000, RemapLength = 0x2000 };
        var records = new[]
        {
            new JournalRecord(JournalRecordKind.Listener),
            new JournalRecord(JournalRecordKind.Accepted, Number: 4242, Ticks: 123456789),
            new JournalRecord(JournalRecordKind.Task, 3, 1000),
            new JournalRecord(JournalRecordKind.Zombie, Number: 1001),
            new JournalRecord(JournalRecordKind.Finished),
            new JournalRecord(JournalRecordKind.Event, 3, Message: remap),
            new JournalRecord(JournalRecordKind.Fork, 3, 4),
            new JournalRecord(JournalRecordKind.Progress, 3, Ranges: [(0x7000_0000, 16), (0x7001_0000, 1)]),
            new JournalRecord(JournalRecordKind.Ended, 4, 3, Text: "pid 1000 (1000-fork1): 1 page(s) lost"),
            new JournalRecord(JournalRecordKind.Done, Number: 1),
            new JournalRecord(JournalRecordKind.ResumeEnd, Number: 2),
        };
        var buffer = new byte[GuardianSocket.MaxRecord];
        foreach (var record in records)
        {
            var decoded = JournalRecord.Decode(buffer.AsSpan(0, record.Encode(buffer)));
            Assert.Equal(record.Kind, decoded.Kind);
            Assert.Equal(record.Id, decoded.Id);
            Assert.Equal(record.Number, decoded.Number);
            Assert.Equal(record.Ticks, decoded.Ticks);
            Assert.Equal(record.Text, decoded.Text);
            Assert.Equal(record.Ranges ?? [], decoded.Ranges ?? []);
            Assert.Equal(record.Message.ToString(), decoded.Message.ToString());
        }

        var ex = Assert.Throws<InvalidDataException>(() => JournalRecord.Decode([99, 0, 0, 0, 0, 0, 0, 0, 0]));
        Assert.Contains("unknown journal record kind 99", ex.Message);
        Assert.Throws<InvalidDataException>(() => JournalRecord.Decode([(byte)JournalRecordKind.Progress, 0, 0]));
    }

    [Fact]
    public void What_the_daemon_journals_reaches_a_successor_with_every_descriptor_it_still_needs()
    {
        var (daemonEnd, guardianEnd) = GuardianSocket.Pair();
        using var guardianSide = guardianEnd;
        var warnings = new List<string>();
        using var journal = new CrashJournal(daemonEnd, lastId: 0, warnings.Add);
        var (listener, listenerWrite) = ReadinessSignal.CreateInheritablePipe();
        var (connection, connectionWrite) = ReadinessSignal.CreateInheritablePipe();
        var (uffd, uffdWrite) = ReadinessSignal.CreateInheritablePipe();
        var (forkUffd, forkWrite) = ReadinessSignal.CreateInheritablePipe();
        foreach (var write in new[] { listenerWrite, connectionWrite, uffdWrite, forkWrite })
        {
            ReadinessSignal.Close(write);
        }

        journal.Listener(listener);
        journal.Accepted(connection, 777, 42);
        var taskId = journal.Task(1000, uffd);
        journal.Zombie(1001);
        journal.Events(taskId,
        [
            new UffdMsg { Event = UffdEvent.Pagefault, PagefaultAddress = 0x5000 },
            new UffdMsg { Event = UffdEvent.Fork, ForkUfd = (uint)forkUffd.Fd },
            new UffdMsg { Event = UffdEvent.Unmap, RemoveStart = 0x1000, RemoveEnd = 0x3000 },
        ]);
        var childId = journal.TakeId(forkUffd.Fd);
        journal.Progress(taskId, [.. Enumerable.Range(0, 70).Select(i => ((ulong)i * 2 * Page, 1UL))]);
        journal.Ended(childId, 1, null);
        Assert.Equal(taskId, journal.TakeId(uffd.Fd));

        // Closed on the daemon's side: what was sent is held by the channel alone now (a dead daemon's case).
        foreach (var fd in new[] { listener, connection, uffd, forkUffd })
        {
            fd.Dispose();
        }

        var end = new byte[64];
        var length = new JournalRecord(JournalRecordKind.ResumeEnd, Number: 1).Encode(end);
        GuardianSocket.Send(daemonEnd, end.AsSpan(0, length), null);

        using var state = ResumeState.Read(guardianSide, TimeSpan.FromSeconds(5));
        Assert.Null(state.Listener); // let go once the restorer was accepted
        Assert.NotNull(state.Connection);
        Assert.Equal(777, state.RestorerPid);
        Assert.Equal(42UL, state.ListeningSince);
        Assert.Equal(2, state.EntriesDone);
        Assert.Equal(1001, state.LastZombie);
        Assert.False(state.Finished);
        Assert.Equal(1, state.Restarts);
        Assert.Equal(childId, state.LastId);
        Assert.Equal([JournalRecordKind.Task, JournalRecordKind.Fork, JournalRecordKind.Event], state.Ordered.Select(r => r.Kind));
        Assert.Equal(70, state.Progress[taskId].Count); // in two records of at most 64 ranges
        Assert.True(state.Ended.ContainsKey(childId));
        Assert.Null(state.TakeDescriptor(childId)); // ended: its descriptor was let go
        using var taken = state.TakeDescriptor(taskId);
        Assert.NotNull(taken);
        Assert.False(taken.IsInvalid);
        Assert.Empty(warnings);
    }

    [Fact]
    public void A_journal_whose_guardian_is_gone_warns_once_and_the_daemon_goes_on()
    {
        var (daemonEnd, guardianEnd) = GuardianSocket.Pair();
        guardianEnd.Dispose();
        var warnings = new List<string>();
        using var journal = new CrashJournal(daemonEnd, lastId: 0, warnings.Add);
        journal.Zombie(1);
        journal.Finished();
        Assert.False(journal.IsProtecting);
        Assert.Single(warnings);
        Assert.Contains("crash safety lost", warnings[0]);
    }

    [Fact]
    public void Replay_applies_events_in_their_order_then_progress_by_dump_address()
    {
        using var dir = new ScratchDirectory("journal-replay");
        SyntheticCheckpoint.Write(dir.Path, new SyntheticCheckpointOptions(1, 1L << 20, 0x77));
        using var checkpoint = Checkpoint.Open(dir.Path);
        var task = checkpoint.Tasks[0];
        var lazy = task.LazyRanges[0];
        var total = task.LazyRanges.Aggregate(0UL, (sum, r) => sum + ((r.End - r.Start) / Page));
        var moved = 0x6000_0000_0000UL;
        using var state = new ResumeState();
        state.Add(new JournalRecord(JournalRecordKind.Task, 1, task.Pid), null);
        // The first 4 pages move away; then a fork; then the parent drops its page 5 (madvise).
        state.Add(new JournalRecord(JournalRecordKind.Event, 1, Message: new UffdMsg { Event = UffdEvent.Remap, RemapFrom = lazy.Start, RemapTo = moved, RemapLength = 4 * Page }), null);
        state.Add(new JournalRecord(JournalRecordKind.Fork, 1, 2), null);
        state.Add(new JournalRecord(JournalRecordKind.Event, 1, Message: new UffdMsg { Event = UffdEvent.Remove, RemoveStart = lazy.Start + (5 * Page), RemoveEnd = lazy.Start + (6 * Page) }), null);
        // Pages 0-1 were copied (recorded by dump address, before or after the move: the same pages).
        state.Add(new JournalRecord(JournalRecordKind.Progress, 1, Ranges: [(lazy.Start, 2)]), null);

        var replayed = JournalReplay.Rebuild(state, checkpoint);

        Assert.Equal(2, replayed.Count);
        var parent = replayed[0].Book;
        Assert.Equal(total, parent.TotalPages);
        Assert.Equal(2UL, parent.CopiedPages);
        Assert.False(parent.Pending.Contains(moved));            // copied before the crash, at its new place
        Assert.True(parent.Pending.Contains(moved + (2 * Page)));   // moved, not copied: pending at its new place
        Assert.False(parent.Pending.Contains(lazy.Start));          // nothing left at the old place
        Assert.False(parent.Pending.Contains(lazy.Start + (5 * Page))); // dropped by REMOVE
        Assert.Equal(total - 3, parent.Pending.TotalPages);

        var child = replayed[1];
        Assert.True(child.IsForkChild);
        Assert.Equal($"{task.Pid}-fork1", child.Label);
        Assert.True(child.Book.Pending.Contains(moved));            // the child's copy was never marked copied
        Assert.True(child.Book.Pending.Contains(lazy.Start + (5 * Page))); // the parent's madvise came after the fork
        Assert.Equal(total, child.Book.Pending.TotalPages);
    }

    [Fact]
    public void A_journal_naming_an_unknown_pid_or_uffd_is_refused_with_the_reason()
    {
        using var dir = new ScratchDirectory("journal-bad");
        SyntheticCheckpoint.Write(dir.Path, new SyntheticCheckpointOptions(1, 1L << 20, 0x78));
        using var checkpoint = Checkpoint.Open(dir.Path);
        using var unknownPid = new ResumeState();
        unknownPid.Add(new JournalRecord(JournalRecordKind.Task, 1, 4321), null);
        Assert.Contains("pid 4321, which is not in", Assert.Throws<InvalidDataException>(() => JournalReplay.Rebuild(unknownPid, checkpoint)).Message);
        using var unknownUffd = new ResumeState();
        unknownUffd.Add(new JournalRecord(JournalRecordKind.Fork, 9, 10), null);
        Assert.Contains("uffd 9, which it never introduced", Assert.Throws<InvalidDataException>(() => JournalReplay.Rebuild(unknownUffd, checkpoint)).Message);
    }

    [Fact]
    public void A_state_names_the_descriptors_a_successor_needs_and_lacks()
    {
        var connection = UnixSocket.SocketPair();
        var uffds = UnixSocket.SocketPair();
        try
        {
            using var state = new ResumeState();
            state.Add(new JournalRecord(JournalRecordKind.Listener), null);
            Assert.Equal(["lazy-pages.socket (the listening socket)"], state.Missing());
            state.Add(new JournalRecord(JournalRecordKind.Accepted, Number: 77, Ticks: 1), connection[0]);
            state.Add(new JournalRecord(JournalRecordKind.Task, 1, 100), uffds[0]);
            state.Add(new JournalRecord(JournalRecordKind.Task, 2, 101), null);
            state.Add(new JournalRecord(JournalRecordKind.Fork, 1, 3), null);
            state.Add(new JournalRecord(JournalRecordKind.Task, 4, 102), null);
            state.Add(new JournalRecord(JournalRecordKind.Ended, 4, 3), null);
            // Task 102 ended: its uffd is not needed. The connection and task 100's uffd came with their records.
            Assert.Equal(["the uffd of task 101", "the uffd of a fork child (uffd 3, parent uffd 1)"], state.Missing());
        }
        finally
        {
            // The state owns what it was given; these are the peers (and the ends given, disposed twice harmlessly).
            foreach (var handle in connection.Concat(uffds))
            {
                handle.Dispose();
            }
        }
    }

    [Fact]
    public void A_successor_consumes_the_word_of_a_zombie_journalled_but_not_consumed_then_goes_on()
    {
        var pair = UnixSocket.SocketPair();
        using var restorer = pair[0];
        var observer = new Recorder();
        Send(restorer, -11);
        Send(restorer, 12);
        var (read, write) = ReadinessSignal.CreateInheritablePipe();
        UnixSocket.SendFd(restorer, read);
        read.Dispose();
        ReadinessSignal.Close(write);
        Send(restorer, unchecked((int)LazyPagesHandshake.RestoreFinished));

        var thread = new Thread(() => RestorerConnection.Resume(pair[1], 3, 2, 11, TimeSpan.FromSeconds(5), observer, CancellationToken.None));
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(["task 12", "finished"], observer.Log);
    }

    [Fact]
    public void A_zombie_is_reported_before_its_word_is_consumed_and_a_pid_with_its_uffd_in_one_receive()
    {
        var pair = UnixSocket.SocketPair();
        using var restorer = pair[0];
        var observer = new Recorder { Connection = pair[1] };
        Send(restorer, -11);
        Send(restorer, 12);
        var (read, write) = ReadinessSignal.CreateInheritablePipe();
        UnixSocket.SendFd(restorer, read);
        read.Dispose();
        ReadinessSignal.Close(write);

        var thread = new Thread(() => RestorerConnection.Resume(pair[1], 2, 0, null, TimeSpan.FromSeconds(2), observer, CancellationToken.None));
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        // When the zombie was reported its 4 bytes were still queued (plus the 5 of the next entry).
        Assert.Equal(9, observer.QueuedAtZombie);
        Assert.Equal("zombie 11", observer.Log[0]);
        Assert.Equal("task 12", observer.Log[1]);
        Assert.StartsWith("failed restore-finished recv", observer.Log[2]);
    }

    private static void Send(SafeFdHandle socket, int value)
    {
        var word = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, value);
        UnixSocket.SendExactly(socket, word);
    }

    private sealed class Recorder : IRestorerObserver
    {
        public List<string> Log { get; } = [];

        public SafeFdHandle? Connection { get; init; }

        public int QueuedAtZombie { get; private set; } = -1;

        public void Connected(int restorerPid) => Log.Add("connected");

        public void TaskUffd(int pid, SafeFdHandle uffd)
        {
            Assert.False(uffd.IsInvalid);
            uffd.Dispose();
            Log.Add($"task {pid}");
        }

        public void Zombie(int pid)
        {
            if (Connection is not null)
            {
                QueuedAtZombie = GuardianSocket.Queued(Connection);
            }

            Log.Add($"zombie {pid}");
        }

        public void RestoreFinished() => Log.Add("finished");

        public void Failed(string reason) => Log.Add($"failed {reason}");
    }
}
