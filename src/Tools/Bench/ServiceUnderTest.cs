using System.Diagnostics;
using System.Net.Sockets;
using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Bench;

/// <summary>
/// A hosted daemon measured by the tools: <c>serve --control-socket DIR/control.sock</c> of a given host build, its
/// output appended to <c>DIR/serve.log</c>; started until its control socket accepts, stopped with SIGTERM (killed by
/// pid when it does not exit in time) and reaped.
/// </summary>
internal sealed class ServiceUnderTest : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Lock _gate = new();

    private ServiceUnderTest(Process process, string controlSocket, string logPath, IReadOnlyList<string> hostPrefix)
    {
        _process = process;
        ControlSocket = controlSocket;
        LogPath = logPath;
        HostPrefix = hostPrefix;
        _log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
    }

    /// <summary>Its control socket.</summary>
    public string ControlSocket { get; }

    /// <summary>Its stdout and stderr.</summary>
    public string LogPath { get; }

    /// <summary>How the host is run (<c>dotnet LazyActors.Host.dll</c> or a published one).</summary>
    public IReadOnlyList<string> HostPrefix { get; }

    /// <summary>The service's pid.</summary>
    public int Pid => _process.Id;

    /// <summary>The one-shot daemon that the bench runs as <c>CMD -D IMAGES -W WORKDIR --status-fd N</c>: a job of this
    /// service, whose client exits 0 once the service reported the job's restore complete.</summary>
    public IReadOnlyList<string> JobsDaemon => [.. HostPrefix, "jobs", "start", "--control-socket", ControlSocket, "--wait"];

    /// <summary>Starts <c>HOSTPREFIX serve</c> with its control socket in <paramref name="directory"/> and waits (bounded)
    /// until the socket accepts.</summary>
    /// <exception cref="InvalidOperationException">It exited or did not listen in time (the message has its log).</exception>
    public static async Task<ServiceUnderTest> StartAsync(IReadOnlyList<string> hostPrefix, string directory, TimeSpan readyTimeout)
    {
        ArgumentNullException.ThrowIfNull(hostPrefix);
        Directory.CreateDirectory(directory);
        var socket = Path.Combine(directory, "control.sock");
        var info = new ProcessStartInfo(hostPrefix[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var word in hostPrefix.Skip(1).Concat(["serve", "--control-socket", socket]))
        {
            info.ArgumentList.Add(word);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {string.Join(' ', info.ArgumentList)}");
        var service = new ServiceUnderTest(process, socket, Path.Combine(directory, "serve.log"), hostPrefix);
        process.OutputDataReceived += (_, e) => service.Append(e.Data);
        process.ErrorDataReceived += (_, e) => service.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (!await AcceptsAsync(socket).ConfigureAwait(false))
        {
            if (process.HasExited || clock.Elapsed > readyTimeout)
            {
                await service.DisposeAsync().ConfigureAwait(false);
                throw new InvalidOperationException($"serve {(process.HasExited ? "exited" : $"did not listen within {readyTimeout.TotalSeconds:0} s")}; its log {service.LogPath}:\n{ReadLog(service.LogPath)}");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        return service;
    }

    /// <summary>The service's user + system CPU time so far, seconds (NaN once it exited).</summary>
    public double CpuSeconds()
    {
        try
        {
            // /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks, after the parenthesised command name.
            var stat = File.ReadAllText($"/proc/{Pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
        {
            return double.NaN;
        }
    }

    /// <summary>RssAnon of the service now, MiB (NaN once it exited).</summary>
    public double RssAnonMiB()
    {
        try
        {
            return RssSampler.ParseRssAnonKiB(File.ReadAllText($"/proc/{Pid}/status")) is { } kib ? kib / 1024.0 : double.NaN;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    /// <summary>SIGTERM, then waits up to <paramref name="timeout"/> for the exit (killed by pid after that); its exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (!_process.HasExited)
        {
            _ = Libc.Kill(_process.Id, 15);
        }

        using var limit = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        return _process.ExitCode;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await StopAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }

        _process.Dispose();
        lock (_gate)
        {
            _log.Dispose();
        }
    }

    private static async Task<bool> AcceptsAsync(string socket)
    {
        if (!File.Exists(socket))
        {
            return false;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(socket)).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string ReadLog(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var text = reader.ReadToEnd();
            return text.Length > 2000 ? text[^2000..] : text;
        }
        catch (IOException ex)
        {
            return ex.Message;
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
            _log.WriteLine(line);
        }
    }
}
