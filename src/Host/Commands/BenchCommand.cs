using System.CommandLine;
using LazyActors.Host.Bench;

namespace LazyActors.Host.Commands;

/// <summary>bench (temporary probe-only version).</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "probes");
        command.SetAction(_ =>
        {
            var report = ProbeSuite.Run(new ProbeSettings(), Console.Error.WriteLine);
            foreach (var b in report.CopyBandwidth) Console.WriteLine($"{b.ChunkBytes} {b.GBps}");
            Console.WriteLine($"{report.RoundTripP50Us} {report.RoundTripP99Us} {report.RoundTripMaxUs} {report.Error}");
            return 0;
        });
        return command;
    }
}
