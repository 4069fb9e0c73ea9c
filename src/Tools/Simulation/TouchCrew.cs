using System.Diagnostics;
using System.Runtime.CompilerServices;
using LazyActors.Engine.Ranges;

namespace LazyActors.Tools.Simulation;

/// <summary>
/// The threads that first-touch a task's memory. They are started and warmed up (the touch loop compiled and run on
/// scratch memory) before "go", so that thread start-up and JIT compilation never land inside a measured first touch:
/// a restored task is already running code when it faults, and the figures must measure the daemon.
/// </summary>
internal sealed unsafe class TouchCrew
{
    private const int WarmUpPages = 64;
    private const int PageSize = (int)PageGeometry.PageSize;

    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim _start = new();
    private ulong[] _addresses = [];
    private long[] _latencies = [];
    private long[] _cpuWaits = [];
    private byte[] _served = [];
    private int _count;
    private int _runDelayAccounted = 1;

    /// <summary>Whether every touching thread could read its run delay (then slow touches carry their own CPU wait).</summary>
    public bool RunDelayAccounted => Volatile.Read(ref _runDelayAccounted) == 1;

    public TouchCrew(int threads, string name)
    {
        _threads = new Thread[Math.Max(1, threads)];
        using var ready = new CountdownEvent(_threads.Length);
        for (var t = 0; t < _threads.Length; t++)
        {
            var first = t;
            _threads[t] = new Thread(() => Run(first, ready)) { IsBackground = true, Name = $"{name}-{t}" };
            _threads[t].Start();
        }

        ready.Wait();
    }

    /// <summary>
    /// Touches <paramref name="count"/> of the addresses (order as given), timing each first touch. For touches slower
    /// than <see cref="SlowTouchNs"/>, <paramref name="cpuWaits"/> receives a lower bound of the time the touching
    /// thread itself spent runnable but without a CPU inside the touch (0 where unknown; see <see cref="ThreadRunDelay"/>).
    /// </summary>
    public void Start(ulong[] addresses, long[] latencies, long[] cpuWaits, byte[] served, int count)
    {
        _addresses = addresses;
        _latencies = latencies;
        _cpuWaits = cpuWaits;
        _served = served;
        _count = count;
        _start.Set();
    }

    /// <summary>Waits for every thread; false if the time ran out first.</summary>
    public bool Join(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        foreach (var thread in _threads)
        {
            var left = timeout - clock.Elapsed;
            if (!thread.Join(left > TimeSpan.Zero ? left : TimeSpan.Zero))
            {
                return false;
            }
        }

        return true;
    }

    private void Run(int first, CountdownEvent ready)
    {
        var scratch = GC.AllocateArray<byte>(WarmUpPages * PageSize, pinned: true);
        fixed (byte* basePtr = scratch)
        {
            var warmAddresses = new ulong[WarmUpPages];
            for (var i = 0; i < WarmUpPages; i++)
            {
                basePtr[i * PageSize] = 1;
                warmAddresses[i] = (ulong)(basePtr + (i * PageSize));
            }

            var warmLatencies = new long[WarmUpPages];
            var warmWaits = new long[WarmUpPages];
            var warmServed = new byte[WarmUpPages];
            using var warmDelay = ThreadRunDelay.TryOpen();
            for (var round = 0; round < 4; round++)
            {
                TouchSlice(warmAddresses, warmLatencies, warmWaits, warmServed, 0, 1, WarmUpPages, warmDelay);
            }

            // The slow-touch path (reading the run delay) must be compiled before "go" too.
            for (var i = 0; i < 64 && warmDelay is not null; i++)
            {
                _ = warmDelay.ReadNanoseconds();
            }
        }

        using var runDelay = ThreadRunDelay.TryOpen();
        if (runDelay is null)
        {
            Volatile.Write(ref _runDelayAccounted, 0);
        }

        ready.Signal();
        _start.Wait();
        TouchSlice(_addresses, _latencies, _cpuWaits, _served, first, _threads.Length, _count, runDelay);
    }


    /// <summary>Touches slower than this get their own CPU wait measured.</summary>
    public const long SlowTouchNs = 100_000;

    /// <summary>How stale the run-delay snapshot taken before a touch may grow before it is refreshed.</summary>
    private const long SnapshotRefreshNs = 200_000;

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void TouchSlice(ulong[] addresses, long[] latencies, long[] cpuWaits, byte[] served, int first, int step, int count, ThreadRunDelay? runDelay)
    {
        var nsPerTick = 1e9 / Stopwatch.Frequency;
        var slowTicks = (long)(SlowTouchNs / nsPerTick);
        var refreshTicks = (long)(SnapshotRefreshNs / nsPerTick);

        // The snapshot is taken before the window it will serve, its timestamp before the read: whatever wait falls
        // between snapshot and touch is charged to the daemon, never the other way round (the bound stays conservative).
        var snapshotAt = Stopwatch.GetTimestamp();
        var snapshotDelay = runDelay?.ReadNanoseconds() ?? 0;
        for (var i = first; i < count; i += step)
        {
            var start = Stopwatch.GetTimestamp();
            _ = Volatile.Read(ref *(byte*)addresses[i]);
            var end = Stopwatch.GetTimestamp();
            var latency = end - start;
            latencies[i] = latency;
            Volatile.Write(ref served[i], 1);
            if (runDelay is null)
            {
                continue;
            }

            if (latency >= slowTicks)
            {
                var waited = runDelay.ReadNanoseconds() - snapshotDelay;
                var before = (long)((start - snapshotAt) * nsPerTick);
                cpuWaits[i] = Math.Clamp(waited - before, 0, (long)(latency * nsPerTick));
            }

            if (end - snapshotAt >= refreshTicks || latency >= slowTicks)
            {
                snapshotAt = Stopwatch.GetTimestamp();
                snapshotDelay = runDelay.ReadNanoseconds();
            }
        }
    }
}
