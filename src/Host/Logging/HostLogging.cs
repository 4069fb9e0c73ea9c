using Serilog;
using Serilog.Events;

namespace LazyActors.Host.Logging;

/// <summary>Serilog set-up shared by the daemon verbs: CRIU's <c>-v N</c> levels and <c>-o FILE</c>, and the Akka side
/// (Akka.Logger.Serilog, with its message-template formatter so engine log properties stay structured).</summary>
internal static class HostLogging
{
    /// <summary>The line layout of the one-shot verbs (CRIU-like), shared by the service's bootstrap logger.</summary>
    public const string Template = "({Timestamp:HH:mm:ss.ffffff}) {Level:u3} {Source}{JobTag}: {Message:lj}{NewLine}{Exception}";

    /// <summary>CRIU verbosity 0-4 (default 2) as a Serilog level: 0 fatal only, 1 errors, 2 warnings, 3 info, 4 debug.</summary>
    public static LogEventLevel FromVerbosity(int verbosity) => verbosity switch
    {
        <= 0 => LogEventLevel.Fatal,
        1 => LogEventLevel.Error,
        2 => LogEventLevel.Warning,
        3 => LogEventLevel.Information,
        _ => LogEventLevel.Debug,
    };

    /// <summary>
    /// Why <paramref name="file"/> cannot take the log (its directory is missing, it cannot be opened for appending),
    /// or null when it can (or when there is no file: the log then goes to stderr). Serilog's file sink would drop
    /// every line silently instead.
    /// </summary>
    public static string? CheckWritable(string? file)
    {
        if (file is null)
        {
            return null;
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(file));
        if (directory is not null && !Directory.Exists(directory))
        {
            return $"log file {file}: its directory {directory} does not exist";
        }

        try
        {
            using var probe = new FileStream(file, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"log file {file} cannot be written: {ex.Message}";
        }
    }

    /// <summary>Configures <see cref="Log.Logger"/>: to <paramref name="file"/> when given, else stderr.</summary>
    public static void Configure(LogEventLevel level, string? file)
    {
        var configuration = new LoggerConfiguration().MinimumLevel.Is(level).Enrich.With<ActorContextEnricher>();
        configuration = file is null
            ? configuration.WriteTo.Console(outputTemplate: Template, standardErrorFromLevel: LogEventLevel.Verbose)
            : configuration.WriteTo.File(file, outputTemplate: Template, flushToDiskInterval: TimeSpan.FromSeconds(1));
        Log.Logger = configuration.CreateLogger();
    }

    /// <summary>The HOCON that routes Akka logging to Serilog's <see cref="Log.Logger"/> (Akka.Logger.Serilog) at
    /// <paramref name="level"/>, with message templates kept as templates.</summary>
    public static string AkkaHocon(LogEventLevel level) =>
        $"akka.loggers = [\"{typeof(Akka.Logger.Serilog.SerilogLogger).AssemblyQualifiedName}\"]\n" +
        $"akka.logger-formatter = \"{typeof(Akka.Logger.Serilog.SerilogLogMessageFormatter).AssemblyQualifiedName}\"\n" +
        $"akka.loglevel = {AkkaLevel(level)}\nakka.stdout-loglevel = OFF";

    private static string AkkaLevel(LogEventLevel level) => level switch
    {
        <= LogEventLevel.Debug => "DEBUG",
        LogEventLevel.Information => "INFO",
        LogEventLevel.Warning => "WARNING",
        _ => "ERROR",
    };
}
