using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Logger.Serilog;
using LazyActors.Engine.Actors;
using LazyActors.Engine.Hosting;
using LazyActors.Engine.Metrics;
using LazyActors.Engine.Pages;
using LazyActors.Host.Logging;
using LazyActors.Host.Service.Grpc;
using LazyActors.Host.Service.Jobs;
using LazyActors.Host.Service.Telemetry;
using LazyActors.Host.Service.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using Serilog;
using Serilog.Events;

namespace LazyActors.Host.Service;

/// <summary>
/// <c>serve</c>: the hosted daemon. One generic host (ASP.NET Core for the control API and the loopback endpoint) runs
/// one actor system for its whole life (Akka.Hosting) with the engine's jobs actor, the <see cref="JobManager"/>, the
/// gRPC control API on a root-only Unix socket, OpenTelemetry metrics with a Prometheus endpoint, health checks and the
/// status page; systemd readiness and stop; Serilog in two stages (a bootstrap logger until the configuration is read).
/// </summary>
public static class ServiceProgram
{
    /// <summary>Runs the service until SIGTERM/SIGINT (then drains); returns the exit code.</summary>
    public static async Task<int> RunAsync(ServeArguments arguments, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        Log.Logger = new LoggerConfiguration().Enrich.With<ActorContextEnricher>()
            .WriteTo.Console(outputTemplate: HostLogging.Template, standardErrorFromLevel: LogEventLevel.Verbose)
            .CreateBootstrapLogger();
        try
        {
            var app = Build(arguments);
            await app.RunAsync(cancellationToken).ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is ConfigurationException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            // Configuration and start-up errors name their key or path; no stack trace for those.
            Log.Fatal("serve: {Error}", ex.Message);
            await Console.Error.WriteLineAsync($"serve: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (Exception ex)
        {
            Log.Fatal(ex, "serve terminated unexpectedly");
            return 1;
        }
        finally
        {
            await Log.CloseAndFlushAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Builds the service (configuration read and checked: a bad key or value throws here, naming it).</summary>
    internal static WebApplication Build(ServeArguments arguments)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Clear();
        ServiceConfiguration.AddSources(builder.Configuration, arguments);
        var options = ServiceConfiguration.BindOptions(builder.Configuration);
        var engineHocon = ServiceConfiguration.EngineHocon(builder.Configuration, arguments.HoconFile);

        builder.Logging.ClearProviders();
        builder.Services.AddSerilog((services, logger) => logger
            .ReadFrom.Configuration(builder.Configuration)
            .ReadFrom.Services(services)
            .Enrich.FromLogContext()
            .Enrich.With<ActorContextEnricher>());
        builder.Services.AddSystemd();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainTimeout + TimeSpan.FromSeconds(30));

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(new EngineHocon(engineHocon));
        var cache = options.PageCache.Enabled ? new SharedPageCache(options.PageCache.CapacityBytes) : null;
        builder.Services.AddSingleton(new SharedCheckpoints(cache, options.PageCache.LocalImages));
        builder.Services.AddSingleton(sp => new ServiceMeters(sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), cache));
        builder.Services.AddAkka("lazy-actors", (akka, services) => akka
            .AddHocon(engineHocon, HoconAddMode.Prepend)
            // The host stops the actor system, after the jobs drained; the CLR's exit hook must not do it first.
            .AddHocon("akka.coordinated-shutdown.run-by-clr-shutdown-hook = off", HoconAddMode.Prepend)
            .ConfigureLoggers(loggers =>
            {
                loggers.ClearLoggers();
                loggers.AddSerilogLogging();
            })
            .WithRestoreJobs(engineHocon));
        builder.Services.AddSingleton<Func<RestoreJobHost>>(sp =>
        {
            // One host for the service's life, made on first use (the actor system is up by then). Thread-safe: jobs
            // started at once from concurrent control calls made two hosts, and so two JIT warm-ups whose actor names
            // collided ("warm-up" is not unique: a job failed with every page copied).
            var host = new Lazy<RestoreJobHost>(() => new RestoreJobHost(sp.GetRequiredService<ActorSystem>(),
                sp.GetRequiredService<IRequiredActor<RestoreJobsActor>>().ActorRef, sp.GetRequiredService<SharedCheckpoints>()),
                LazyThreadSafetyMode.ExecutionAndPublication);
            return () => host.Value;
        });
        builder.Services.AddSingleton<JobManager>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<JobManager>());

        builder.Services.AddGrpc();
        builder.Services.AddHealthChecks().AddCheck<JobsHealthCheck>("jobs");
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(EngineMeters.MeterName, ServiceMeters.MeterName)
            .AddPrometheusExporter());

        ControlSocket.Prepare(options.ControlSocket);
        var uid = PeerCredentials.EffectiveUid();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenUnixSocket(options.ControlSocket, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.Use(PeerCredentials.Admit(uid, listen.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("ControlSocket")));
            });
            if (options.Http is not null)
            {
                kestrel.Listen(ServiceConfiguration.ParseLoopback(options.Http), listen => listen.Protocols = HttpProtocols.Http1);
            }
        });

        var app = builder.Build();
        app.Use(PeerCredentials.RefuseMarkedAsync);
        app.MapGrpcService<JobsGrpcService>();
        app.MapHealthChecks("/healthz");
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapStatusPage();
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            ControlSocket.Restrict(options.ControlSocket);
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            app.Logger.LogInformation("serving: control API on {ControlSocket}, {Http}", options.ControlSocket,
                addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.Ordinal) && !a.Contains("unix:", StringComparison.Ordinal)) is { } http
                    ? $"status page, /metrics and /healthz on {http}/"
                    : "no HTTP endpoint (--http ADDRESS:PORT)");
        });
        app.Lifetime.ApplicationStopped.Register(() => TryDelete(options.ControlSocket));
        return app;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }
}
