using System.Buffers.Binary;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;
using Xunit;
using static LazyActors.Engine.Tests.Uffd.NativeTestSupport;

namespace LazyActors.Engine.Tests.Restorer;

public sealed class UnixSocketTests : IDisposable
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(5);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("lazyactors-sock-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void SendFd_ReceiveFd_PassesTheSameOpenFile()
    {
        var pair = UnixSocket.SocketPair();
        using var left = pair[0];
        using var right = pair[1];
        using var eventFd = EventFd();

        UnixSocket.SendFd(left, eventFd);
        using var received = UnixSocket.ReceiveFd(right, WaitLimit);

        Assert.NotEqual(eventFd.Fd, received.Fd);
        WriteAll(received, BitConverter.GetBytes(5UL));
        var counter = new byte[8];
        Assert.Equal(8, ReadSome(eventFd, counter));
        Assert.Equal(5UL, BitConverter.ToUInt64(counter));
    }

    [Fact]
    public void SendFd_Pipe_DataFlowsThroughReceivedEnd()
    {
        var pair = UnixSocket.SocketPair();
        using var left = pair[0];
        using var right = pair[1];
        var (read, write) = Pipe();
        using var r = read;
        using var w = write;

        UnixSocket.SendFd(left, write);
        using var receivedWrite = UnixSocket.ReceiveFd(right, WaitLimit);
        WriteAll(receivedWrite, "hello"u8);

        var buffer = new byte[16];
        Assert.True(UnixSocket.WaitReadable(read, WaitLimit));
        Assert.Equal("hello"u8.ToArray(), buffer.AsSpan(0, ReadSome(read, buffer)).ToArray());
    }

    [Fact]
    public void ReceiveFd_PlainByteWithoutFd_ThrowsClearException()
    {
        var pair = UnixSocket.SocketPair();
        using var left = pair[0];
        using var right = pair[1];

        UnixSocket.SendExactly(left, [0]);
        var ex = Assert.Throws<InvalidDataException>(() => UnixSocket.ReceiveFd(right, WaitLimit));

        Assert.StartsWith("recv_fd: no file descriptor", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReceiveFd_NothingSent_TimesOut_AndPeerClosed_IsEndOfStream()
    {
        var pair = UnixSocket.SocketPair();
        using var right = pair[1];

        Assert.Throws<TimeoutException>(() => UnixSocket.ReceiveFd(right, TimeSpan.FromMilliseconds(100)));
        pair[0].Dispose();
        Assert.Throws<EndOfStreamException>(() => UnixSocket.ReceiveFd(right, WaitLimit));
    }

    [Fact]
    public async Task ReceiveExactly_LoopsOverShortWrites_AndReportsEof()
    {
        var pair = UnixSocket.SocketPair();
        using var left = pair[0];
        using var right = pair[1];
        var sender = Task.Run(async () =>
        {
            UnixSocket.SendExactly(left, [1, 2]);
            await Task.Delay(50);
            UnixSocket.SendExactly(left, [3, 4, 5]);
            left.Dispose();
        });

        var buffer = new byte[4];
        UnixSocket.ReceiveExactly(right, buffer, WaitLimit);
        await sender.WaitAsync(WaitLimit);
        var rest = new byte[4];
        var eof = Assert.Throws<EndOfStreamException>(() => UnixSocket.ReceiveExactly(right, rest, WaitLimit));

        Assert.Equal(new byte[] { 1, 2, 3, 4 }, buffer);
        Assert.Contains("after 1 of 4 expected bytes", eof.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReceiveExactly_NothingArrives_TimesOut()
    {
        var pair = UnixSocket.SocketPair();
        using var left = pair[0];
        using var right = pair[1];

        var ex = Assert.Throws<TimeoutException>(() => UnixSocket.ReceiveExactly(right, new byte[4], TimeSpan.FromMilliseconds(100)));
        Assert.Contains("0 of 4 bytes", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Accept_NoClient_ThrowsTimeoutNamingThePath()
    {
        var path = Path.Combine(_dir.FullName, LazyPagesHandshake.SocketName);
        using var listener = UnixSocket.Listen(path);

        var ex = Assert.Throws<TimeoutException>(() => UnixSocket.Accept(listener, TimeSpan.FromMilliseconds(100)));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Handshake_PidFdAndFinished_RoundTripsOverListenConnectAccept()
    {
        var path = Path.Combine(_dir.FullName, LazyPagesHandshake.SocketName);
        File.WriteAllText(path, "stale"); // Listen must remove a stale file first
        using var listener = UnixSocket.Listen(path);
        using var client = UnixSocket.Connect(path);
        using var server = UnixSocket.Accept(listener, WaitLimit);
        using var eventFd = EventFd();

        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, 4242);
        UnixSocket.SendExactly(client, word);
        UnixSocket.SendFd(client, eventFd);
        BinaryPrimitives.WriteUInt32LittleEndian(word, LazyPagesHandshake.RestoreFinished);
        UnixSocket.SendExactly(client, word);

        var pid = new byte[4];
        UnixSocket.ReceiveExactly(server, pid, WaitLimit);
        using var fd = UnixSocket.ReceiveFd(server, WaitLimit);
        var fin = new byte[4];
        UnixSocket.ReceiveExactly(server, fin, WaitLimit);

        Assert.Equal(4242, BinaryPrimitives.ReadInt32LittleEndian(pid));
        Assert.False(fd.IsInvalid);
        Assert.Equal("FTSR"u8.ToArray(), fin);
    }

    [Fact]
    public void ListenAndConnect_RelativePath_ResolveAgainstWorkingDirectory()
    {
        var previous = Environment.CurrentDirectory;
        Environment.CurrentDirectory = _dir.FullName;
        try
        {
            using var listener = UnixSocket.Listen(LazyPagesHandshake.SocketName);
            using var client = UnixSocket.Connect(LazyPagesHandshake.SocketName);
            using var server = UnixSocket.Accept(listener, WaitLimit);

            Assert.True(File.Exists(Path.Combine(_dir.FullName, LazyPagesHandshake.SocketName)));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    [Fact]
    public void Connect_NobodyListening_ThrowsLinuxException()
    {
        var ex = Assert.Throws<LinuxException>(() => UnixSocket.Connect(Path.Combine(_dir.FullName, "absent.socket")));

        Assert.Equal(Errno.ENOENT, ex.Errno);
        Assert.Contains("connect(", ex.Message, StringComparison.Ordinal);
    }
}
