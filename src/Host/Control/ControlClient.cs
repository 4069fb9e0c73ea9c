using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Control;

/// <summary>
/// A client of the service's control API over its Unix socket (Grpc.Net.Client with a
/// <see cref="SocketsHttpHandler.ConnectCallback"/> that connects the socket; HTTP/2 without TLS, as the service
/// listens). Used by the <c>jobs</c> verbs, the tests and the tools.
/// </summary>
public sealed class ControlClient : IDisposable
{
    private readonly GrpcChannel _channel;

    /// <summary>A client of the service listening on <paramref name="socketPath"/>.</summary>
    public ControlClient(string socketPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        SocketPath = socketPath;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        Jobs = new Proto.Jobs.JobsClient(_channel);
    }

    /// <summary>The socket.</summary>
    public string SocketPath { get; }

    /// <summary>The generated client of the Jobs service.</summary>
    public Proto.Jobs.JobsClient Jobs { get; }

    /// <summary>The channel (for raw calls in tests).</summary>
    public CallInvoker CallInvoker => _channel.CreateCallInvoker();

    /// <summary>What a failed call means to a person: the status and message, or why the service could not be reached.</summary>
    public string Describe(RpcException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.StatusCode == StatusCode.PermissionDenied)
        {
            return $"{error.Status.Detail} (control socket {SocketPath})";
        }

        if (error.StatusCode != StatusCode.Unavailable && error.StatusCode != StatusCode.Internal)
        {
            return $"{error.Status.Detail} ({error.StatusCode})";
        }

        for (Exception? inner = error.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is SocketException socket)
            {
                return socket.SocketErrorCode switch
                {
                    SocketError.AccessDenied => $"cannot reach the service at {SocketPath}: permission denied (the control socket is for root only)",
                    SocketError.AddressNotAvailable or SocketError.ConnectionRefused => $"cannot reach the service at {SocketPath}: nothing listens there (is `serve` running? --control-socket)",
                    _ => $"cannot reach the service at {SocketPath}: {socket.Message}",
                };
            }
        }

        if (!File.Exists(SocketPath))
        {
            return $"cannot reach the service at {SocketPath}: no such socket (is `serve` running? --control-socket)";
        }

        return $"the service at {SocketPath} did not answer: {error.Status.Detail}";
    }

    /// <inheritdoc />
    public void Dispose() => _channel.Dispose();
}
