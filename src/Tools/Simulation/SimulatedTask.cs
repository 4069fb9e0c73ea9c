using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Text.Json;
using LazyActors.Engine.Images;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Restorer;
using LazyActors.Engine.Uffd;

namespace LazyActors.Tools.Simulation;

/// <summary>Arguments of one task process (the hidden <c>restore-sim-task</c> verb).</summary>
public sealed record SimTaskArgs(
    string ImagesDir,
    int Pid,
    string ControlPath,
    TouchOrder Touch,
    int Threads,
    SimScenario Scenario,
    bool Verify,
    TimeSpan Timeout,
    int Seed);

/// <summary>
/// The body of one restored task, run in its own process: it does what CRIU's restorer does for a lazy restore
/// (map the lazy-capable VMAs at their dump addresses, fill the eager pages, register the VMAs with a fresh
/// userfaultfd, hand the uffd over and close it), then waits for "go", plays its scenario, first-touches its memory
/// from several threads timing each touch, verifies every byte against the images and reports.
/// </summary>
public static class SimulatedTask
{
    /// <summary>Exit code meaning "a VMA collided with this process's own mappings: retry in a fresh process".</summary>
    public const int CollisionExitCode = 3;

    /// <summary>Exit code meaning "some pages were never served before the timeout".</summary>
    public const int TimeoutExitCode = 4;

    private const ulong PageSize = PageGeometry.PageSize;

    /// <summary>Runs the task's whole life in this process; returns its exit code (0 = every byte verified).</summary>
    public static unsafe int Run(SimTaskArgs args)
    {
        using var checkpoint = Checkpoint.Open(args.ImagesDir);
        var task = checkpoint.GetTask(args.Pid);
        var plan = TaskMemoryPlan.For(task);
        if (plan.RemoteOnlyPages > 0)
        {
            Console.Error.WriteLine($"restore-sim-task: pid {args.Pid} has {plan.RemoteOnlyPages} lazy pages with no data in {args.ImagesDir} (a lazy dump); they can only be verified against a page server");
            return 2;
        }

        var deadline = Stopwatch.StartNew();
        var features = UserFaultFd.ProbeFeatures() & UffdFeatures.NonCooperative;
        var uffd = UserFaultFd.Create();
        uffd.Api(features);

        foreach (var vma in plan.Vmas)
        {
            if (!SimMemory.TryMapFixed(vma.Start, vma.Length, out var error))
            {
                Console.Error.WriteLine($"collision: cannot map 0x{vma.Start:x}-0x{vma.End:x} of pid {args.Pid} at its dump address: {error}");
                return CollisionExitCode;
            }
        }

        foreach (var run in plan.Eager)
        {
            var dest = new Span<byte>((void*)run.Start, checked((int)(run.Pages * PageSize)));
            checkpoint.Pages.Read(args.Pid, run.Start, (int)run.Pages, dest);
        }

        foreach (var vma in plan.Vmas)
        {
            SimMemory.Protect(vma.Start, vma.Length, vma.Prot);
            uffd.Register(vma.Start, vma.Length, RegisterMode.Missing);
        }

        // The touching threads are started and warmed up before the uffd is handed over, like everything else a touch
        // needs below: a restored task runs the moment restore finishes.
        var crew = args.Touch == TouchOrder.None ? null : new TouchCrew(args.Threads, $"touch-{args.Pid}");
        using var control = UnixSocket.Connect(args.ControlPath);
        Span<byte> pidBytes = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(pidBytes, args.Pid);
        SimControl.Send(control, SimControl.Ready, pidBytes);
        UnixSocket.SendFd(control, uffd.Handle);
        SimControl.Expect(control, SimControl.Handed, Remaining(args.Timeout, deadline));
        uffd.Dispose(); // the daemon now holds the only reference, as after CRIU's restorer

        // The touches' order and the arrays they fill are ready before "go" too, unless the scenario moves the memory
        // first.
        var movesMemory = args.Scenario is SimScenario.Mremap or SimScenario.Madvise or SimScenario.Munmap;
        var segments = movesMemory ? null : PlayScenario(args, plan);
        var touches = segments is null ? null : TouchPlan.For(args, segments);
        SimControl.Expect(control, SimControl.Go, Remaining(args.Timeout, deadline));

        segments ??= PlayScenario(args, plan);
        touches ??= TouchPlan.For(args, segments);
        var result = TouchAndVerify(args, checkpoint, segments, touches, control, deadline, crew);
        SimControl.Send(control, result.Unserved is { Count: > 0 } ? SimControl.Timeout : SimControl.Result,
            JsonSerializer.SerializeToUtf8Bytes(result, SimJsonContext.Default.TouchResult));
        return result.Unserved is { Count: > 0 } ? TimeoutExitCode : result.Mismatches > 0 ? 1 : 0;
    }

