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
/// Runs the fault and background paths once on in-memory stand-ins (no images) while the engine waits for the restorer,
/// so the first real faults do not pay for JIT compilation (milliseconds per method otherwise). With the real uffd hub
/// and userfaultfd permission, one more task runs the native path end to end: a userfaultfd on a scratch mapping of
/// this process, watched by the engine's own epoll reader, faulted by a thread that copies from it natively.
/// </summary>
internal sealed class EngineWarmUp : EngineActor
{
    private const ulong Base = 0x10_0000;
    private const int Pages = 64;
    private static readonly TimeSpan ToucherJoinTimeout = TimeSpan.FromSeconds(2);
    private IActorRef? _requester;
    private int _running;
    private IActorRef? _nativeTask;
    private NativeFaults? _native;
    private bool _nativeServed;

    public EngineWarmUp(EngineSettings settings, IUffdHub? realHub = null)
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

            if (realHub is EpollUffdHub && NativeFaults.TryCreate(realHub) is { } native)
            {
                _native = native;
                var book = new TaskRangeBook();
                book.AddLazy(native.Region.Start, native.Region.Start + (Pages * PageGeometry.PageSize), Base);
                var progress = new TaskProgress(0, "warm-up-native", Pages, isForkChild: false);
                var spec = new Task.TaskSpec(0, native.Uffd, book, progress, RestoreFinished: true);
                _nativeTask = Context.ActorOf(Task.Props(spec, cache, pusher, realHub, settings, source, statistics));
                Context.Watch(_nativeTask);
                _running++;
                native.StartTouching();
            }

            pusher.Tell(Pusher.Start.Instance);
        });
        Receive<Task.TaskEnded>(ended =>
        {
            if (Sender.Equals(_nativeTask) && ended.Phase == TaskPhase.Complete)
            {
                _nativeServed = true;
            }
        });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_nativeTask))
            {
                // The task actor closed the uffd when it stopped: a toucher still blocked (a failure) is released.
                _native?.Finish(ToucherJoinTimeout);
                _native = null;
            }

            if (--_running == 0)
            {
                _requester?.Tell(new Done(_nativeServed));
                Context.Stop(Self);
            }
        });
    }

    /// <summary>Starts the warm-up; the sender gets <see cref="Done"/>.</summary>
    internal sealed class Begin
    {
        public static readonly Begin Instance = new();
    }

    /// <summary>The warm-up finished; <paramref name="NativePathServed"/> when the real uffd path ran end to end.</summary>
    internal sealed record Done(bool NativePathServed);

    protected override void PostStop()
    {
        _native?.Finish(ToucherJoinTimeout);
        base.PostStop();
    }

    /// <summary>A real userfaultfd on a scratch mapping of this process and the thread that faults on it.</summary>
    private sealed class NativeFaults
    {
        private readonly nint _scratch;
        private Thread? _toucher;

        private NativeFaults(MappedRegion region, IUffd uffd)
        {
            Region = region;
            Uffd = uffd;
            _scratch = Marshal.AllocHGlobal(Pages * 4096);
        }

        public MappedRegion Region { get; }

        public IUffd Uffd { get; }

        /// <summary>Null when userfaultfd is refused (the warm-up then covers the managed path only).</summary>
        public static NativeFaults? TryCreate(IUffdHub hub)
        {
            MappedRegion? region = null;
            UserFaultFd? uffd = null;
            try
            {
                region = MappedRegion.Map(Pages * PageGeometry.PageSize);
                uffd = UserFaultFd.Create();
                uffd.Api(UffdFeatures.NonCooperative);
                uffd.Register(region.Start, region.Length, RegisterMode.Missing);
                return new NativeFaults(region, hub.Open(uffd.Handle));
            }
            catch (Exception ex) when (ex is LinuxException or IOException or UnauthorizedAccessException)
            {
                uffd?.Dispose();
                region?.Dispose();
                return null;
            }
        }

        /// <summary>Reads the whole mapping with a native memcpy, one page at a time, from a background thread.</summary>
        public void StartTouching()
        {
            _toucher = new Thread(() =>
            {
                for (var p = 0; p < Pages; p++)
                {
                    Libc.MemCpy(_scratch + (p * 4096), Region.Address + (p * 4096), 4096);
                }
            })
            {
                IsBackground = true,
                Name = "warm-up-toucher",
            };
            _toucher.Start();
        }

        /// <summary>Joins the toucher (the uffd is closed by then, so it cannot stay blocked) and frees the memory.</summary>
        public void Finish(TimeSpan timeout)
        {
            Uffd.Dispose();
            if (_toucher is null || _toucher.Join(timeout))
            {
                Region.Dispose();
                Marshal.FreeHGlobal(_scratch);
            }
        }
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
        private readonly nint _buffer = (nint)NativeMemory.AllocZeroed(Pages * 4096);
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
