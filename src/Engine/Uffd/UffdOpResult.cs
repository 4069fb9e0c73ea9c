using LazyActors.Engine.Interop;

namespace LazyActors.Engine.Uffd;

/// <summary>
/// Outcome of UFFDIO_COPY / UFFDIO_ZEROPAGE. <see cref="Error"/> is <see cref="Errno.None"/> on success. On failure
/// <see cref="Bytes"/> is the number of bytes done before the failure (a partial copy reports EAGAIN with
/// Bytes &gt; 0), never negative.
/// </summary>
/// <param name="Bytes">Bytes copied or zeroed.</param>
/// <param name="Error">The errno of the failed ioctl, or <see cref="Errno.None"/>.</param>
public readonly record struct UffdOpResult(long Bytes, Errno Error)
{
    /// <summary>True when the whole range was handled.</summary>
    public bool IsSuccess => Error == Errno.None;

    /// <summary>
    /// True for the errors CRIU treats as "retry later": EAGAIN (partial copy or pending non-cooperative event),
    /// ENOENT and EEXIST.
    /// </summary>
    public bool IsRecoverable => Error is Errno.EAGAIN or Errno.ENOENT or Errno.EEXIST;

    /// <summary>True when the target address space is gone (ESRCH or ENOSPC): the task exited.</summary>
    public bool IsTargetGone => Error is Errno.ESRCH or Errno.ENOSPC;
}
