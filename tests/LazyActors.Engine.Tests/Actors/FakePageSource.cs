using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using LazyActors.Engine.Pages;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>
/// An <see cref="IPageSource"/> whose page at dump address A holds <see cref="PatternByte"/>(pid, A) in every byte.
/// Reads complete at once unless <see cref="Gate"/> is set (then they wait for it), or fail when <see cref="Fail"/>
/// says so. Counts reads and releases.
/// </summary>
internal sealed class FakePageSource : IPageSource
{
    private int _released;
    private int _live;

    public ConcurrentQueue<(int Pid, ulong Dump, int Pages)> Reads { get; } = new();

    public TaskCompletionSource? Gate { get; set; }

    public Func<int, ulong, Exception?>? Fail { get; set; }

    public int Released => Volatile.Read(ref _released);

    public int Live => Volatile.Read(ref _live);

    /// <summary>When true, <see cref="TryReadNow"/> serves every read at once (like a zero-copy mapping).</summary>
    public bool Immediate { get; set; }

    public bool TryReadNow(int pid, ulong dumpAddress, int pages, out PageRead read)
    {
        read = null!;
        if (!Immediate)
        {
            return false;
        }

        Reads.Enqueue((pid, dumpAddress, pages));
        read = Make(pid, dumpAddress, pages);
        return true;
    }

    public static byte PatternByte(int pid, ulong dump) => (byte)((dump >> 12) * 7 + (ulong)pid);

    public ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, ReadPriority priority, CancellationToken cancellationToken)
    {
        Reads.Enqueue((pid, dumpAddress, pages));
        if (Fail?.Invoke(pid, dumpAddress) is { } error)
        {
            return ValueTask.FromException<PageRead>(error);
        }

        if (Gate is { } gate)
        {
            return new ValueTask<PageRead>(gate.Task.ContinueWith(_ => Make(pid, dumpAddress, pages), TaskScheduler.Default));
        }

        return ValueTask.FromResult(Make(pid, dumpAddress, pages));
    }

    public PageRead Make(int pid, ulong dumpAddress, int pages)
    {
        var buffer = Marshal.AllocHGlobal(pages * 4096);
        for (var i = 0; i < pages; i++)
        {
            var value = PatternByte(pid, dumpAddress + ((ulong)i << 12));
            for (var b = 0; b < 4096; b += 512)
            {
                Marshal.WriteByte(buffer + (i * 4096) + b, value);
            }
        }

        Interlocked.Increment(ref _live);
        return new PageRead([new PageSegment(dumpAddress, pages, buffer)], () =>
        {
            Marshal.FreeHGlobal(buffer);
            Interlocked.Decrement(ref _live);
            Interlocked.Increment(ref _released);
        });
    }

    public void Dispose()
    {
    }
}
