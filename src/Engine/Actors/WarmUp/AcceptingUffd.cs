using LazyActors.Engine.Interop;
using LazyActors.Engine.Uffd;

namespace LazyActors.Engine.Actors.WarmUp;

/// <summary>A stand-in uffd for the warm-up's managed path: accepts every operation without touching memory.</summary>
internal sealed class AcceptingUffd : IUffd
{
    public SafeFdHandle? Handle => null;

    public UffdOpResult Copy(ulong destination, nint source, ulong length) => new((long)length, Errno.None);

    public UffdOpResult ZeroPage(ulong start, ulong length) => new((long)length, Errno.None);

    public Errno Unregister(ulong start, ulong length) => Errno.None;

    public void Dispose()
    {
    }
}
