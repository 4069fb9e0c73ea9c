using Serilog.Core;
using Serilog.Events;

namespace LazyActors.Host.Logging;

/// <summary>
/// Gives every log event the properties a reader of many concurrent restores needs: <c>Source</c> (the actor's name, or
/// the logging class), and, from the actor path Akka.Logger.Serilog records as <c>LogSource</c>, <c>JobId</c> (the
/// job under <c>/user/jobs</c>, with <c>JobTag</c> " job=ID" for output templates) and <c>Task</c> (a task actor's
/// label). The engine itself knows nothing of Serilog.
/// </summary>
public sealed class ActorContextEnricher : ILogEventEnricher
{
    /// <inheritdoc />
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        ArgumentNullException.ThrowIfNull(propertyFactory);
        var path = Scalar(logEvent, "LogSource");
        string source;
        if (path is not null && path.Contains("://", StringComparison.Ordinal))
        {
            var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            source = segments[^1];
            var jobs = Array.IndexOf(segments, "jobs");
            if (jobs >= 0 && jobs + 1 < segments.Length && segments[jobs - 1] == "user")
            {
                AddJob(logEvent, propertyFactory, segments[jobs + 1]);
            }

            if (segments.LastOrDefault(s => s.StartsWith("task-", StringComparison.Ordinal)) is { } task)
            {
                logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("Task", task["task-".Length..]));
            }
        }
        else
        {
            var context = Scalar(logEvent, "SourceContext") ?? "lazy-actors";
            source = context[(context.LastIndexOf('.') + 1)..];
            if (Scalar(logEvent, "JobId") is { } job)
            {
                AddJob(logEvent, propertyFactory, job);
            }
        }

        logEvent.AddOrUpdateProperty(propertyFactory.CreateProperty("Source", source));
        logEvent.AddPropertyIfAbsent(propertyFactory.CreateProperty("JobTag", ""));
    }

    private static void AddJob(LogEvent logEvent, ILogEventPropertyFactory factory, string job)
    {
        logEvent.AddPropertyIfAbsent(factory.CreateProperty("JobId", job));
        logEvent.AddPropertyIfAbsent(factory.CreateProperty("JobTag", $" job={job}"));
    }

    private static string? Scalar(LogEvent logEvent, string name) =>
        logEvent.Properties.TryGetValue(name, out var value) && value is ScalarValue { Value: { } v } ? v.ToString() : null;
}
