using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace LazyActors.Engine.Protocol.Server;

/// <summary>
/// A lazy page server over one checkpoint, the source of lazy restores like <c>criu page-server --lazy-pages</c>, but
/// not one-shot: it accepts any number of connections, each served by its own <see cref="PageServerSession"/>, until
/// stopped. <see cref="StopAsync"/> drains: no new sessions, running ones get a bounded time to finish, then are
/// aborted. Plain library, no actors.
/// </summary>
public sealed class LazyPageServer : IAsyncDisposable
{
    private static readonly TimeSpan AbortTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _listener;
    private readonly LazyPageStore _store;
    private readonly LazyPageServerOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly CancellationTokenSource _abortSessions = new();
    private readonly ConcurrentDictionary<long, Task> _sessions = new();
    private readonly Lock _stopGate = new();
    private readonly Task _acceptLoop;
    private Task? _stopping;
    private long _accepted;
    private long _succeeded;
    private long _failed;

    private LazyPageServer(Socket listener, LazyPageStore store, LazyPageServerOptions options, ILogger logger)
    {
        _listener = listener;
        _store = store;
        _options = options;
        _logger = logger;
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptAsync);
    }

    /// <summary>Raised (on a pool thread) when a session ends, with how it ended.</summary>
    public event Action<PageServerSessionResult>? SessionEnded;

    /// <summary>The address and port listened on (the real port when 0 was asked).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Sessions running now.</summary>
    public int ActiveSessions => _sessions.Count;

    /// <summary>Connections accepted so far.</summary>
    public long SessionsAccepted => Interlocked.Read(ref _accepted);

    /// <summary>Sessions that ended as CRIU counts success (close, force close, or EOF between requests).</summary>
    public long SessionsSucceeded => Interlocked.Read(ref _succeeded);

    /// <summary>Sessions that ended otherwise (refused, failed, aborted).</summary>
    public long SessionsFailed => Interlocked.Read(ref _failed);

    /// <summary>
    /// The endpoint CRIU's <c>--address</c>/<c>--port</c> name (criu/util.c <c>get_sockaddr_in</c>): an IPv4 or IPv6
    /// literal, or every IPv4 address when no address is given. Host names are refused, as CRIU refuses them.
    /// </summary>
    /// <exception cref="ArgumentException">The address is not an IP literal.</exception>
    public static IPEndPoint ListenEndPoint(string? address, int port)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)port, (uint)IPEndPoint.MaxPort, nameof(port));
        if (address is null)
        {
            return new IPEndPoint(IPAddress.Any, port);
        }

        return IPAddress.TryParse(address, out var ip)
            ? new IPEndPoint(ip, port)
            : throw new ArgumentException($"invalid server address \"{address}\": it must be an IPv4 or IPv6 address", nameof(address));
    }

    /// <summary>
    /// Binds <paramref name="endpoint"/> (port 0 picks a free one), listens and starts accepting. The store must
    /// outlive the server.
    /// </summary>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public static LazyPageServer Start(LazyPageStore store, IPEndPoint endpoint, LazyPageServerOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(endpoint);
        options ??= LazyPageServerOptions.Default;
        logger ??= Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endpoint);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        var server = new LazyPageServer(listener, store, options, logger);
        logger.LogInformation("Lazy page server on {Endpoint} serving {Directory}: {Tasks} task(s), {Pages} lazy page(s){Tls}",
            server.LocalEndPoint, store.Checkpoint.Directory, store.Index.Pids.Count(), store.ServedPages, options.Tls is null ? string.Empty : ", TLS with client certificates");
        return server;
    }

    /// <summary>
    /// Stops accepting, lets running sessions finish for up to <paramref name="drainTimeout"/>, then aborts the rest
    /// (their sockets are closed) and waits for them. Idempotent.
    /// </summary>
    public Task StopAsync(TimeSpan drainTimeout)
    {
        lock (_stopGate)
        {
            return _stopping ??= StopCoreAsync(drainTimeout);
        }
    }

    /// <summary>Stops without draining.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        _stopAccepting.Dispose();
        _abortSessions.Dispose();
    }

    private async Task StopCoreAsync(TimeSpan drainTimeout)
    {
        await _stopAccepting.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        var running = Task.WhenAll(_sessions.Values);
        if (!running.IsCompleted)
        {
            _logger.LogInformation("Stopping: {Sessions} session(s) running; waiting up to {Seconds} s", _sessions.Count, drainTimeout.TotalSeconds);
            await Task.WhenAny(running, Task.Delay(drainTimeout)).ConfigureAwait(false);
        }

        if (!running.IsCompleted)
        {
            _logger.LogWarning("Aborting {Sessions} session(s) still running after the drain time", _sessions.Count);
            await _abortSessions.CancelAsync().ConfigureAwait(false);
            await Task.WhenAny(running, Task.Delay(AbortTimeout)).ConfigureAwait(false);
        }

        _logger.LogInformation("Lazy page server on {Endpoint} stopped: {Accepted} session(s), {Succeeded} succeeded, {Failed} failed",
            LocalEndPoint, SessionsAccepted, SessionsSucceeded, SessionsFailed);
    }

    private async Task AcceptAsync()
    {
        while (!_stopAccepting.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopAccepting.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || _stopAccepting.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                // EMFILE and the like: keep the listener, try again shortly
                _logger.LogError("Accept on {Endpoint} failed: {Error}", LocalEndPoint, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
                continue;
            }

            long id = Interlocked.Increment(ref _accepted);
            var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _sessions[id] = RunSessionAsync(id, socket, registered.Task);
            registered.SetResult();
        }
    }

    private async Task RunSessionAsync(long id, Socket socket, Task registered)
    {
        await registered.ConfigureAwait(false);
        try
        {
            _logger.LogInformation("Accepted connection from {Peer}", socket.RemoteEndPoint);
            var result = await PageServerSession.ServeAsync(socket, _store, _options, _logger, _abortSessions.Token).ConfigureAwait(false);
            Interlocked.Increment(ref result.Succeeded ? ref _succeeded : ref _failed);
            try
            {
                SessionEnded?.Invoke(result);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "A SessionEnded handler failed");
            }
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _failed);
            _logger.LogError(e, "Session {Id} failed unexpectedly", id);
            socket.Dispose();
        }
        finally
        {
            _sessions.TryRemove(id, out _);
        }
    }
}
