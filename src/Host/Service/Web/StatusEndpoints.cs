using Google.Protobuf;
using LazyActors.Host.Service.Grpc;
using LazyActors.Host.Service.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Proto = LazyActors.Host.Control.V1;

namespace LazyActors.Host.Service.Web;

/// <summary>
/// The read-only status page (<c>/</c>: plain HTML and JavaScript that polls <c>/api/jobs</c>) and its data: the jobs
/// with per-task progress and fault-latency histograms, in the control API's own messages as JSON.
/// </summary>
internal static class StatusEndpoints
{
    private static readonly Lazy<byte[]> Page = new(() =>
    {
        using var stream = typeof(StatusEndpoints).Assembly.GetManifestResourceStream("LazyActors.Host.Service.Web.status.html")
            ?? throw new InvalidOperationException("embedded resource LazyActors.Host.Service.Web.status.html is missing");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    public static IEndpointRouteBuilder MapStatusPage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", () => Results.Bytes(Page.Value, "text/html; charset=utf-8"));
        endpoints.MapGet("/api/jobs", (JobManager jobs) =>
        {
            var response = new Proto.ListJobsResponse();
            response.Jobs.AddRange(jobs.List().Select(JobMapper.ToProto));
            return Results.Text(Json.Format(response), "application/json");
        });
        return endpoints;
    }
}