    private static TimeSpan Remaining(TimeSpan timeout, Stopwatch since)
    {
        var left = timeout - since.Elapsed;
        return left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1);
    }

    /// <summary>A stretch of memory to touch: where it is now, where it was at dump time, and whether it must read as zeros.</summary>
    private readonly record struct Segment(ulong Current, ulong Dump, ulong Pages, bool ExpectZero);

    private static List<Segment> PlayScenario(SimTaskArgs args, TaskMemoryPlan plan)
    {
        var readable = plan.Vmas.Where(v => v.Readable).ToList();
        var segments = readable.Select(v => new Segment(v.Start, v.Start, v.Pages, false)).ToList();
        if (args.Scenario is SimScenario.None or SimScenario.Exit or SimScenario.Fork || readable.Count == 0)
        {
            return segments;
        }

        var target = readable.MaxBy(v => v.Length);
        var index = segments.FindIndex(s => s.Current == target.Start);
        switch (args.Scenario)
        {
            case SimScenario.Mremap:
            {
                var moved = SimMemory.RemapElsewhere(target.Start, target.Length);
                segments[index] = new Segment(moved, target.Start, target.Pages, false);
                break;
            }

            case SimScenario.Madvise:
            {
                var half = Math.Max(1, target.Pages / 2);
                SimMemory.AdviseDontNeed(target.Start, half * PageSize);
                segments[index] = new Segment(target.Start, target.Start, half, true);
                if (target.Pages > half)
                {
                    segments.Insert(index + 1, new Segment(target.Start + half * PageSize, target.Start + half * PageSize, target.Pages - half, false));
                }

                break;
            }

            case SimScenario.Munmap:
            {
                var keep = target.Pages / 2;
                SimMemory.Unmap(target.Start + keep * PageSize, (target.Pages - keep) * PageSize);
                if (keep == 0)
                {
                    segments.RemoveAt(index);
                }
                else
                {
                    segments[index] = new Segment(target.Start, target.Start, keep, false);
                }

                break;
            }
        }

        return segments;
    }

    /// <summary>The pages a task first-touches, in touch order, and the arrays the touching threads fill.</summary>
    private sealed class TouchPlan
    {
        private TouchPlan(ulong[] addresses, int count)
        {
            Addresses = addresses;
            Count = count;
            Latencies = new long[count];
            CpuWaits = new long[count];
            Served = new byte[count];
        }

        public ulong[] Addresses { get; }

        /// <summary>How many of <see cref="Addresses"/> are touched (the exit scenario leaves with half untouched).</summary>
        public int Count { get; }

        public long[] Latencies { get; }

        public long[] CpuWaits { get; }

        public byte[] Served { get; }

        public static TouchPlan For(SimTaskArgs args, List<Segment> segments)
        {
            var total = segments.Aggregate(0UL, (sum, s) => sum + s.Pages);
            var addresses = new ulong[total];
            var k = 0;
            foreach (var s in segments)
            {
                for (ulong p = 0; p < s.Pages; p++)
                {
                    addresses[k++] = s.Current + (p * PageSize);
                }
            }

            if (args.Touch == TouchOrder.Rand)
            {
                new Random((args.Seed * 7919) + args.Pid).Shuffle(addresses);
            }

            return new TouchPlan(addresses, args.Scenario == SimScenario.Exit ? addresses.Length / 2 : addresses.Length);
        }
    }

    private static TouchResult TouchAndVerify(SimTaskArgs args, Checkpoint checkpoint, List<Segment> segments, TouchPlan touches, SafeFdHandle control, Stopwatch deadline, TouchCrew? crew)
    {
        var (addresses, toTouch) = (touches.Addresses, touches.Count);
        var (latencies, cpuWaits, served) = (touches.Latencies, touches.CpuWaits, touches.Served);
        var touchWatch = Stopwatch.StartNew();
        if (crew is not null)
        {
            crew.Start(addresses, latencies, cpuWaits, served, toTouch);
            if (!crew.Join(Remaining(args.Timeout, deadline)))
            {
                return new TouchResult
                {
                    Pid = args.Pid,
                    OsPid = Environment.ProcessId,
                    Pages = toTouch,
                    Unserved = UnservedRanges(addresses, served, toTouch),
                    Error = $"pages of pid {args.Pid} were not served within {args.Timeout.TotalSeconds:0.#} s",
                };
            }
        }

        var touchMs = touchWatch.Elapsed.TotalMilliseconds;
        var maxIndex = args.Touch == TouchOrder.None || latencies.Length == 0 ? -1 : Array.IndexOf(latencies, latencies.Max());
        double? maxExclCpuWait = crew?.RunDelayAccounted == true ? LatencyStats.MaxExcludingWaitUs(latencies, cpuWaits) : null;
        var (p50, p99, max) = LatencyStats.Summarize(args.Touch == TouchOrder.None ? Span<long>.Empty : latencies);
        var touched = new TouchResult
        {
            Pid = args.Pid,
            OsPid = Environment.ProcessId,
            Pages = toTouch,
            TouchMs = touchMs,
            P50Us = p50,
            P99Us = p99,
            MaxUs = max,
            MaxExclCpuWaitUs = maxExclCpuWait,
        };
        if (args.Scenario == SimScenario.Exit)
        {
            // The task leaves with the other half still missing; the daemon must notice and finish.
            return touched;
        }

        // Verification is CPU-heavy; wait until every task has finished touching so it never competes with
        // the daemon while other tasks are still faulting (their latencies measure the daemon, not us).
        SimControl.Send(control, SimControl.Touched, ReadOnlySpan<byte>.Empty);
        SimControl.Expect(control, SimControl.VerifyNow, Remaining(args.Timeout, deadline) + TimeSpan.FromSeconds(5));
        long verified = 0, mismatches = 0;
        string? firstMismatch = null;
        if (args.Verify)
        {
            (verified, mismatches, firstMismatch) = Verify(args.Pid, checkpoint, segments);
        }

        return touched with
        {
            BytesVerified = verified,
            Mismatches = mismatches,
            FirstMismatch = firstMismatch,
            MaxAt = maxIndex,
        };
    }

    private static unsafe (long Verified, long Mismatches, string? First) Verify(int pid, Checkpoint checkpoint, List<Segment> segments)
    {
        const int chunkPages = 256;
        var buffer = ArrayPool<byte>.Shared.Rent(chunkPages * (int)PageSize);
        try
        {
            long verified = 0, mismatches = 0;
            string? first = null;
            foreach (var s in segments)
            {
                for (ulong p = 0; p < s.Pages; p += chunkPages)
                {
                    var pages = (int)Math.Min(chunkPages, s.Pages - p);
                    var expected = buffer.AsSpan(0, pages * (int)PageSize);
                    if (s.ExpectZero)
                    {
                        expected.Clear();
                    }
                    else
                    {
                        checkpoint.Pages.Read(pid, s.Dump + p * PageSize, pages, expected);
                    }

                    var actual = new ReadOnlySpan<byte>((void*)(s.Current + p * PageSize), expected.Length);
                    for (var i = 0; i < pages; i++)
                    {
                        var range = new Range(i * (int)PageSize, (i + 1) * (int)PageSize);
                        if (actual[range].SequenceEqual(expected[range]))
                        {
                            verified += (long)PageSize;
                        }
                        else
                        {
                            mismatches++;
                            first ??= $"0x{s.Current + (p + (ulong)i) * PageSize:x}";
                        }
                    }
                }
            }

            return (verified, mismatches, first);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static List<string> UnservedRanges(ulong[] addresses, byte[] served, int count)
    {
        var missing = new List<ulong>();
        for (var i = 0; i < count; i++)
        {
            if (Volatile.Read(ref served[i]) == 0)
            {
                missing.Add(addresses[i]);
            }
        }

        missing.Sort();
        var ranges = new List<string>();
        for (var i = 0; i < missing.Count;)
        {
            var j = i;
            while (j + 1 < missing.Count && missing[j + 1] == missing[j] + PageSize)
            {
                j++;
            }

            ranges.Add($"0x{missing[i]:x}-0x{missing[j] + PageSize:x}");
            i = j + 1;
        }

        return ranges;
    }
}
