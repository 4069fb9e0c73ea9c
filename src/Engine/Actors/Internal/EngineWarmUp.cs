using System.Runtime.InteropServices;
using Akka.Actor;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Pages;
using LazyActors.Engine.Ranges;
using LazyActors.Engine.Uffd;
using Cache = LazyActors.Engine.Actors.PageCacheActor;
using Pusher = LazyActors.Engine.Actors.BackgroundPusherActor;
using Task = LazyActors.Engine.Actors.UffdActor;

namespace LazyActors.Engine.Actors.Internal;

/// <summary>
/// Runs the fault and background paths once on in-memory stand-ins (no uffd, no images) while the engine waits for
/// the restorer, so the first real faults do not pay for JIT compilation (tens of milliseconds otherwise).
/// </summary>
internal sealed class EngineWarmUp : EngineActor
{
    private const ulong Base = 0x10_0000;
    private const int Pages = 64;
    private IActorRef? _requester;
    private int _running;

    public EngineWarmUp(EngineSettings settings)
    {
        Receive<Begin>(_ =>
        {
            _requester = Sender;
            var source = new MemorySource();
            var statistics = new EngineStatistics();
            var cache = Context.ActorOf(Cache.Props(source, settings, statistics), "cache");
            var pusher = Context.ActorOf(Pusher.Props(settings), "pusher");
            var hub = new NullHub();
            foreach (var direct in new[] { false, true })
            {
                var book = new TaskRangeBook();
                book.AddLazy(Base, Base + (Pages * PageGeometry.PageSize), Base);
                var progress = new TaskProgress(0, "warm-up", Pages, isForkChild: false);
                var spec = new Task.TaskSpec(0, new NullUffd(), book, progress, RestoreFinished: false);
                var task = Context.ActorOf(Task.Props(spec, cache, pusher, hub, settings, direct ? source : null, statistics));
                Context.Watch(task);
                _running++;
                task.Tell(new Task.Events(
                [
                    new UffdMsg { Event = UffdEvent.Pagefault, PagefaultAddress = Base },
                    new UffdMsg { Event = UffdEvent.Pagefault, PagefaultAddress = Base + PageGeometry.PageSize },
                    new UffdMsg { Event = UffdEvent.Pagefault, PagefaultAddress = Base + (Pages * PageGeometry.PageSize) },
                    new UffdMsg { Event = UffdEvent.Remap, RemapFrom = Base, RemapTo = Base, RemapLength = PageGeometry.PageSize },
                ]));
                task.Tell(Task.RestoreFinished.Instance);
                pusher.Tell(new Pusher.AddTask(task));
            }

            pusher.Tell(Pusher.Start.Instance);
        });
        Receive<Task.TaskEnded>(_ => { });
        Receive<Terminated>(_ =>
        {
            if (--_running == 0)
            {
                _requester?.Tell(Done.Instance);
                Context.Stop(Self);
            }
        });
    }

    /// <summary>Starts the warm-up; the sender gets <see cref="Done"/>.</summary>
    internal sealed class Begin
    {
        public static readonly Begin Instance = new();
    }

    /// <summary>The warm-up finished.</summary>
    internal sealed class Done
    {
        public static readonly Done Instance = new();
    }

    /// <summary>Accepts every operation without touching memory.</summary>
    private sealed class NullUffd : IUffd
    {
        public SafeFdHandle? Handle => null;

        public UffdOpResult Copy(ulong destination, nint source, ulong length) => new((long)length, Errno.None);

        public UffdOpResult ZeroPage(ulong start, ulong length) => new((long)length, Errno.None);

        public Errno Unregister(ulong start, ulong length) => Errno.None;

        public void Dispose()
        {
        }
    }

    private sealed class NullHub : IUffdHub
    {
        public IUffd Open(SafeFdHandle descriptor)
        {
            descriptor.Dispose();
            return new NullUffd();
        }

        public void Watch(IUffd uffd, IActorRef owner)
        {
        }

        public void Unwatch(IUffd uffd)
        {
        }
    }

    /// <summary>Zero pages from one native buffer, through both the direct and the asynchronous path.</summary>
    private sealed unsafe class MemorySource : IPageSource
    {
        private readonly nint _buffer = (nint)NativeMemory.AllocZeroed((nuint)(Pages * 4096));
        private int _live = 1;

        public ValueTask<PageRead> ReadAsync(int pid, ulong dumpAddress, int pages, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Read(dumpAddress, pages));

        public bool TryReadNow(int pid, ulong dumpAddress, int pages, out PageRead read)
        {
            read = Read(dumpAddress, pages);
            return true;
        }

        public void Dispose()
        {
            Release();
        }

        private PageRead Read(ulong dumpAddress, int pages)
        {
            Interlocked.Increment(ref _live);
            var offset = (nint)Math.Min(dumpAddress - Base, (ulong)(Pages - pages) * 4096);
            return new PageRead([new PageSegment(dumpAddress, pages, _buffer + offset)], Release);
        }

        private void Release()
        {
            if (Interlocked.Decrement(ref _live) == 0)
            {
                NativeMemory.Free((void*)_buffer);
            }
        }
    }
}
