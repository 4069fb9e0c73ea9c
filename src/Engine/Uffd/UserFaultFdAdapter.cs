using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Uffd;

/// <summary><see cref="IUffd"/> over a real <see cref="UserFaultFd"/> received from the restorer or a FORK event.</summary>
public sealed class UserFaultFdAdapter : IUffd
{
    private readonly UserFaultFd _uffd;

    /// <summary>Takes ownership of <paramref name="handle"/>.</summary>
    public UserFaultFdAdapter(SafeFdHandle handle)
    {
        _uffd = UserFaultFd.FromHandle(handle);
    }

    /// <inheritdoc />
    public SafeFdHandle? Handle => _uffd.Handle;

    /// <inheritdoc />
    public UffdOpResult Copy(ulong destination, nint source, ulong length) => _uffd.Copy(destination, source, length);

    /// <inheritdoc />
    public UffdOpResult ZeroPage(ulong start, ulong length) => _uffd.ZeroPage(start, length);

    /// <inheritdoc />
    public Errno Unregister(ulong start, ulong length)
    {
        try
        {
            _uffd.Unregister(start, length);
            return Errno.None;
        }
        catch (LinuxException ex)
        {
            return ex.Errno;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _uffd.Dispose();

    /// <inheritdoc />
    public override string ToString() => _uffd.ToString();
}
