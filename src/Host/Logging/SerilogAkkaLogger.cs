using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;
using Serilog;
using Serilog.Events;
using LogEvent = Akka.Event.LogEvent;

namespace LazyActors.Host.Logging;

/// <summary>
/// Akka logger actor that writes Akka log events to Serilog's static <see cref="Log.Logger"/> (the host configures its
/// sinks: <c>-o FILE</c> or stderr, level from <c>-v</c>). Register with <c>akka.loggers</c>.
/// </summary>
public sealed class SerilogAkkaLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    /// <summary>Creates the logger actor.</summary>
    public SerilogAkkaLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(Write);
    }

    /// <summary>The HOCON that routes Akka logging here at <paramref name="level"/>.</summary>
    public static string Hocon(LogEventLevel level) =>
        $"akka.loggers = [\"{typeof(SerilogAkkaLogger).AssemblyQualifiedName}\"]\nakka.loglevel = {AkkaLevel(level)}\nakka.stdout-loglevel = OFF";

    private static void Write(LogEvent e)
    {
        var level = e switch
        {
            Error => LogEventLevel.Error,
            Warning => LogEventLevel.Warning,
            Info => LogEventLevel.Information,
            _ => LogEventLevel.Debug,
        };
        var cause = (e as Error)?.Cause;
        Log.Logger.ForContext("SourceContext", ShortSource(e.LogSource)).Write(level, cause, "{Message}", e.Message?.ToString());
    }

    private static string ShortSource(string source)
    {
        var slash = source.LastIndexOf('/');
        return slash >= 0 ? source[(slash + 1)..] : source;
    }

    private static string AkkaLevel(LogEventLevel level) => level switch
    {
        <= LogEventLevel.Debug => "DEBUG",
        LogEventLevel.Information => "INFO",
        LogEventLevel.Warning => "WARNING",
        _ => "ERROR",
    };
}
