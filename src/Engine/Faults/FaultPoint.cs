namespace LazyActors.Engine.Faults;

/// <summary>
/// Where a test can make the engine fail (see <see cref="FaultPlan"/>): the page source (through
/// <see cref="FaultyPageSource"/>), the uffd ioctls (through <see cref="FaultyUffd"/>), the page server connection, and an
/// exception inside each actor at the entry of the message it handles most.
/// </summary>
public enum FaultPoint
{
    /// <summary><c>source.delay=MS</c>: a page-source read completes MS milliseconds late.</summary>
    SourceDelay,

    /// <summary><c>source.error</c>: a page-source read fails with an <see cref="IOException"/>.</summary>
    SourceError,

    /// <summary><c>source.short</c>: a page-source read returns one page less than asked (coverage too short).</summary>
    SourceShortRead,

    /// <summary><c>source.corrupt</c>: a page-source read returns its data labelled one page off (wrong dump address).</summary>
    SourceWrongAddress,

    /// <summary><c>remote.drop</c>: the connections to the page server are dropped as a request is sent.</summary>
    ConnectionDrop,

    /// <summary><c>uffd.copy=ERRNO</c>: UFFDIO_COPY answers ERRNO (EAGAIN, EEXIST, ENOENT, ESRCH, ENOMEM, EFAULT).</summary>
    CopyErrno,

    /// <summary><c>uffd.half1=ERRNO</c>: the lower half of a slice split for the second copier answers ERRNO (as <c>uffd.copy</c>).</summary>
    FirstHalfErrno,

    /// <summary><c>uffd.half2=ERRNO</c>: the upper half (the second copier's) answers ERRNO (as <c>uffd.copy</c>).</summary>
    SecondHalfErrno,

    /// <summary><c>uffd.half2-delay=MS</c>: the second copier waits MS milliseconds inside the gate before its half's ioctl.</summary>
    SecondHalfDelay,

    /// <summary><c>actor.uffd</c>: a task actor throws as it takes a batch of uffd messages.</summary>
    UffdActorThrows,

    /// <summary><c>actor.page-cache</c>: the page cache throws as it takes a fetch request.</summary>
    PageCacheThrows,

    /// <summary><c>actor.pusher</c>: the background pusher throws as it takes a finished chunk.</summary>
    PusherThrows,

    /// <summary><c>actor.remote-fetch</c>: the remote fetcher throws as it takes a read.</summary>
    RemoteFetchThrows,

    /// <summary><c>actor.supervisor</c>: the restore supervisor throws as it takes a task's end (its TaskEnded, or the
    /// failure of its actor).</summary>
    SupervisorThrows,
}
