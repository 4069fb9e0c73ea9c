using System.Buffers.Binary;
using LazyActors.Engine.Interop;
using LazyActors.Engine.Restorer;

namespace LazyActors.Engine.Tests.Actors;

/// <summary>Plays the socket side of <c>criu restore --lazy-pages</c> with stand-in descriptors (pipes) instead of uffds.</summary>
internal sealed class RestorerPlayer : IDisposable
{
    private readonly SafeFdHandle _socket;

    public RestorerPlayer(string socketPath)
    {
        _socket = UnixSocket.Connect(socketPath);
    }

    public void SendTask(int pid)
    {
        SendWord(pid);
        var (read, write) = ReadinessSignal.CreateInheritablePipe();
        using (read)
        {
            UnixSocket.SendFd(_socket, read);
        }

        ReadinessSignal.Close(write);
    }

    public void SendZombie(int pid) => SendWord(-pid);

    public void SendFinished(uint word = LazyPagesHandshake.RestoreFinished) => SendWord(unchecked((int)word));

    public void SendWord(int value)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, value);
        UnixSocket.SendExactly(_socket, word);
    }

    public void Dispose() => _socket.Dispose();
}
