using Serilog;
using Serilog.Events;

namespace LazyActors.Host.Logging;

/// <summary>Serilog set-up shared by the daemon verbs: CRIU's <c>-v N</c> levels and <c>-o FILE</c>.</summary>
internal static class HostLogging
{
    /// <summary>CRIU verbosity 0-4 (default 2) as a Serilog level: 0 fatal only, 1 errors, 2 warnings, 3 info, 4 debug.</summary>
    public static LogEventLevel FromVerbosity(int verbosity) => verbosity switch
    {
        <= 0 => LogEventLevel.Fatal,
        1 => LogEventLevel.Error,
        2 => LogEventLevel.Warning,
        3 => LogEventLevel.Information,
        _ => LogEventLevel.Debug,
    };

    /// <summary>Configures <see cref="Log.Logger"/>: to <paramref name="file"/> when given, else stderr.</summary>
    public static void Configure(LogEventLevel level, string? file)
    {
        const string template = "({Timestamp:HH:mm:ss.ffffff}) {Level:u3} {SourceContext}: {Message:lj}{NewLine}{Exception}";
        var configuration = new LoggerConfiguration().MinimumLevel.Is(level);
        configuration = file is null
            ? configuration.WriteTo.Console(outputTemplate: template, standardErrorFromLevel: LogEventLevel.Verbose)
            : configuration.WriteTo.File(file, outputTemplate: template, flushToDiskInterval: TimeSpan.FromSeconds(1));
        Log.Logger = configuration.CreateLogger();
    }
}
