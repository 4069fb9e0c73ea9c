using System.Diagnostics;
using System.Globalization;

namespace LazyActors.Host.Simulation;

/// <summary>Starts task processes: <c>dotnet LazyActors.Host.dll restore-sim-task ...</c>, or the C fork helper.</summary>
internal static class TaskProcessLauncher
{
    public static Process StartManaged(SimTaskArgs args)
    {
        var info = new ProcessStartInfo(HostInvocation.DotnetExecutable())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(SimulatedTask).Assembly.Location);
        info.ArgumentList.Add("restore-sim-task");
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

        // Tiered compilation quick start keeps the task's start-up short; no server GC in tiny tasks.
        info.Environment["DOTNET_gcServer"] = "0";
        info.Environment["DOTNET_TieredPGO"] = "0";
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
