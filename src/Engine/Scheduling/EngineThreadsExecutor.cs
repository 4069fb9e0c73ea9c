using Akka.Dispatch;

namespace LazyActors.Engine.Scheduling;

/// <summary>
/// The engine dispatcher's threads without idle spinning: a fixed set of dedicated threads that take mailbox runs from
/// one queue and, when it is empty, sleep on a monitor at once. Akka's dedicated thread pool (ForkJoinDispatcher) lets
/// a thread that runs out of work spin first, up to about a hundred <c>sched_yield</c>s, so that the next run finds it
/// awake. The engine's work comes in bursts of one message (a fault batch, a page read, a copy slice): on a machine with
/// a free CPU every burst then cost its thread that spin on top of the work (docs/benchmarks.md, front31). Here a new run
/// wakes a sleeping thread with one futex call instead.
/// </summary>
/// <remarks>
/// Wake-ups are never lost: a thread announces that it is going to sleep (<see cref="_sleepers"/>, a full fence) before it
/// looks at the queue a last time under the monitor, and <see cref="Execute"/> enqueues (a full fence) before it looks at
/// that count, so either the thread sees the run or <see cref="Execute"/> sees the sleeper and pulses the monitor, which
/// it can only take once the thread waits on it or has left it.
/// </remarks>
public sealed class EngineThreadsExecutor : ExecutorService
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<IRunnable> _runs = new();
    private readonly object _monitor = new();
    private int _sleepers;
    private volatile bool _shutdown;

    /// <summary>Starts <paramref name="threads"/> background threads named after the dispatcher (<paramref name="id"/>_N).</summary>
    public EngineThreadsExecutor(string id, int threads)
        : base(id)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        for (var i = 1; i <= threads; i++)
        {
            new Thread(Work) { IsBackground = true, Name = $"{id}_{i}" }.Start();
        }
    }

    /// <summary>Runs that were queued but not taken yet (tests).</summary>
    internal int Queued => _runs.Count;

    /// <inheritdoc />
    public override void Execute(IRunnable run)
    {
        if (_shutdown)
        {
            throw new RejectedExecutionException($"the engine dispatcher's threads ({Id}) have been shut down");
        }

        _runs.Enqueue(run);
        if (Volatile.Read(ref _sleepers) > 0)
        {
            lock (_monitor)
            {
                Monitor.Pulse(_monitor);
            }
        }
    }

    /// <summary>Lets every thread finish the runs already queued, then end.</summary>
    public override void Shutdown()
    {
        _shutdown = true;
        lock (_monitor)
        {
            Monitor.PulseAll(_monitor);
        }
    }

    private void Work()
    {
        while (true)
        {
            if (_runs.TryDequeue(out var run))
            {
                Run(run);
                continue;
            }

            lock (_monitor)
            {
                Interlocked.Increment(ref _sleepers);
                try
                {
                    if (_runs.IsEmpty)
                    {
                        if (_shutdown)
                        {
                            return;
                        }

                        Monitor.Wait(_monitor);
                    }
                }
                finally
                {
                    Interlocked.Decrement(ref _sleepers);
                }
            }
        }
    }

    private static void Run(IRunnable run)
    {
        try
        {
            run.Run();
        }
        catch (Exception)
        {
            // A mailbox run reports its actor's failures itself; whatever escapes it must not end a dispatcher thread
            // (Akka's own pools drop it the same way).
        }
    }
}
