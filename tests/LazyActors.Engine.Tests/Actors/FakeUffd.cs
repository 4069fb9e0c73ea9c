using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>One ioctl seen by <see cref="FakeUffd"/>.</summary>
internal sealed record UffdCall(string Kind, ulong Address, ulong Length, byte FirstByte);

/// <summary>
/// An <see cref="IUffd"/> that records every call, "copies" into a page dictionary and answers with results chosen by
/// the test (success by default). Thread-safe: the actor calls it, the test reads it.
/// </summary>
internal sealed class FakeUffd : IUffd
{
    private readonly ConcurrentQueue<UffdCall> _calls = new();
    private int _eventsAcknowledged;

    public FakeUffd(string name = "fake-uffd")
    {
        Name = name;
    }

    public string Name { get; }

    /// <summary>Decides the result of COPY/ZEROPAGE; null = success for the whole length.</summary>
    public Func<UffdCall, UffdOpResult>? Respond { get; set; }

    /// <summary>Result of UNREGISTER.</summary>
    public Errno UnregisterResult { get; set; } = Errno.None;

    /// <summary>
    /// When set, the registered VMAs as the kernel sees them: a COPY that does not fit inside one of them fails with
    /// ENOENT and copies nothing, as UFFDIO_COPY does (checked before <see cref="Respond"/>).
    /// </summary>
    public IReadOnlyList<(ulong Start, ulong End)>? RegisteredVmas { get; set; }

    /// <inheritdoc />
    public bool ReportsMemoryChanges { get; set; } = true;

    /// <summary>First byte of every page copied in, by current address.</summary>
    public ConcurrentDictionary<ulong, byte> Pages { get; } = new();

    public IReadOnlyList<UffdCall> Calls => [.. _calls];

    public IReadOnlyList<UffdCall> Copies => [.. _calls.Where(c => c.Kind == "copy")];

    public bool IsDisposed { get; private set; }

    public SafeFdHandle? Handle => null;

    public UffdOpResult Copy(ulong destination, nint source, ulong length)
    {
        var call = new UffdCall("copy", destination, length, Marshal.ReadByte(source));
        _calls.Enqueue(call);
        var result = RegisteredVmas is { } vmas && !vmas.Any(v => v.Start <= destination && destination + length <= v.End)
            ? new UffdOpResult(0, Errno.ENOENT)
            : Respond?.Invoke(call) ?? new UffdOpResult((long)length, Errno.None);
        var done = result.IsSuccess ? length : (ulong)Math.Max(0, result.Bytes);
        for (ulong offset = 0; offset < done; offset += 4096)
        {
            Pages[destination + offset] = Marshal.ReadByte(source + (nint)offset);
        }

        return result;
    }

    public UffdOpResult ZeroPage(ulong start, ulong length)
    {
        var call = new UffdCall("zero", start, length, 0);
        _calls.Enqueue(call);
        return Respond?.Invoke(call) ?? new UffdOpResult((long)length, Errno.None);
    }

    public Errno Unregister(ulong start, ulong length)
    {
        _calls.Enqueue(new UffdCall("unregister", start, length, 0));
        return UnregisterResult;
    }

    /// <summary>Events the owner acknowledged through <see cref="IUffd.EventsHandled"/>, summed.</summary>
    public int EventsAcknowledged => Volatile.Read(ref _eventsAcknowledged);

    public void EventsHandled(int count) => Interlocked.Add(ref _eventsAcknowledged, count);

    public void Dispose() => IsDisposed = true;

    public override string ToString() => Name;
}
