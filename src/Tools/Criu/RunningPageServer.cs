using LazyActors.Tools.Bench;

namespace LazyActors.Tools.Criu;

/// <summary>
/// The source page server of a restore through a page server, as the harness runs it: started on one loopback
/// endpoint, and, for fault injection from <see cref="CriuHarnessOptions.BeforeTrigger"/>, killed (SIGKILL, no goodbye)
/// and started again on the same endpoint over the same images. The harness stops and checks the instance running at
/// the end; killed instances are expected to be dead.
/// </summary>
public sealed class RunningPageServer : IDisposable
{
    private readonly Func<string, IReadOnlyList<string>> _argvFor;
    private readonly string _workDirectory;
    private readonly TimeSpan _deadline;
    private readonly List<ReapedProcess> _started = [];
    private readonly Lock _lock = new();
    private ReapedProcess? _current;
    private string _currentLog;

    private RunningPageServer(CriuSourceSpec spec, CriuPageServerEndpoint endpoint, Func<string, IReadOnlyList<string>> argvFor, string workDirectory, TimeSpan deadline)
    {
        Spec = spec;
        Endpoint = endpoint;
        _argvFor = argvFor;
        _workDirectory = workDirectory;
        _deadline = deadline;
        _currentLog = LogFor(1);
    }

    /// <summary>What runs.</summary>
    public CriuSourceSpec Spec { get; }

    /// <summary>Where it listens (the same for every start).</summary>
    public CriuPageServerEndpoint Endpoint { get; }

    /// <summary>How many times it was started.</summary>
    public int Starts
    {
        get
        {
            lock (_lock)
            {
                return _started.Count;
            }
        }
    }

    /// <summary>The instance running now, or null after <see cref="KillAsync"/> until <see cref="StartAgainAsync"/>.</summary>
    internal ReapedProcess? Current
    {
        get
        {
            lock (_lock)
            {
                return _current;
            }
        }
    }

    /// <summary>The log of the instance started last (<c>page-server.log</c>, then <c>page-server-2.log</c>, ...).</summary>
    public string CurrentLog
    {
        get
        {
            lock (_lock)
            {
                return _currentLog;
            }
        }
    }

    /// <summary>Starts the first instance and waits (bounded) for its readiness byte; null and the problem when it did not listen.</summary>
    internal static async Task<(RunningPageServer? Server, string? Problem)> StartAsync(CriuSourceSpec spec, CriuPageServerEndpoint endpoint,
        Func<string, IReadOnlyList<string>> argvFor, string workDirectory, TimeSpan deadline, TimeSpan listenTimeout, CancellationToken cancellationToken)
    {
        var server = new RunningPageServer(spec, endpoint, argvFor, workDirectory, deadline);
        var problem = await server.LaunchAsync(listenTimeout, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            server.Dispose();
            return (null, problem);
        }

        return (server, null);
    }

    /// <summary>Kills the running instance with SIGKILL (as a crash or a lost host would) and waits (bounded) until it is reaped.</summary>
    public async Task KillAsync(TimeSpan timeout)
    {
        ReapedProcess? victim;
        lock (_lock)
        {
            victim = _current;
            _current = null;
        }

        if (victim is not null)
        {
            // The reaper kills everything below it with SIGKILL: the server gets no chance to close its sessions.
            victim.Terminate();
            await victim.Completion.WaitAsync(timeout).ConfigureAwait(false);
        }
    }

    /// <summary>Starts a new instance on the same endpoint over the same images; null once it listens, else the problem.</summary>
    public Task<string?> StartAgainAsync(TimeSpan listenTimeout, CancellationToken cancellationToken = default) => LaunchAsync(listenTimeout, cancellationToken);

    private async Task<string?> LaunchAsync(TimeSpan listenTimeout, CancellationToken cancellationToken)
    {
        ReapedProcess process;
        string log;
        lock (_lock)
        {
            if (_current is not null)
            {
                throw new InvalidOperationException($"the page server on {Endpoint.Address}:{Endpoint.Port} is still running");
            }

            int start = _started.Count + 1;
            log = LogFor(start);
            var argv = _argvFor(log);
            var output = Path.Combine(_workDirectory, start == 1 ? "page-server.out" : $"page-server-{start}.out");
            process = ReapedProcess.Start(new ReapedProcessOptions { Argv = argv, LogPath = output, Deadline = _deadline, StatusPipe = true, WorkingDirectory = _workDirectory });
            _started.Add(process);
            _current = process;
            _currentLog = log;
        }

        var (listening, problem) = await process.WaitForStatusByteAsync(listenTimeout, cancellationToken).ConfigureAwait(false);
        return listening is null
            ? $"the source `{CommandTemplate.Join(process.Argv)}` did not listen: {problem}; {CriuTool.Tail(ReadText(log), 600)}; stderr: {process.LogTail(400)}"
            : null;
    }

    private string LogFor(int start) => Path.Combine(_workDirectory, start == 1 ? "page-server.log" : $"page-server-{start}.log");

    private static string ReadText(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : "";
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>Terminates and reaps every instance still running.</summary>
    public void Dispose()
    {
        ReapedProcess[] all;
        lock (_lock)
        {
            all = [.. _started];
            _current = null;
        }

        foreach (var process in all)
        {
            process.Dispose();
        }
    }
}
