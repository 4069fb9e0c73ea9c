using System.Diagnostics;
using System.Globalization;

namespace LazyActors.Tools.Simulation;

/// <summary>Starts task processes: <c>dotnet LazyActors.Tools.dll restore-sim-task ...</c>, or the C fork helper.</summary>
internal static class TaskProcessLauncher
{
    public static Process StartManaged(SimTaskArgs args)
    {
        var info = HostVerb("restore-sim-task", redirectInput: false);
        info.ArgumentList.Add("-D");
        info.ArgumentList.Add(args.ImagesDir);
        info.ArgumentList.Add("--pid");
        info.ArgumentList.Add(args.Pid.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--ctl");
        info.ArgumentList.Add(args.ControlPath);
        info.ArgumentList.Add("--touch");
        info.ArgumentList.Add(args.Touch.ToString().ToLowerInvariant());
        info.ArgumentList.Add("--threads");
        info.ArgumentList.Add(args.Threads.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--scenario");
        info.ArgumentList.Add(args.Scenario.ToString().ToLowerInvariant());
        info.ArgumentList.Add("--timeout-ms");
        info.ArgumentList.Add(((long)args.Timeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--seed");
        info.ArgumentList.Add(args.Seed.ToString(CultureInfo.InvariantCulture));
        if (!args.Verify)
        {
            info.ArgumentList.Add("--no-verify");
        }

        SetTaskEnvironment(info);
        return Start(info);
    }

    public static Process StartForkHelper(string helperPath, string planPath)
    {
        var info = new ProcessStartInfo(helperPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(planPath);
        return Start(info);
    }

    /// <summary>Starts one process of the scheduler-floor probe (see <see cref="FloorTask"/>), stdin/stdout redirected.</summary>
    public static Process StartFloor(long pages, TouchOrder order, int seed, TimeSpan timeout)
    {
        var info = HostVerb("touch-floor-task", redirectInput: true);
        info.ArgumentList.Add("--pages");
        info.ArgumentList.Add(pages.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--touch");
        info.ArgumentList.Add(order.ToString().ToLowerInvariant());
        info.ArgumentList.Add("--seed");
        info.ArgumentList.Add(seed.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--timeout-ms");
        info.ArgumentList.Add(((long)timeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        SetTaskEnvironment(info);
        return Start(info);
    }

    /// <summary><c>dotnet LazyActors.Tools.dll VERB</c> with stdout/stderr (and optionally stdin) redirected.</summary>
    private static ProcessStartInfo HostVerb(string verb, bool redirectInput)
    {
        var prefix = ToolsInvocation.Prefix();
        var info = new ProcessStartInfo(prefix[0])
        {
            RedirectStandardInput = redirectInput,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(prefix[1]);
        info.ArgumentList.Add(verb);
        return info;
    }

    private static void SetTaskEnvironment(ProcessStartInfo info)
    {
        // A restored task is native code that is already running: the simulated one must not change its own mappings
        // while it is measured. With W^X every JIT and re-JIT flips page protections (mprotect takes the task's mmap
        // lock for writing, and the daemon's UFFDIO_COPY and the task's own faults queue behind it, for as long as the
        // runtime thread holding it waits for a CPU); without tiering nothing is re-compiled in the background.
        info.Environment["DOTNET_gcServer"] = "0";
        info.Environment["DOTNET_TieredPGO"] = "0";
        info.Environment["DOTNET_TieredCompilation"] = "0";
        info.Environment["DOTNET_EnableWriteXorExecute"] = "0";
    }

    private static Process Start(ProcessStartInfo info)
    {
        var process = new Process { StartInfo = info };
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {info.FileName}");
        }

        return process;
    }
}
