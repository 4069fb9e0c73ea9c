using Akka.Configuration;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>Shared set-up of the actor specs.</summary>
internal static class ActorSpecSupport
{
    public const ulong Page = 4096;

    public static Config Hocon { get; } = ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(EngineSettings.ReferenceConfig);

    /// <summary>Small sizes so that slicing, growth and retries show up with few pages.</summary>
    public static EngineSettings SpecSettings { get; } = EngineSettings.Create("/tmp") with
    {
        CopySliceBytes = 4 * 4096,
        ChunkInitialBytes = 4 * 4096,
        ChunkMaxBytes = 16 * 4096,
        ChunksInFlightPerTask = 2,
        MaxBackgroundInFlightBytes = 1 << 20,
        FaultReadAheadMaxBytes = 4 * 4096,
        FaultReadAheadMinBytes = 4096, // one page per random fault and every fault near: what the fault specs count
        ScatteredFaultDistanceBytes = null,
        UrgentCopyWindowBytes = 2 * 4096,
        EagainImmediateRetries = 1,
        EagainMaxBackoff = TimeSpan.FromMilliseconds(2),
        EagainRetryLimit = 5,
        BackgroundTasksAtOnce = 8,

        // Off unless a spec is about it: the probe's ZEROPAGE calls would show among the calls other specs check.
        LivenessProbeInterval = null,
    };

    public static TaskRangeBook Book(params (ulong Start, ulong End)[] ranges)
    {
        var book = new TaskRangeBook();
        foreach (var (start, end) in ranges)
        {
            book.AddLazy(start, end, start);
        }

        return book;
    }

    public static PageData Data(FakePageSource source, int pid, ulong dump, int pages) =>
        new(dump, pages, [new SharedPageRead(source.Make(pid, dump, pages))]);

    public static Engine.Uffd.UffdOpResult Ok(ulong bytes) => new((long)bytes, Errno.None);

    public static Engine.Uffd.UffdOpResult Fail(Errno errno, long bytes = 0) => new(bytes, errno);

    public static UffdMsg Fault(ulong address) => new() { Event = UffdEvent.Pagefault, PagefaultAddress = address };

    public static UffdMsg Fork(uint fd) => new() { Event = UffdEvent.Fork, ForkUfd = fd };

    public static UffdMsg Remap(ulong from, ulong to, ulong len) => new() { Event = UffdEvent.Remap, RemapFrom = from, RemapTo = to, RemapLength = len };

    public static UffdMsg Remove(ulong start, ulong end) => new() { Event = UffdEvent.Remove, RemoveStart = start, RemoveEnd = end };

    public static UffdMsg Unmap(ulong start, ulong end) => new() { Event = UffdEvent.Unmap, RemoveStart = start, RemoveEnd = end };
}
