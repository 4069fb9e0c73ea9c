using System.Diagnostics;
using System.Text;
using LazyActors.Engine.Interop;

namespace LazyActors.Tools.Simulation;

/// <summary>The simulator's view of one task process: the OS process, its captured output and its control connection.</summary>
internal sealed class SimTaskProcess : IDisposable
{
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Func<Process> _start;

    public SimTaskProcess(int pid, bool isForkHelper, Func<Process> start)
    {
        Pid = pid;
        IsForkHelper = isForkHelper;
        _start = start;
        Process = Launch();
    }

    public int Pid { get; }

    public bool IsForkHelper { get; }

    public Process Process { get; private set; }

    public int Attempts { get; private set; } = 1;

    public SafeFdHandle? Control { get; set; }

    public SafeFdHandle? Uffd { get; set; }

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString().Trim();
            }
        }
    }

    public void Restart()
    {
        Reap();
        Process.Dispose();
        lock (_stderr)
        {
            _stderr.Clear();
        }

        Attempts++;
        Process = Launch();
    }

    /// <summary>Kills the process if it still runs and waits for it, so nothing is left behind.</summary>
    public void Reap()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }

        Process.WaitForExit(5000);
    }

    public void Dispose()
    {
        Reap();
        Control?.Dispose();
        Uffd?.Dispose();
        Process.Dispose();
    }

    private Process Launch()
    {
        var process = _start();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stdout)
                {
                    _stdout.AppendLine(e.Data);
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stderr)
                {
                    _stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }
}
