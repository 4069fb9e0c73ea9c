namespace LazyActors.Engine.Interop;

/// <summary>open(2)/fcntl O_* flag values on x86_64 (also used by userfaultfd, eventfd, pipe2, accept4, socket).</summary>
internal static class OpenFlags
{
    public const int O_RDONLY = 0x0;
    public const int O_WRONLY = 0x1;
    public const int O_RDWR = 0x2;
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;
}
