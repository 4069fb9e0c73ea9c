using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace LazyActors.Host.Simulation;

/// <summary>
/// The threads that first-touch a task's memory. They are started and warmed up (the touch loop compiled and run on
/// scratch memory) before "go", so that thread start-up and JIT compilation never land inside a measured first touch:
/// a restored task is already running code when it faults, and the figures must measure the daemon.
/// </summary>
internal sealed unsafe class TouchCrew
{
    private const int WarmUpPages = 64;

    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim _start = new();
    private ulong[] _addresses = [];
    private long[] _latencies = [];
    private byte[] _served = [];
    private int _count;

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

    /// <summary>Touches <paramref name="count"/> of the addresses (order as given), timing each first touch.</summary>
    public void Start(ulong[] addresses, long[] latencies, byte[] served, int count)
    {
        _addresses = addresses;
        _latencies = latencies;
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
        var scratch = GC.AllocateArray<byte>(WarmUpPages * 4096, pinned: true);
        fixed (byte* basePtr = scratch)
        {
            var warmAddresses = new ulong[WarmUpPages];
            for (var i = 0; i < WarmUpPages; i++)
            {
                basePtr[i * 4096] = 1;
                warmAddresses[i] = (ulong)(basePtr + i * 4096);
            }

            var warmLatencies = new long[WarmUpPages];
            var warmServed = new byte[WarmUpPages];
            for (var round = 0; round < 4; round++)
            {
                TouchSlice(warmAddresses, warmLatencies, warmServed, 0, 1, WarmUpPages);
            }
        }

        ready.Signal();
        _start.Wait();
        TouchSlice(_addresses, _latencies, _served, first, _threads.Length, _count);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void TouchSlice(ulong[] addresses, long[] latencies, byte[] served, int first, int step, int count)
    {
        for (var i = first; i < count; i += step)
        {
            var start = Stopwatch.GetTimestamp();
            _ = Volatile.Read(ref *(byte*)addresses[i]);
            latencies[i] = Stopwatch.GetTimestamp() - start;
            Volatile.Write(ref served[i], 1);
        }
    }
}
