using System.Diagnostics;
using System.Runtime.CompilerServices;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Tools.Bench;

/// <summary>
/// Raw in-process fault round trip: a handler thread waits on a userfaultfd (poll), reads the <c>uffd_msg</c> and
/// answers with UFFDIO_COPY of one 4 KiB page (which wakes the faulting thread), while the calling thread reads
/// the pages of the registered region one by one and times each first access. This is the floor under any
/// daemon's fault latency: a daemon adds its own work and a process boundary on top.
/// </summary>
public static class FaultRoundTripProbe
{
    private const int PageSize = (int)PageGeometry.PageSize;

    /// <summary>
    /// Touches <paramref name="pages"/> pages and returns each touch's latency in Stopwatch ticks (unsorted, in touch
    /// order). The handler gives up after <paramref name="timeout"/>; closing its uffd then releases any blocked
    /// touch (the kernel resolves it as an ordinary fault) and this method throws.
    /// </summary>
    /// <exception cref="LinuxException">The kernel refused userfaultfd or registration, or the handler failed.</exception>
    /// <exception cref="TimeoutException">The handler did not serve every fault in time.</exception>
    /// <exception cref="ArgumentException"><paramref name="placement"/> needs more CPUs than this process may use.</exception>
    public static long[] Measure(int pages, TimeSpan timeout, CpuPlacement placement = CpuPlacement.Unpinned)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pages, 1);
        var cpus = ThreadAffinity.CpusFor(placement)
            ?? throw new ArgumentException($"{placement} needs more CPUs than this process may use.", nameof(placement));
        using var source = MappedRegion.Map(PageSize);
        CopyBandwidthProbe.FillSource(source);
        using var region = MappedRegion.Map((ulong)pages * PageSize);
        var uffd = UserFaultFd.Create(nonBlocking: true);
        try
        {
            uffd.Api(0);
            uffd.Register(region.Start, region.Length, RegisterMode.Missing);
        }
        catch
        {
            uffd.Dispose();
            throw;
        }

        var handler = new Handler(uffd, source.Address, pages, timeout, cpus.Handler);
        var thread = new Thread(handler.Run) { IsBackground = true, Name = "uffd round-trip handler" };
        thread.Start();
        var latencies = new long[pages];
        using (ThreadAffinity.Pin(cpus.Toucher))
        {
            TouchAll(region.Address, latencies);
        }
        if (!thread.Join(timeout + TimeSpan.FromSeconds(5)))
        {
            throw new TimeoutException($"The round-trip handler thread did not finish within {timeout.TotalSeconds + 5:0} s.");
        }

        if (handler.Failure is not null)
        {
            throw handler.Failure;
        }

        return latencies;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TouchAll(nint region, long[] latencies)
    {
        byte* page = (byte*)region;
        for (int i = 0; i < latencies.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            _ = Volatile.Read(ref page[(long)i * PageSize]);
            latencies[i] = Stopwatch.GetTimestamp() - start;
        }
    }

    /// <summary>The handler thread's loop; owns (and finally closes) the uffd.</summary>
    private sealed class Handler(UserFaultFd uffd, nint source, int expected, TimeSpan timeout, int cpu)
    {
        public Exception? Failure { get; private set; }

        public void Run()
        {
            try
            {
                using var pin = ThreadAffinity.Pin(cpu);
                Serve();
            }
            catch (Exception ex) when (ex is LinuxException or TimeoutException or InvalidDataException)
            {
                Failure = ex;
            }
            finally
            {
                // Closing releases a toucher still blocked in a fault, so the caller can never hang.
                uffd.Dispose();
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private unsafe void Serve()
        {
            Span<UffdMsg> messages = stackalloc UffdMsg[16];
            var poll = new PollFd { Fd = (int)uffd.Handle.DangerousGetHandle(), Events = PollFd.POLLIN };
            long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            int served = 0;
            while (served < expected)
            {
                long now = Stopwatch.GetTimestamp();
                if (now >= deadline)
                {
                    throw new TimeoutException($"Only {served} of {expected} faults arrived within {timeout.TotalSeconds:0.#} s.");
                }

                int waitMs = (int)Math.Min(100, Math.Max(1, (deadline - now) * 1000 / Stopwatch.Frequency));
                poll.REvents = 0;
                if (Libc.Poll(&poll, 1, waitMs) < 0)
                {
                    var errno = LinuxException.LastErrno();
                    if (errno == Errno.EINTR)
                    {
                        continue;
                    }

                    throw new LinuxException(errno, "poll(userfaultfd)");
                }

                int count = uffd.ReadMessages(messages);
                for (int i = 0; i < count; i++)
                {
                    if (messages[i].Event != UffdEvent.Pagefault)
                    {
                        continue;
                    }

                    ulong page = messages[i].PagefaultAddress & ~(ulong)(PageSize - 1);
                    var result = uffd.Copy(page, source, PageSize);
                    if (!result.IsSuccess && result.Error != Errno.EEXIST)
                    {
                        throw new LinuxException(result.Error, $"UFFDIO_COPY 4 KiB to 0x{page:x}");
                    }

                    served++;
                }
            }
        }
    }
}
