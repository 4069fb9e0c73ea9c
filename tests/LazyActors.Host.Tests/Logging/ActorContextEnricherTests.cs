using LazyActors.Host.Logging;
using Serilog.Core;
using Serilog.Events;
using Xunit;

namespace LazyActors.Host.Tests.Logging;

/// <summary>The per-job and per-task properties every log line of the service carries, derived from the actor path
/// Akka.Logger.Serilog records (<c>LogSource</c>) or from a <c>JobId</c> the host's own classes log.</summary>
public sealed class ActorContextEnricherTests
{
    [Fact]
    public void A_task_actor_of_a_job_gets_the_job_and_the_task()
    {
        var e = Enriched(("LogSource", "akka://lazy-actors/user/jobs/j0123456789a/task-1001"));
        Assert.Equal("j0123456789a", Value(e, "JobId"));
        Assert.Equal(" job=j0123456789a", Value(e, "JobTag"));
        Assert.Equal("1001", Value(e, "Task"));
        Assert.Equal("task-1001", Value(e, "Source"));
    }

    [Fact]
    public void The_one_shot_supervisor_gets_no_job()
    {
        var e = Enriched(("LogSource", "akka://lazy-actors/user/restore"));
        Assert.False(e.Properties.ContainsKey("JobId"));
        Assert.Equal("", Value(e, "JobTag"));
        Assert.Equal("restore", Value(e, "Source"));
    }

    [Fact]
    public void A_host_class_logging_a_job_id_gets_the_job_tag_and_its_short_name()
    {
        var e = Enriched(("SourceContext", "LazyActors.Host.Service.Jobs.JobManager"), ("JobId", "jfedcba98765"));
        Assert.Equal(" job=jfedcba98765", Value(e, "JobTag"));
        Assert.Equal("JobManager", Value(e, "Source"));
    }

    private static LogEvent Enriched(params (string Name, string Value)[] properties)
    {
        var e = new LogEvent(DateTimeOffset.UtcNow, LogEventLevel.Information, null, MessageTemplate.Empty,
            properties.Select(p => new LogEventProperty(p.Name, new ScalarValue(p.Value))));
        new ActorContextEnricher().Enrich(e, new ScalarFactory());
        return e;
    }

    private static string? Value(LogEvent e, string name) => (e.Properties[name] as ScalarValue)?.Value?.ToString();

    private sealed class ScalarFactory : ILogEventPropertyFactory
    {
        public LogEventProperty CreateProperty(string name, object? value, bool destructureObjects = false) => new(name, new ScalarValue(value));
    }
}
