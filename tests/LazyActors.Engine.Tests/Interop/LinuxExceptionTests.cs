using LazyActors.Engine.Interop;
using Xunit;

namespace LazyActors.Engine.Tests.Interop;

public sealed class LinuxExceptionTests
{
    [Fact]
    public void Message_NamesOperationErrnoAndStrerror()
    {
        var ex = new LinuxException(Errno.EEXIST, "ioctl(UFFDIO_COPY)");
        Assert.Equal(Errno.EEXIST, ex.Errno);
        Assert.Equal("ioctl(UFFDIO_COPY)", ex.Operation);
        Assert.Equal("ioctl(UFFDIO_COPY) failed: EEXIST (17): File exists", ex.Message);
    }

    [Fact]
    public void ThrowLast_UsesErrnoOfFailedCall()
    {
        var ex = Assert.Throws<LinuxException>(() =>
        {
            if (Libc.Close(-1) < 0)
            {
                LinuxException.ThrowLast("close(-1)");
            }
        });
        Assert.Equal(Errno.EBADF, ex.Errno);
        Assert.StartsWith("close(-1) failed: EBADF (9): Bad file descriptor", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SafeFdHandle_MinusOneIsInvalidZeroIsValid()
    {
        using var invalid = new SafeFdHandle(-1, ownsHandle: true);
        using var zero = new SafeFdHandle(0, ownsHandle: false);
        Assert.True(invalid.IsInvalid);
        Assert.False(zero.IsInvalid);
        Assert.Equal(0, zero.Fd);
    }
}
