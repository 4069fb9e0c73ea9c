using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using LazyActors.Host;
using LazyActors.Host.Control;

namespace LazyActors.Testing;

/// <summary>
/// <c>dotnet LazyActors.Host.dll serve</c> in its own process, as users run it, with its control socket and (optionally)
/// its loopback HTTP endpoint in a scratch directory; its output is kept for assertions. Started ready (the control
/// socket answers), stopped with SIGTERM and reaped; killed if it does not stop in time.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();

    private ServiceProcess(Process process, string controlSocket, int? httpPort)
    {
        _process = process;
        ControlSocket = controlSocket;
        HttpPort = httpPort;
    }

    /// <summary>The control socket.</summary>
    public string ControlSocket { get; }

    /// <summary>The loopback port of the status page, /metrics and /healthz, if any.</summary>
    public int? HttpPort { get; }

    /// <summary>The service's pid.</summary>
    public int Pid => _process.Id;

    /// <summary>True once it exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Its exit code (after it exited).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Everything it wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The base address of the HTTP endpoint.</summary>
    public Uri Http => new($"http://127.0.0.1:{HttpPort ?? throw new InvalidOperationException("started without --http")}/");

    /// <summary>Starts <c>serve --control-socket DIR/ctl/control.sock [--http 127.0.0.1:PORT] ARGS</c> and waits until its
    /// control socket answers.</summary>
    public static Task<ServiceProcess> StartAsync(string directory, bool http = true, IReadOnlyDictionary<string, string>? environment = null, params string[] args) =>
        StartAsync(directory, [], http, environment, args);

    /// <summary>As <see cref="StartAsync(string, bool, IReadOnlyDictionary{string, string}?, string[])"/>, the command run
    /// through <paramref name="launcher"/> (a program and its arguments that exec the command given after them, such as
    /// <see cref="FakeSystemd.PassStore"/>'s).</summary>
    public static async Task<ServiceProcess> StartAsync(string directory, IReadOnlyList<string> launcher, bool http, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        ArgumentNullException.ThrowIfNull(launcher);
        var socket = Path.Combine(directory, "ctl", "control.sock");
        int? port = http ? FreeLoopbackPort() : null;
        var command = launcher.Concat([HostInvocation.DotnetExecutable(), HostInvocation.AssemblyPath, "serve", "--control-socket", socket])
            .Concat(port is { } p ? ["--http", $"127.0.0.1:{p}"] : []).Concat(args).ToList();
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in command.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start serve");
        var service = new ServiceProcess(process, socket, port);
        process.OutputDataReceived += (_, e) => service.Append(e.Data);
        process.ErrorDataReceived += (_, e) => service.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (!await service.AnswersAsync())
        {
            if (process.HasExited)
            {
                await process.WaitForExitAsync();
                throw new InvalidOperationException($"serve exited with {process.ExitCode} before it listened:\n{service.Output}");
            }

            if (deadline.Elapsed > ReadyTimeout)
            {
                await service.DisposeAsync();
                throw new TimeoutException($"serve did not listen on {socket} within {ReadyTimeout.TotalSeconds:0} s:\n{service.Output}");
            }

            await Task.Delay(100);
        }

        return service;
    }

    /// <summary>A client of its control API.</summary>
    public ControlClient Client() => new(ControlSocket);

    /// <summary>Sends SIGTERM and waits (bounded) for it to exit; returns its exit code.</summary>
    /// <exception cref="TimeoutException">It did not exit in time (then it was killed and reaped).</exception>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            await SignalAsync("TERM");
        }

        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            throw new TimeoutException($"serve did not stop within {timeout.TotalSeconds:0} s of SIGTERM:\n{Output}");
        }

        return _process.ExitCode;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await StopAsync(TimeSpan.FromSeconds(30));
            }
        }
        catch (TimeoutException)
        {
            // killed and reaped by StopAsync
        }
        finally
        {
            _process.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _output.AppendLine(line);
        }
    }

    private async Task<bool> AnswersAsync()
    {
        if (!File.Exists(ControlSocket))
        {
            return false;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(ControlSocket));
            return Output.Contains("serving: control API", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A loopback port nobody listens on now.</summary>
    public static int FreeLoopbackPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Sends signal <paramref name="name"/> (TERM, INT, ...) with kill(1).</summary>
    public async Task SignalAsync(string name)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + name, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("cannot run kill");
        await kill.WaitForExitAsync();
    }
}
