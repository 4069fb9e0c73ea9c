using System.Buffers.Binary;
using Akka.Event;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Scheduling;
using LazyActors.Engine.Tests.Images;
using LazyActors.Engine.Uffd;
using LazyActors.Testing;
using LazyActors.Tools.Synthetic;
using Xunit;
using static LazyActors.Engine.Tests.Uffd.NativeTestSupport;

namespace LazyActors.Engine.Tests.Uffd;

/// <summary>
/// <c>local-bulk-read = pread</c> on a real uffd and real pages files of synthetic checkpoints: the bytes that land are the
/// checkpoint's (read through another mapping), across pagemap entries, pieces, both copiers and a parent chain; the
/// copies never fault the pages file's mapping in (/proc/self/pagemap); and a file cut after it was opened fails the copy
/// naming the file, leaving the pages absent rather than zero.
/// </summary>
public sealed class PagesFileStagingTests : IDisposable
{
    // 96 KiB: pieces end inside pagemap entries (64 pages each below), so a piece spans an entry boundary nowhere but a
    // segment always ends one.
    private const int Piece = 24 * PageSize;

    private readonly ScratchDirectory _dir = new();
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }

        _dir.Dispose();
    }

    [SkippableFact]
    public void A_read_spanning_pagemap_entries_lands_byte_for_byte_through_both_copiers_without_mapping_the_file()
    {
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 16 << 20, 41) { HoleBlockOneIn = 0, LazyVmasPerTask = 1, MaxEntryPages = 64 });
        using var checkpoint = Checkpoint.Open(_dir.Path);
        var (pid, start, pages) = LongestPresentStretch(checkpoint, 1024);
        using var pool = new PinnedBufferPool(8 * PageSize, 2);
        using var source = new LocalPageSource(checkpoint, pool, mapped: new MappedPagesUse(Populate: false, Release: false));
        Assert.True(source.TryReadNow(pid, start, pages, out var read));
        using var _ = read;
        Assert.True(read.Segments.Count >= 4, $"{read.Segments.Count} segment(s): the read should span several pagemap entries");

        var length = (ulong)pages * PageSize;
        var (uffd, target) = RegisteredTarget(length);
        using var copier = new SecondCopier();
        using var staging = new PagesFileStaging(Piece, faultCopies: true);
        using var adapter = new UserFaultFdAdapter(uffd.Handle, GatePriority.Off, true, copier, BackgroundPriorityPhases.Fixed(BackgroundPriority.Gate), staging);
        foreach (var segment in read.Segments)
        {
            var result = adapter.CopyBulk(target.Start + (segment.DumpAddress - start), segment.Address, segment.Length);
            Assert.Equal(new UffdOpResult((long)segment.Length, Errno.None), result.Combined);
        }

        Assert.Equal((long)length, staging.StagedBytes);
        Assert.True(copier.Splits > 0, "no segment was split across the second copier");
        Assert.Equal(2, staging.Buffers); // one per copying thread, reused for every piece
        Assert.True(staging.Reads >= (long)(length / Piece));
        foreach (var segment in read.Segments)
        {
            Assert.Equal(0, PresentPages(segment.Address, segment.Pages)); // pread, not the mapping
        }

        Assert.Equal(Expected(pid, start, pages), target.GetSpan(0, (int)length).ToArray());
    }

    [SkippableFact]
    public void Fault_copies_follow_local_bulk_read_faults_and_short_copies_stay_mapped()
    {
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 4 << 20, 43) { HoleBlockOneIn = 0, LazyVmasPerTask = 1, MaxEntryPages = 256 });
        using var checkpoint = Checkpoint.Open(_dir.Path);
        var (pid, start, _) = LongestPresentStretch(checkpoint, 64);
        Assert.True(checkpoint.Pages.TryGetMappedPages(pid, start, 64, out var mapped));
        var (uffd, target) = RegisteredTarget(64 * PageSize);
        using var staging = new PagesFileStaging(Piece, faultCopies: false);
        using var adapter = new UserFaultFdAdapter(uffd.Handle, GatePriority.Off, true, null, BackgroundPriorityPhases.Fixed(BackgroundPriority.Gate), staging);

        Assert.True(adapter.Copy(target.Start, mapped, 16 * PageSize).IsSuccess); // a fault's window: mapped
        Assert.Equal(0, staging.StagedBytes);
        Assert.True(adapter.CopyBackground(target.Start + (16 * PageSize), mapped + (16 * PageSize), 15 * PageSize).IsSuccess); // too short: mapped
        Assert.Equal(0, staging.StagedBytes);
        Assert.True(adapter.CopyBackground(target.Start + (31 * PageSize), mapped + (31 * PageSize), 33 * PageSize).IsSuccess); // pread
        Assert.Equal(33 * PageSize, staging.StagedBytes);
        Assert.Equal(Expected(pid, start, 64), target.GetSpan(0, 64 * PageSize).ToArray());

        using var faultsToo = new PagesFileStaging(Piece, faultCopies: true);
        var (uffd2, target2) = RegisteredTarget(16 * PageSize);
        using var adapter2 = new UserFaultFdAdapter(uffd2.Handle, GatePriority.Off, true, null, BackgroundPriorityPhases.Fixed(BackgroundPriority.Gate), faultsToo);
        Assert.True(adapter2.Copy(target2.Start, mapped, 16 * PageSize).IsSuccess);
        Assert.Equal(16 * PageSize, faultsToo.StagedBytes);
    }

    [SkippableFact]
    public void A_pages_file_cut_after_it_was_opened_fails_the_copy_naming_the_file_and_no_page_becomes_zeros()
    {
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 4 << 20, 47) { HoleBlockOneIn = 0, LazyVmasPerTask = 1, MaxEntryPages = 256 });
        using var checkpoint = Checkpoint.Open(_dir.Path);
        var (pid, start, _) = LongestPresentStretch(checkpoint, 256);
        var task = checkpoint.GetTask(pid);
        var run = task.Pagemap[task.FindRun(start)];
        Assert.True(checkpoint.Pages.TryGetMappedPages(pid, start, 256, out var mapped)); // opened and mapped now
        var firstPiece = Expected(pid, start, 24); // before the cut: no checkpoint opens with a short pages file
        var pagesFile = Path.Combine(_dir.Path, PagemapFile.PagesFileNameFor(task.PagesId));
        var cutAt = run.PagesFileOffset + (long)(start - run.Vaddr) + (40 * PageSize); // inside the second piece
        using (var file = File.OpenHandle(pagesFile, FileMode.Open, FileAccess.Write))
        {
            RandomAccess.SetLength(file, cutAt);
        }

        var (uffd, target) = RegisteredTarget(256 * PageSize);
        using var staging = new PagesFileStaging(Piece, faultCopies: true);
        using var adapter = new UserFaultFdAdapter(uffd.Handle, GatePriority.Off, true, null, BackgroundPriorityPhases.Fixed(BackgroundPriority.Gate), staging);
        var failure = Assert.Throws<PagesFileReadException>(() => adapter.CopyBackground(target.Start, mapped, 256 * PageSize));
        Assert.Equal(pagesFile, failure.FilePath);
        Assert.Contains(pagesFile, failure.Message, StringComparison.Ordinal);
        Assert.Contains($"the file ends at byte {cutAt}", failure.Message, StringComparison.Ordinal);

        // The first piece went in whole; from the failed piece on nothing did (ZEROPAGE succeeds only where no page is).
        Assert.Equal(firstPiece, target.GetSpan(0, Piece).ToArray());
        for (var page = 24; page < 256; page++)
        {
            Assert.True(uffd.ZeroPage(target.Start + (ulong)(page * PageSize), PageSize).IsSuccess, $"page {page} is present");
        }
    }

    [SkippableFact]
    public void A_pages_file_cut_under_the_second_copiers_half_fails_the_task_with_EIO_naming_the_file()
    {
        const int pages = 256; // one 1 MiB split slice: the caller copies the lower half, the second copier the upper one
        SyntheticCheckpoint.Write(_dir.Path, new SyntheticCheckpointOptions(1, 4 << 20, 59) { HoleBlockOneIn = 0, LazyVmasPerTask = 1, MaxEntryPages = 256 });
        using var checkpoint = Checkpoint.Open(_dir.Path);
        var (pid, start, _) = LongestPresentStretch(checkpoint, pages);
        var task = checkpoint.GetTask(pid);
        var run = task.Pagemap[task.FindRun(start)];
        Assert.True(checkpoint.Pages.TryGetMappedPages(pid, start, pages, out var mapped));
        var pagesFile = Path.Combine(_dir.Path, PagemapFile.PagesFileNameFor(task.PagesId));
        using (var file = File.OpenHandle(pagesFile, FileMode.Open, FileAccess.Write))
        {
            RandomAccess.SetLength(file, run.PagesFileOffset + (long)(start - run.Vaddr) + (192 * PageSize)); // in the upper half
        }

        var (uffd, target) = RegisteredTarget(pages * PageSize);
        using var copier = new SecondCopier();
        using var staging = new PagesFileStaging(Piece, faultCopies: true);
        using var adapter = new UserFaultFdAdapter(uffd.Handle, GatePriority.Off, true, copier, BackgroundPriorityPhases.Fixed(BackgroundPriority.Gate), staging);
        var book = new TaskRangeBook();
        book.AddLazy(target.Start, target.Start + (pages * PageSize), start);
        Assert.True(book.TryClaimBackground(pages * PageSize, out _));
        var queue = new TaskCopyQueue(1, "1", adapter, book, new TaskProgress(1, "1", pages, isForkChild: false), sliceBytes: 512 * 1024,
            urgentWindowBytes: 64 * 1024, NoLogger.Instance, splitSliceBytes: 1024 * 1024)
        {
            SplitBackground = true,
        };
        var data = new PageData(start, pages, [new SharedPageRead(new PageRead([new PageSegment(start, pages, mapped)], null))]);
        queue.Add(new CopyJob(start, pages, background: true, pages * PageSize, data));

        var failure = Assert.Throws<TaskFailedException>(() => queue.Run());
        Assert.Equal(Errno.EIO, failure.Errno);
        Assert.Contains(pagesFile, failure.Message, StringComparison.Ordinal);
        Assert.Contains("the file ends at byte", failure.Message, StringComparison.Ordinal);
        // The failed piece was the helper's: its exception reached the task through the split's hand-back.
        var handBack = Assert.IsType<InvalidOperationException>(failure.InnerException);
        Assert.Contains("second copier", handBack.Message, StringComparison.Ordinal);
        Assert.IsType<PagesFileReadException>(handBack.InnerException);
    }

    [SkippableFact]
    public async Task A_parent_chain_checkpoint_is_served_exactly_its_own_entries_by_pread_and_the_parents_through_the_pool()
    {
        var options = new SyntheticCheckpointOptions(1, 2 << 20, 53) { HoleBlockOneIn = 0, LazyVmasPerTask = 1, MaxEntryPages = 32, ZeroPageOneIn = 0 };
        SyntheticCheckpoint.Write(_dir.Sub("parent-set"), options);
        ParentChainTests.MakeIncrementalChild(_dir.Sub("parent-set"), _dir.Sub("child"), linkParent: true);
        using var child = Checkpoint.Open(_dir.Sub("child"));
        var task = child.Tasks[0];
        var vma = task.Vmas.Where(v => task.Pagemap.Any(r => r.Vaddr >= v.Start && r.Vaddr < v.End && (r.Flags & PageFlags.Parent) != 0)).MaxBy(v => v.End - v.Start)!;
        using var pool = new PinnedBufferPool(64 * PageSize, 4);
        using var source = new LocalPageSource(child, pool);
        var (uffd, target) = RegisteredTarget(vma.End - vma.Start);
        using var staging = new PagesFileStaging(Piece, faultCopies: true);
        using var adapter = new UserFaultFdAdapter(uffd.Handle, GatePriority.Off, true, null, BackgroundPriorityPhases.Fixed(BackgroundPriority.Gate), staging);

        var present = 0L;
        foreach (var run in task.Pagemap.Where(r => r.Vaddr >= vma.Start && r.End <= vma.End))
        {
            using var read = await source.ReadAsync(task.Pid, run.Vaddr, (int)run.NrPages, ReadPriority.Background, CancellationToken.None);
            present += run.IsPresent ? (long)run.NrPages * PageSize : 0;
            foreach (var segment in read.Segments)
            {
                Assert.True(adapter.CopyBackground(target.Start + (segment.DumpAddress - vma.Start), segment.Address, segment.Length).IsSuccess);
            }
        }

        Assert.True(present > 0 && present < (long)(vma.End - vma.Start), "the VMA should hold both the child's own and parent entries");
        Assert.Equal(present, staging.StagedBytes); // parent entries come from a pooled buffer, copied as they are
        using var parent = Checkpoint.Open(_dir.Sub("parent-set"));
        var expected = new byte[vma.End - vma.Start];
        parent.Pages.Read(task.Pid, vma.Start, expected.Length / PageSize, expected);
        Assert.Equal(expected, target.GetSpan(0, expected.Length).ToArray());
    }

    /// <summary>A task and the longest stretch of adjacent PE_PRESENT entries (at most <paramref name="most"/> pages).</summary>
    private static (int Pid, ulong Start, int Pages) LongestPresentStretch(Checkpoint checkpoint, int most)
    {
        var task = checkpoint.Tasks[0];
        (ulong Start, ulong Pages) best = (0, 0), current = (0, 0);
        ulong end = 0;
        foreach (var run in task.Pagemap)
        {
            current = run.IsPresent && run.Vaddr == end && current.Pages > 0 ? (current.Start, current.Pages + run.NrPages) : run.IsPresent ? (run.Vaddr, run.NrPages) : (0, 0);
            end = run.IsPresent ? run.End : 0;
            best = current.Pages > best.Pages ? current : best;
        }

        Assert.True(best.Pages >= 16, "no stretch of 16 present pages");
        return (task.Pid, best.Start, (int)Math.Min(best.Pages, (ulong)most));
    }

    /// <summary>The checkpoint's bytes, read through a checkpoint of its own (another mapping of the file).</summary>
    private byte[] Expected(int pid, ulong start, int pages)
    {
        using var other = Checkpoint.Open(_dir.Path);
        var bytes = new byte[pages * PageSize];
        other.Pages.Read(pid, start, pages, bytes);
        return bytes;
    }

    private (UserFaultFd Uffd, MappedRegion Target) RegisteredTarget(ulong length)
    {
        var target = MappedRegion.Map(length);
        _owned.Add(target);
        var uffd = CreateUffdOrSkip();
        _ = uffd.Api(UffdFeatures.NonCooperative);
        uffd.Register(target.Start, length, RegisterMode.Missing);
        return (uffd, target);
    }

    /// <summary>How many of <paramref name="pages"/> pages from <paramref name="address"/> this process has mapped now.</summary>
    private static int PresentPages(nint address, int pages)
    {
        using var pagemap = File.OpenHandle("/proc/self/pagemap");
        var entries = new byte[pages * 8];
        Assert.Equal(entries.Length, RandomAccess.Read(pagemap, entries, address / PageSize * 8));
        var present = 0;
        for (var i = 0; i < pages; i++)
        {
            present += (BinaryPrimitives.ReadUInt64LittleEndian(entries.AsSpan(i * 8)) >> 63) == 1 ? 1 : 0;
        }

        return present;
    }
}
