using System.Globalization;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.CrashSafety;

/// <summary>
/// Rebuilds every uffd's range book from a journal: each task's book starts from its lazy ranges in the images, as the
/// first daemon built it; the events are applied in the order they were read (REMAP moves, REMOVE/UNMAP drop, FORK
/// gives the child a copy of its parent's book at that point); then the progress marks what was copied (by dump
/// address, so it holds wherever a REMAP moved the pages). What the journal missed stays pending: copying a page that
/// is already there answers EEXIST, which counts as copied.
/// </summary>
public static class JournalReplay
{
    /// <summary>The uffds of <paramref name="state"/> over <paramref name="checkpoint"/>, in journal order.</summary>
    /// <exception cref="InvalidDataException">The journal names a pid the checkpoint does not have, or an unknown uffd.</exception>
    public static IReadOnlyList<ReplayedUffd> Rebuild(ResumeState state, Checkpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(checkpoint);
        var books = new Dictionary<int, (int Pid, string Label, bool Fork, TaskRangeBook Book, VmaBoundaries Boundaries, IReadOnlyList<ulong> Checks)>();
        var order = new List<int>();
        var forks = 0;
        foreach (var record in state.Ordered)
        {
            switch (record.Kind)
            {
                case JournalRecordKind.Task:
                    if (!checkpoint.TryGetTask(record.Number, out var images))
                    {
                        throw new InvalidDataException($"the crash journal names pid {record.Number}, which is not in {checkpoint.Directory}/pstree.img");
                    }

                    var book = new TaskRangeBook();
                    foreach (var range in images.LazyRanges)
                    {
                        book.AddLazy(range.Start, range.End, range.Start);
                    }

                    books[record.Id] = (record.Number, record.Number.ToString(CultureInfo.InvariantCulture), false, book,
                        new VmaBoundaries(images.Vmas.SelectMany(v => new[] { v.Start, v.End })), images.FirstLazyPageOfEachVma());
                    order.Add(record.Id);
                    break;
                case JournalRecordKind.Fork:
                    var parent = Find(books, record.Id);
                    forks++;
                    books[record.Number] = (parent.Pid, $"{parent.Label}-fork{forks}", true, parent.Book.ForkChild(), parent.Boundaries, []);
                    order.Add(record.Number);
                    break;
                case JournalRecordKind.Event:
                    var target = Find(books, record.Id).Book;
                    var message = record.Message;
                    switch (message.Event)
                    {
                        case UffdEvent.Remap:
                            target.Remap(message.RemapFrom, message.RemapTo, message.RemapLength);
                            break;
                        case UffdEvent.Remove or UffdEvent.Unmap:
                            target.Drop(message.RemoveStart, message.RemoveEnd);
                            break;
                    }

                    break;
            }
        }

        foreach (var (id, ranges) in state.Progress)
        {
            if (books.TryGetValue(id, out var entry))
            {
                foreach (var (dumpStart, pages) in ranges)
                {
                    entry.Book.MarkCopied(dumpStart, pages);
                }
            }
        }

        return order.Select(id =>
        {
            var entry = books[id];
            var ended = state.Ended.TryGetValue(id, out var end) ? end : ((int Phase, string? Reason)?)null;
            return new ReplayedUffd(id, entry.Pid, entry.Label, entry.Fork, entry.Book, entry.Boundaries, entry.Checks, ended?.Phase, ended?.Reason);
        }).ToList();
    }

    private static (int Pid, string Label, bool Fork, TaskRangeBook Book, VmaBoundaries Boundaries, IReadOnlyList<ulong> Checks) Find(
        Dictionary<int, (int Pid, string Label, bool Fork, TaskRangeBook Book, VmaBoundaries Boundaries, IReadOnlyList<ulong> Checks)> books, int id) =>
        books.TryGetValue(id, out var entry) ? entry : throw new InvalidDataException($"the crash journal has an event of uffd {id}, which it never introduced");
}
