using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace LazyActors.Testing;

/// <summary>
/// A verb of one of our programs running in the background in its own process (a daemon or a server), output captured;
/// signalled and killed by pid, always reaped: dispose kills it if it still runs.
/// </summary>
public sealed class BackgroundVerb : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;

    private BackgroundVerb(Process process, string description)
    {
        _process = process;
        Description = description;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public string Description { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="prefix"/> (dotnet and the program's assembly) followed by <paramref name="args"/>.</summary>
    public static BackgroundVerb Start(IReadOnlyList<string> prefix, params string[] args)
    {
        var info = new ProcessStartInfo(prefix[0]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var arg in prefix.Skip(1).Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        return new BackgroundVerb(process, string.Join(' ', args.Take(1)));
    }

    /// <summary>A port nobody listens on now (bind to 0 and close).</summary>
    public static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>Waits (bounded) until <paramref name="file"/> holds <paramref name="text"/>; false when the process exited first or time ran out.</summary>
    public bool WaitForLog(string file, string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (File.Exists(file) && ReadShared(file).Contains(text, StringComparison.Ordinal))
            {
                return true;
            }

            if (_process.HasExited)
            {
                return false;
            }

            Thread.Sleep(10);
        }

        return false;
    }

    /// <summary>Sends <paramref name="signal"/> (a Linux signal number) to the process.</summary>
    public void Signal(int signal) => _ = Engine.Interop.Libc.Kill(_process.Id, signal);

    /// <summary>Waits (bounded) for the exit; kills and reaps on timeout and then throws.</summary>
    public (int ExitCode, string Stdout, string Stderr) WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            Dispose();
            throw new TimeoutException($"{Description} did not exit within {timeout.TotalSeconds:0.#} s; killed");
        }

        _process.WaitForExit();
        // The process has exited, so its pipes are at EOF; the callers are synchronous tests (no synchronization context).
#pragma warning disable VSTHRD002
        return (_process.ExitCode, _stdout.Result, _stderr.Result);
#pragma warning restore VSTHRD002
    }

    /// <summary>Reads a file another process is writing.</summary>
    public static string ReadShared(string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // already reaped
        }

        _process.Dispose();
    }
}
