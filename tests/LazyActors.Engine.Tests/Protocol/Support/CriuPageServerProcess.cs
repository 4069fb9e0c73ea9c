using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace LazyActors.Engine.Tests.Protocol.Support;

/// <summary>
/// <c>criu page-server -D DIR --address 127.0.0.1 --port P --lazy-pages -v4 -o LOG [extra]</c> on a free port (CRIU
/// refuses port 0), started and waited for until it listens (its log says so right before accept). Dispose kills it
/// by pid if it is still running and reaps it.
/// </summary>
internal sealed class CriuPageServerProcess : IDisposable
{
    private readonly Process _process;

    private CriuPageServerProcess(Process process, string logPath, int port)
    {
        _process = process;
        LogPath = logPath;
        Port = port;
    }

    public int Port { get; }

    public string LogPath { get; }

    public string Log => File.Exists(LogPath) ? File.ReadAllText(LogPath) : string.Empty;

    public static async Task<CriuPageServerProcess> StartAsync(string imagesDir, string logPath, params string[] extra)
    {
        int port = FreePort();
        var info = new ProcessStartInfo(RealCriu.Binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { "page-server", "-D", imagesDir, "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--lazy-pages", "-v4", "-o", logPath }.Concat(extra))
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start criu");
        _ = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            string log = File.Exists(logPath) ? await File.ReadAllTextAsync(logPath) : string.Empty;
            if (log.Contains("Running status-ready scripts", StringComparison.Ordinal))
            {
                return new CriuPageServerProcess(process, logPath, port);
            }

            if (process.HasExited)
            {
                break;
            }

            await Task.Delay(20);
        }

        RealCriu.Kill(process);
        throw new InvalidOperationException($"criu page-server did not start listening (exit {process.ExitCode}): {await stderr}; log:\n{(File.Exists(logPath) ? Tail(await File.ReadAllTextAsync(logPath)) : "(none)")}");
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>Waits (bounded) for criu to exit and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var bound = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            RealCriu.Kill(_process);
            throw new TimeoutException($"criu page-server did not exit within {timeout.TotalSeconds} s; log tail:\n{Tail(Log)}");
        }

        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    public void Dispose()
    {
        RealCriu.Kill(_process);
        _process.Dispose();
    }

    public static string Tail(string log) => string.Join('\n', log.Split('\n').TakeLast(15));

}
