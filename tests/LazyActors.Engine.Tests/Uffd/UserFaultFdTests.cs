using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Uffd;
using Xunit;
using static LazyActors.Engine.Tests.Uffd.NativeTestSupport;

namespace LazyActors.Engine.Tests.Uffd;

public sealed class UserFaultFdTests
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(10);

    [SkippableFact]
    public void Api_NonCooperative_GrantsSupportedSubsetOnce()
    {
        using var uffd = CreateUffdOrSkip();
        var supported = UserFaultFd.ProbeFeatures();
        var granted = uffd.Api(UffdFeatures.NonCooperative);

        Assert.Equal(UffdFeatures.NonCooperative & supported, granted);
        Assert.Equal(granted, uffd.Features);
        var again = Assert.Throws<LinuxException>(() => uffd.Api(UffdFeatures.NonCooperative));
        Assert.Equal(Errno.EINVAL, again.Errno);
        Assert.Contains("UFFDIO_API", again.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void CreateFromDevice_UsesUserfaultfdIocNew()
    {
        Skip.If(!File.Exists("/dev/userfaultfd"), "/dev/userfaultfd does not exist on this machine.");
        UserFaultFd uffd;
        try
        {
            uffd = UserFaultFd.CreateFromDevice(OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK, Errno.ENOSYS);
        }
        catch (LinuxException ex) when (ex.Errno is Errno.EPERM or Errno.EACCES or Errno.ENOSYS)
        {
            Skip.If(true, $"/dev/userfaultfd refused: {ex.Message}");
            throw;
        }

        using (uffd)
        {
            using var target = MappedRegion.Map(PageSize);
            Assert.Equal(UffdFeatures.NonCooperative & UserFaultFd.ProbeFeatures(), uffd.Api(UffdFeatures.NonCooperative));
            uffd.Register(target.Start, PageSize, RegisterMode.Missing);
            Assert.True(uffd.ZeroPage(target.Start, PageSize).IsSuccess);
            uffd.Unregister(target.Start, PageSize);
        }
    }

    [SkippableFact]
    public void Faults_OnTwoUffds_AreServedThroughEpollReaderAndCopy()
    {
        const int pages = 8;
        using var pattern = MappedRegion.Map(pages * PageSize);
        FillPattern(pattern.GetSpan(0, pages * PageSize), seed: 7);
        using var targetA = MappedRegion.Map(pages * PageSize);
        using var targetB = MappedRegion.Map(pages * PageSize);
        using var first = CreateUffdOrSkip();
        using var second = CreateUffdOrSkip();
        first.Api(UffdFeatures.NonCooperative);
        second.Api(UffdFeatures.NonCooperative);
        Assert.Equal(UffdIoctls.LazyPagesRangeIoctls, first.Register(targetA.Start, targetA.Length, RegisterMode.Missing) & UffdIoctls.LazyPagesRangeIoctls);
        Assert.Equal(UffdIoctls.LazyPagesRangeIoctls, second.Register(targetB.Start, targetB.Length, RegisterMode.Missing) & UffdIoctls.LazyPagesRangeIoctls);

        var faults = new ConcurrentQueue<(object Token, ulong Address)>();
        var failures = new ConcurrentQueue<string>();
        var errors = new ConcurrentQueue<Exception>();
        var byToken = new Dictionary<object, (UserFaultFd Uffd, MappedRegion Target)> { ["A"] = (first, targetA), ["B"] = (second, targetB) };
        using (var reader = new EpollReader(
            (token, batch) =>
            {
                var (uffd, target) = byToken[token];
                foreach (var msg in batch)
                {
                    Assert.Equal(UffdEvent.Pagefault, msg.Event);
                    var page = msg.PagefaultAddress & ~(ulong)(PageSize - 1);
                    faults.Enqueue((token, page));
                    var result = uffd.Copy(page, pattern.Address + (nint)(page - target.Start), PageSize);
                    if (!result.IsSuccess || result.Bytes != PageSize)
                    {
                        failures.Enqueue($"{token} 0x{page:x}: {result}");
                    }
                }
            },
            (token, error) => errors.Enqueue(error)))
        {
            reader.Add(first.Handle, "A");
            reader.Add(second.Handle, "B");

            var copyA = Marshal.AllocHGlobal(pages * PageSize);
            var copyB = Marshal.AllocHGlobal(pages * PageSize);
            try
            {
                var toucher = new Thread(() =>
                {
                    MemCpy(copyA, targetA.Address, pages * PageSize);
                    MemCpy(copyB, targetB.Address, pages * PageSize);
                })
                {
                    IsBackground = true,
                    Name = "uffd-toucher",
                };
                toucher.Start();
                var finished = toucher.Join(WaitLimit);
                if (!finished)
                {
                    // Closing the uffds releases the blocked thread (the kernel then zero-fills).
                    first.Dispose();
                    second.Dispose();
                    toucher.Join(WaitLimit);
                }

                Assert.True(finished, $"The faulting thread did not finish; faults seen: {faults.Count}, failures: {string.Join("; ", failures)}, errors: {string.Join("; ", errors)}");
                Assert.Empty(failures);
                Assert.Empty(errors);
                var expected = pattern.GetSpan(0, pages * PageSize).ToArray();
                unsafe
                {
                    Assert.True(expected.AsSpan().SequenceEqual(new ReadOnlySpan<byte>((void*)copyA, pages * PageSize)));
                    Assert.True(expected.AsSpan().SequenceEqual(new ReadOnlySpan<byte>((void*)copyB, pages * PageSize)));
                }

                Assert.True(expected.AsSpan().SequenceEqual(targetA.GetSpan(0, pages * PageSize)));
                Assert.Equal(pages, faults.Count(f => Equals(f.Token, "A")));
                Assert.Equal(pages, faults.Count(f => Equals(f.Token, "B")));
                Assert.Equal(pages, faults.Where(f => Equals(f.Token, "A")).Select(f => f.Address).Distinct().Count());
            }
            finally
            {
                Marshal.FreeHGlobal(copyA);
                Marshal.FreeHGlobal(copyB);
            }
        }
    }

    [SkippableFact]
    public void Gated_reader_leaves_a_fault_to_the_copier_holding_the_gate_and_rearms_for_the_next()
    {
        const int pages = 3;
        using var pattern = MappedRegion.Map(pages * PageSize);
        FillPattern(pattern.GetSpan(0, pages * PageSize), seed: 11);
        using var target = MappedRegion.Map(pages * PageSize);
        using var raw = CreateUffdOrSkip();
        raw.Api(UffdFeatures.NonCooperative);
        raw.Register(target.Start, target.Length, RegisterMode.Missing);
        var adapter = new UserFaultFdAdapter(raw.Handle);
        var faults = new BlockingCollection<(ulong Page, int Thread)>();
        var errors = new ConcurrentQueue<Exception>();
        using var reader = new EpollReader(
            (_, batch) =>
            {
                foreach (var msg in batch)
                {
                    faults.Add((msg.PagefaultAddress & ~(ulong)(PageSize - 1), Environment.CurrentManagedThreadId));
                }
            },
            (_, error) => errors.Enqueue(error));
        reader.Add(raw.Handle, "T", adapter.Barrier);

        var toucher = new Thread(() =>
        {
            for (var p = 0; p < pages; p++)
            {
                _ = Volatile.Read(ref target.GetSpan((ulong)(p * PageSize), 1)[0]);
            }
        })
        {
            IsBackground = true,
            Name = "gated-toucher",
        };

        // Hold the gate as a copier would: the fault becomes readable, the reader must neither read it nor block.
        (ulong Page, int Thread) first;
        using (adapter.Barrier.EnterCopy())
        {
            toucher.Start();
            Assert.True(SpinWait.SpinUntil(() => adapter.Barrier.IsReadPending, WaitLimit), "the reader never asked for the read");
            Assert.Empty(faults);
        }

        // Leaving the gate performed the read on this thread.
        Assert.True(faults.TryTake(out first, WaitLimit));
        Assert.Equal(target.Start, first.Page);
        Assert.Equal(Environment.CurrentManagedThreadId, first.Thread);
        Assert.True(adapter.Copy(first.Page, pattern.Address, PageSize).IsSuccess);

        // One-shot re-armed: the next faults arrive through the reader thread.
        for (var p = 1; p < pages; p++)
        {
            Assert.True(faults.TryTake(out var next, WaitLimit), $"fault {p} was not delivered; errors: {string.Join("; ", errors)}");
            Assert.Equal(target.Start + (ulong)(p * PageSize), next.Page);
            Assert.True(adapter.Copy(next.Page, pattern.Address + p * PageSize, PageSize).IsSuccess);
        }

        Assert.True(toucher.Join(WaitLimit));
        Assert.Empty(errors);
        Assert.True(pattern.GetSpan(0, pages * PageSize).SequenceEqual(target.GetSpan(0, pages * PageSize)));
        reader.Remove(raw.Handle);
    }

    [SkippableFact]
    public void Faults_ServedWithZeroPage_ReadZeros()
    {
        const int pages = 4;
        using var target = MappedRegion.Map(pages * PageSize);
        using var uffd = CreateUffdOrSkip();
        uffd.Api(UffdFeatures.NonCooperative);
        uffd.Register(target.Start, target.Length, RegisterMode.Missing);
        var results = new ConcurrentQueue<UffdOpResult>();
        using var reader = new EpollReader(
            (_, batch) =>
            {
                foreach (var msg in batch)
                {
                    results.Enqueue(uffd.ZeroPage(msg.PagefaultAddress & ~(ulong)(PageSize - 1), PageSize));
                }
            },
            (_, _) => { });
        reader.Add(uffd.Handle, "zero");

        var copy = Marshal.AllocHGlobal(pages * PageSize);
        try
        {
            unsafe
            {
                new Span<byte>((void*)copy, pages * PageSize).Fill(0xEE);
            }

            var toucher = new Thread(() => MemCpy(copy, target.Address, pages * PageSize)) { IsBackground = true };
            toucher.Start();
            var finished = toucher.Join(WaitLimit);
            if (!finished)
            {
                uffd.Dispose();
                toucher.Join(WaitLimit);
            }

            Assert.True(finished, "The faulting thread was not released by UFFDIO_ZEROPAGE.");
            // The last ZEROPAGE wakes the toucher before the reader thread records its result.
            Assert.True(SpinWait.SpinUntil(() => results.Count == pages, WaitLimit), $"Only {results.Count} ZEROPAGE results.");
            Assert.All(results, r => Assert.Equal(new UffdOpResult(PageSize, Errno.None), r));
            unsafe
            {
                Assert.True(new ReadOnlySpan<byte>((void*)copy, pages * PageSize).IndexOfAnyExcept((byte)0) < 0);
            }
        }
        finally
        {
            Marshal.FreeHGlobal(copy);
        }
    }

    [SkippableFact]
    public void Copy_Twice_SecondReportsEexistWithoutThrowing()
    {
        using var source = MappedRegion.Map(PageSize);
        FillPattern(source.GetSpan(0, PageSize), seed: 3);
        using var target = MappedRegion.Map(2 * PageSize);
        using var uffd = CreateUffdOrSkip();
        uffd.Api(UffdFeatures.NonCooperative);
        uffd.Register(target.Start, target.Length, RegisterMode.Missing);

        var firstCopy = uffd.Copy(target.Start, source.Address, PageSize);
        var secondCopy = uffd.Copy(target.Start, source.Address, PageSize);
        var zeroOverCopied = uffd.ZeroPage(target.Start, PageSize);

        Assert.Equal(new UffdOpResult(PageSize, Errno.None), firstCopy);
        Assert.Equal(new UffdOpResult(0, Errno.EEXIST), secondCopy);
        Assert.True(secondCopy.IsRecoverable);
        Assert.Equal(new UffdOpResult(0, Errno.EEXIST), zeroOverCopied);
        Assert.True(source.GetSpan(0, PageSize).SequenceEqual(target.GetSpan(0, PageSize)));
    }

    [SkippableFact]
    public void Copy_ToUnregisteredOrUnmappedRange_ReportsEnoent()
    {
        using var source = MappedRegion.Map(PageSize);
        using var registered = MappedRegion.Map(2 * PageSize);
        using var unregistered = MappedRegion.Map(PageSize);
        using var uffd = CreateUffdOrSkip();
        uffd.Api(UffdFeatures.NonCooperative);
        uffd.Register(registered.Start, registered.Length, RegisterMode.Missing);

        // The kernel looks up the destination VMA and requires it to be registered with this uffd: ENOENT otherwise.
        Assert.Equal(new UffdOpResult(0, Errno.ENOENT), uffd.Copy(unregistered.Start, source.Address, PageSize));
        Assert.Equal(new UffdOpResult(0, Errno.ENOENT), uffd.ZeroPage(unregistered.Start, PageSize));

        uffd.Unregister(registered.Start + PageSize, PageSize);
        Assert.Equal(Errno.ENOENT, uffd.Copy(registered.Start + PageSize, source.Address, PageSize).Error);
        Assert.True(uffd.Copy(registered.Start, source.Address, PageSize).IsSuccess);

        var gone = unregistered.Start;
        unregistered.Unmap();
        Assert.Equal(Errno.ENOENT, uffd.Copy(gone, source.Address, PageSize).Error);
    }

    [SkippableFact]
    public void Copy_UnalignedDestination_ReportsEinval()
    {
        using var source = MappedRegion.Map(PageSize);
        using var target = MappedRegion.Map(2 * PageSize);
        using var uffd = CreateUffdOrSkip();
        uffd.Api(UffdFeatures.NonCooperative);
        uffd.Register(target.Start, target.Length, RegisterMode.Missing);

        var result = uffd.Copy(target.Start + 1, source.Address, PageSize);

        Assert.Equal(new UffdOpResult(0, Errno.EINVAL), result);
        Assert.False(result.IsRecoverable);
    }

    [SkippableFact]
    public void RegisterAndUnregister_BadRange_ThrowLinuxExceptionWithErrno()
    {
        using var target = MappedRegion.Map(PageSize);
        using var uffd = CreateUffdOrSkip();
        uffd.Api(UffdFeatures.NonCooperative);

        var register = Assert.Throws<LinuxException>(() => uffd.Register(target.Start + 1, PageSize, RegisterMode.Missing));
        var unregister = Assert.Throws<LinuxException>(() => uffd.Unregister(target.Start, PageSize + 1));

        Assert.Equal(Errno.EINVAL, register.Errno);
        Assert.Contains("UFFDIO_REGISTER", register.Message, StringComparison.Ordinal);
        Assert.Equal(Errno.EINVAL, unregister.Errno);
        uffd.Register(target.Start, PageSize, RegisterMode.Missing);
        uffd.Wake(target.Start, PageSize);
        uffd.Unregister(target.Start, PageSize);
    }

    [SkippableFact]
    public void ReadMessages_NothingPending_ReturnsZero()
    {
        using var uffd = CreateUffdOrSkip();
        uffd.Api(UffdFeatures.NonCooperative);
        Span<UffdMsg> buffer = stackalloc UffdMsg[4];

        Assert.Equal(0, uffd.ReadMessages(buffer));
    }

    [Fact]
    public void ReadMessages_OnUnreadableFd_ThrowsEbadf()
    {
        var (read, write) = Pipe();
        using (read)
        using (write)
        {
            using var wrapped = UserFaultFd.FromHandle(write);
            var buffer = new UffdMsg[2];

            var ex = Assert.Throws<LinuxException>(() => wrapped.ReadMessages(buffer));

            Assert.Equal(Errno.EBADF, ex.Errno);
            Assert.Contains("read(userfaultfd", ex.Message, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void MadviseDontNeed_OnRegisteredRange_DeliversRemoveEvent()
    {
        using var source = MappedRegion.Map(PageSize);
        using var target = MappedRegion.Map(2 * PageSize);
        using var uffd = CreateUffdOrSkip();
        var granted = uffd.Api(UffdFeatures.NonCooperative);
        Skip.If((granted & UffdFeatures.EventRemove) == 0, "The kernel does not grant UFFD_FEATURE_EVENT_REMOVE.");
        uffd.Register(target.Start, target.Length, RegisterMode.Missing);
        Assert.True(uffd.Copy(target.Start, source.Address, PageSize).IsSuccess);

        // madvise blocks until the monitor has read the REMOVE event, so it runs on its own thread.
        var advisor = new Thread(() => target.Madvise(MadviseAdvice.MADV_DONTNEED)) { IsBackground = true };
        advisor.Start();
        Span<UffdMsg> buffer = stackalloc UffdMsg[4];
        var count = 0;
        var deadline = DateTime.UtcNow + WaitLimit;
        while (count == 0 && DateTime.UtcNow < deadline)
        {
            Assert.True(UnixSocket.WaitReadable(uffd.Handle, TimeSpan.FromMilliseconds(100)) || DateTime.UtcNow < deadline);
            count = uffd.ReadMessages(buffer);
        }

        Assert.True(advisor.Join(WaitLimit), "madvise(DONTNEED) was not released after reading the REMOVE event.");
        Assert.Equal(1, count);
        Assert.Equal(UffdEvent.Remove, buffer[0].Event);
        Assert.Equal(target.Start, buffer[0].RemoveStart);
        Assert.Equal(target.Start + target.Length, buffer[0].RemoveEnd);
    }
}
