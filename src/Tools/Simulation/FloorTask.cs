using System.Text.Json;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;

namespace LazyActors.Tools.Simulation;

/// <summary>
/// The body of one process of the scheduler-floor probe (hidden verb <c>touch-floor-task</c>): the same touch loop as a
/// simulated task (<see cref="TouchCrew"/>, same process settings), over the same number of pages in the same order,
/// but on memory that is already present. Started by the bench alongside as many siblings as the scenario has tasks,
/// it measures what first touches cost on this machine when no daemon is involved at all: a restored tree that keeps
/// every CPU busy waits for CPUs, whoever serves its faults.
/// </summary>
internal static class FloorTask
{
    /// <summary>Line written to stdout once the memory is present and the touch thread warmed up.</summary>
    public const string ReadyLine = "ready";

    public static unsafe int Run(long pages, TouchOrder order, int seed, TimeSpan timeout)
    {
        const long pageSize = (long)PageGeometry.PageSize;
        using var memory = MappedRegion.Map((ulong)(pages * pageSize));
        var addresses = new ulong[pages];
        for (long p = 0; p < pages; p++)
        {
            addresses[p] = memory.Start + (ulong)(p * pageSize);
            *(byte*)addresses[p] = (byte)p; // present before the clock starts
        }

        if (order == TouchOrder.Rand)
        {
            new Random(seed).Shuffle(addresses);
        }

        var crew = new TouchCrew(1, "floor");
        Console.Out.WriteLine(ReadyLine);
        Console.Out.Flush();
        if (Console.In.ReadLine() is null)
        {
            return 2; // the bench went away
        }

        var latencies = new long[pages];
        var waits = new long[pages];
        var served = new byte[pages];
        crew.Start(addresses, latencies, waits, served, (int)pages);
        if (!crew.Join(timeout))
        {
            Console.Error.WriteLine($"touch-floor-task: {pages} present pages not touched within {timeout.TotalSeconds:0.#} s");
            return 4;
        }

        var maxExcl = crew.RunDelayAccounted ? LatencyStats.MaxExcludingWaitUs(latencies, waits) : (double?)null;
        var (_, p99, max) = LatencyStats.Summarize(latencies);
        Console.Out.WriteLine(JsonSerializer.Serialize(new FloorResult(max, maxExcl, p99), FloorJsonContext.Default.FloorResult));
        return 0;
    }
}
