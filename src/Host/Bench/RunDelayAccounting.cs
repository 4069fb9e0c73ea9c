namespace LazyActors.Host.Bench;

/// <summary>
/// Turns on the kernel's per-task delay accounting (<c>/proc/sys/kernel/task_delayacct</c>) for the length of a bench
/// run, so that the simulated tasks can read their own run delay and the bench can tell a daemon's latency from a task
/// that merely waited for a CPU. It is restored to its former value on dispose. Without permission, or on a kernel
/// without the switch, nothing changes and the split figure is reported as unavailable.
/// </summary>
public sealed class RunDelayAccounting : IDisposable
{
    private const string SwitchPath = "/proc/sys/kernel/task_delayacct";
    private readonly bool _restoreOff;

    private RunDelayAccounting(bool restoreOff, string status)
    {
        _restoreOff = restoreOff;
        Status = status;
    }

    /// <summary>What happened, for the report: "already on", "on for this run", or why not.</summary>
    public string Status { get; }

    /// <summary>Switches accounting on if it is off and this process may (root).</summary>
    public static RunDelayAccounting Enable()
    {
        try
        {
            if (!File.Exists(SwitchPath))
            {
                return new RunDelayAccounting(false, $"unavailable: {SwitchPath} does not exist");
            }

            if (File.ReadAllText(SwitchPath).Trim() != "0")
            {
                return new RunDelayAccounting(false, "already on");
            }

            File.WriteAllText(SwitchPath, "1");
            return new RunDelayAccounting(true, "on for this run (restored afterwards)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new RunDelayAccounting(false, $"unavailable: cannot switch {SwitchPath} on ({e.Message})");
        }
    }

    public void Dispose()
    {
        if (_restoreOff)
        {
            try
            {
                File.WriteAllText(SwitchPath, "0");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Leaving accounting on is harmless; nothing else to do.
            }
        }
    }
}
