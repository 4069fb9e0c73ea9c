using LazyActors.Engine.CrashSafety;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Engine.Tests.CrashSafety;

/// <summary>
/// The hosted service's crash safety under systemd: a job's journal kept in systemd's file-descriptor store. A fake
/// <c>NOTIFY_SOCKET</c> (<see cref="FakeSystemd"/>) receives what sd_notify would send: FDSTORE=1 with each descriptor
/// by SCM_RIGHTS, FDSTOREREMOVE=1 once nothing needs it.
/// </summary>
public sealed class FdStoreKeeperTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public void A_jobs_descriptors_go_to_the_store_by_name_with_the_journal_in_a_file_and_leave_it_when_no_longer_needed()
    {
        using var dir = new ScratchDirectory("fdstore");
        using var systemd = FakeSystemd.Start(dir.Sub("notify.sock"));
        using var store = SystemdFdStore.Connect(systemd.NotifySocket);
        var (journal, keeper) = FdStoreKeeper.Start(store, "j1", dir.Sub("j1.journal"), message => throw new InvalidOperationException(message));
        using var keeping = keeper;
        var listener = UnixSocket.SocketPair();
        var connection = UnixSocket.SocketPair();
        var uffd = UnixSocket.SocketPair();
        try
        {
            journal.Listener(listener[0]);
            journal.Accepted(connection[0], 4242, 1);
            var id = journal.Task(1000, uffd[0]);
            journal.Progress(id, [(0x7000_0000, 4)]);

            var (text, fd) = systemd.Next(Bound);
            Assert.Equal("FDSTORE=1\nFDPOLL=0\nFDNAME=j1-0\n", text);
            Assert.NotNull(fd);
            (text, fd) = systemd.Next(Bound);
            Assert.Equal("FDSTORE=1\nFDPOLL=0\nFDNAME=j1-1\n", text);
            Assert.NotNull(fd);
            (text, fd) = systemd.Next(Bound);
            Assert.Equal("FDSTOREREMOVE=1\nFDNAME=j1-0\n", text); // the restorer is in: the listener is not needed any more
            Assert.Null(fd);
            (text, fd) = systemd.Next(Bound);
            Assert.Equal("FDSTORE=1\nFDPOLL=0\nFDNAME=j1-2\n", text);

            // The stored descriptor is the task's own: what its peer sends is read from it.
            UnixSocket.SendMessage(uffd[1], "x"u8, null, "test byte");
            var buffer = new byte[16];
            Assert.Equal(1, GuardianSocket.Receive(fd!, buffer, out var none, Bound));
            Assert.Null(none);
            Assert.Equal((byte)'x', buffer[0]);

            // The journal file holds every record in order, each marked with whether a descriptor went to the store.
            var file = keeper.JournalFile;
            Assert.True(WaitUntil(() => Records(file).Count == 4), "the journal file does not hold the 4 records");
            Assert.Equal(
                [(JournalRecordKind.Listener, true), (JournalRecordKind.Accepted, true), (JournalRecordKind.Task, true), (JournalRecordKind.Progress, false)],
                Records(file));

            journal.Ended(id, 3, null);
            (text, _) = systemd.Next(Bound);
            Assert.Equal("FDSTOREREMOVE=1\nFDNAME=j1-2\n", text); // its task ended

            journal.Done(0);
            journal.Dispose();
            Assert.True(keeper.WaitForEnd(Bound));
            (text, _) = systemd.Next(Bound);
            Assert.Equal("FDSTOREREMOVE=1\nFDNAME=j1-1\n", text); // the job ended: everything goes
            Assert.Empty(keeper.Stored);
            Assert.False(File.Exists(file), "the journal file outlived the job");
            Assert.Throws<TimeoutException>(() => systemd.Next(TimeSpan.FromMilliseconds(200)));
        }
        finally
        {
            foreach (var handle in listener.Concat(connection).Concat(uffd))
            {
                handle.Dispose();
            }
        }
    }

    [Fact]
    public void A_job_that_lets_its_journal_go_without_ending_leaves_nothing_in_the_store()
    {
        using var dir = new ScratchDirectory("fdstore");
        using var systemd = FakeSystemd.Start(dir.Sub("notify.sock"));
        using var store = SystemdFdStore.Connect(systemd.NotifySocket);
        var (journal, keeper) = FdStoreKeeper.Start(store, "j2", dir.Sub("j2.journal"), _ => { });
        using var keeping = keeper;
        var listener = UnixSocket.SocketPair();
        try
        {
            journal.Listener(listener[0]);
            journal.Dispose();
            Assert.True(keeper.WaitForEnd(Bound));
            var (text, fd) = systemd.Next(Bound);
            Assert.Equal("FDSTORE=1\nFDPOLL=0\nFDNAME=j2-0\n", text);
            Assert.NotNull(fd);
            Assert.Equal("FDSTOREREMOVE=1\nFDNAME=j2-0\n", systemd.Next(Bound).Text);
        }
        finally
        {
            foreach (var handle in listener)
            {
                handle.Dispose();
            }
        }
    }

    [Fact]
    public void After_a_restart_the_keeper_goes_on_with_the_journal_file_cut_to_whole_records_and_removes_what_came_back()
    {
        using var dir = new ScratchDirectory("fdstore");
        using var systemd = FakeSystemd.Start(dir.Sub("notify.sock"));
        using var store = SystemdFdStore.Connect(systemd.NotifySocket);
        var file = dir.Sub("j3.journal");
        var (journal, keeper) = FdStoreKeeper.Start(store, "j3", file, _ => { });
        var listener = UnixSocket.SocketPair();
        var connection = UnixSocket.SocketPair();
        var uffd = UnixSocket.SocketPair();
        try
        {
            journal.Listener(listener[0]);
            journal.Accepted(connection[0], 4242, 1);
            var id = journal.Task(1000, uffd[0]);
            Assert.True(systemd.WaitUntil(names => names.SequenceEqual(["j3-1", "j3-2"]), Bound), string.Join(", ", systemd.Stored));
            Assert.True(WaitUntil(() => Records(file).Count == 3), "the journal file does not hold the 3 records");

            // The service dies in the middle of appending a record: its file as it was, cut short, and systemd still holding
            // the connection and the uffd (this process's own keeper cannot die, so its cleanup is undone by hand).
            var saved = dir.Sub("saved.journal");
            File.Copy(file, saved);
            journal.Dispose();
            Assert.True(keeper.WaitForEnd(Bound));
            keeper.Dispose();
            File.Copy(saved, file, overwrite: true);
            File.AppendAllBytes(file, new byte[] { 40, 0, 0, 7, 7 });
            Assert.True(systemd.WaitUntil(names => names.Count == 0, Bound), string.Join(", ", systemd.Stored));
            store.Store("j3-1", connection[0]);
            store.Store("j3-2", uffd[0]);
            Assert.True(systemd.WaitUntil(names => names.SequenceEqual(["j3-1", "j3-2"]), Bound), string.Join(", ", systemd.Stored));

            var records = FdStoreKeeper.ReadJournalFile(file);
            Assert.Equal([JournalRecordKind.Listener, JournalRecordKind.Accepted, JournalRecordKind.Task], records.Select(r => r.Record.Kind));
            Assert.Equal([true, true, true], records.Select(r => r.Stored));
            Assert.Equal(new FileInfo(saved).Length, new FileInfo(file).Length);

            // The successor's keeper: new records follow the old indexes; a task's end removes its uffd, the job's end the rest.
            var (resumed, successor) = FdStoreKeeper.Resume(store, "j3", file, records, new HashSet<string> { "j3-1", "j3-2" }, lastId: id, _ => { });
            using var keeping = successor;
            var child = UnixSocket.SocketPair();
            try
            {
                resumed.Events(id, [new UffdMsg { Event = UffdEvent.Fork, ForkUfd = (uint)child[0].Fd }]);
                Assert.True(systemd.WaitUntil(names => names.SequenceEqual(["j3-1", "j3-2", "j3-3"]), Bound), string.Join(", ", systemd.Stored));
                resumed.Ended(id, 3, null);
                Assert.True(systemd.WaitUntil(names => names.SequenceEqual(["j3-1", "j3-3"]), Bound), string.Join(", ", systemd.Stored));
                resumed.Done(0);
                resumed.Dispose();
                Assert.True(successor.WaitForEnd(Bound));
                Assert.True(systemd.WaitUntil(names => names.Count == 0, Bound), string.Join(", ", systemd.Stored));
                Assert.False(File.Exists(file), "the journal file outlived the job");
            }
            finally
            {
                foreach (var handle in child)
                {
                    handle.Dispose();
                }
            }
        }
        finally
        {
            foreach (var handle in listener.Concat(connection).Concat(uffd))
            {
                handle.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("a:b")]
    [InlineData("with space")]
    public void A_name_systemd_would_refuse_is_refused_here(string name) =>
        Assert.Throws<ArgumentException>(() => SystemdFdStore.CheckName(name));

    [Fact]
    public void A_name_longer_than_systemds_limit_is_refused() =>
        Assert.Throws<ArgumentException>(() => SystemdFdStore.CheckName(new string('a', SystemdFdStore.MaxNameLength + 1)));

    private static List<(JournalRecordKind Kind, bool Stored)> Records(string file)
    {
        var records = new List<(JournalRecordKind, bool)>();
        if (!File.Exists(file))
        {
            return records;
        }

        byte[] bytes;
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        using (var copy = new MemoryStream())
        {
            stream.CopyTo(copy);
            bytes = copy.ToArray();
        }

        for (var at = 0; at + 3 <= bytes.Length;)
        {
            var length = bytes[at] | (bytes[at + 1] << 8);
            if (at + 3 + length > bytes.Length)
            {
                break;
            }

            records.Add((JournalRecord.Decode(bytes.AsSpan(at + 3, length)).Kind, bytes[at + 2] == 1));
            at += 3 + length;
        }

        return records;
    }

    private static bool WaitUntil(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > Bound)
            {
                return false;
            }

            Thread.Sleep(10);
        }

        return true;
    }
}
