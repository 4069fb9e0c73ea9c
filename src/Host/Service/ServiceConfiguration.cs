using System.Globalization;
using System.Net;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using LazyActors.Engine.Configuration;
using Microsoft.Extensions.Configuration;

namespace LazyActors.Host.Service;

/// <summary>
/// Reads and checks the service's configuration at start, so a bad key or value stops it at once with the key's name:
/// <c>config/appsettings.json</c> (or <c>--settings FILE</c>) → environment variables → flags for the service's own
/// settings; <c>config/lazy-actors.hocon</c> (or <c>--config FILE</c>) → <c>LazyActors:Engine</c> keys (appsettings,
/// environment) for the engine's HOCON.
/// </summary>
internal static class ServiceConfiguration
{
    /// <summary>The configuration section whose keys override <c>lazy-actors.engine</c> keys (e.g.
    /// <c>LazyActors__Engine__copy-slice=1MiB</c>).</summary>
    public const string EngineSection = "LazyActors:Engine";

    /// <summary>Adds the sources in their order of precedence (last wins).</summary>
    public static void AddSources(IConfigurationBuilder builder, ServeArguments arguments)
    {
        var json = arguments.SettingsFile ?? Path.Combine(AppContext.BaseDirectory, "config", "appsettings.json");
        if (arguments.SettingsFile is not null && !File.Exists(arguments.SettingsFile))
        {
            throw new FileNotFoundException($"settings file {arguments.SettingsFile} does not exist", arguments.SettingsFile);
        }

        builder.AddJsonFile(json, optional: arguments.SettingsFile is null, reloadOnChange: false);
        builder.AddEnvironmentVariables();
        var flags = new Dictionary<string, string?>();
        if (arguments.ControlSocket is not null)
        {
            flags[$"{ServiceOptions.Section}:ControlSocket"] = arguments.ControlSocket;
        }

        if (arguments.Http is not null)
        {
            flags[$"{ServiceOptions.Section}:Http"] = arguments.Http;
        }

        builder.AddInMemoryCollection(flags);
    }

    /// <summary>Binds and checks <see cref="ServiceOptions"/>.</summary>
    /// <exception cref="ConfigurationException">An unknown key or a bad value; the message names the key.</exception>
    public static ServiceOptions BindOptions(IConfiguration configuration)
    {
        ServiceOptions options;
        try
        {
            options = configuration.GetSection(ServiceOptions.Section).Get<ServiceOptions>(o => o.ErrorOnUnknownConfiguration = true) ?? new ServiceOptions();
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigurationException($"{ServiceOptions.Section}: {ex.Message}{(ex.InnerException is { } inner ? $" ({inner.Message})" : "")}");
        }

        Require(!string.IsNullOrWhiteSpace(options.ControlSocket) && Path.IsPathFullyQualified(options.ControlSocket), "ControlSocket", $"must be an absolute path, got '{options.ControlSocket}'");
        Require(options.DrainTimeout > TimeSpan.Zero, "DrainTimeout", $"must be positive, got {options.DrainTimeout}");
        Require(options.WatchInterval >= TimeSpan.FromMilliseconds(10), "WatchInterval", $"must be at least 10 ms, got {options.WatchInterval}");
        Require(options.MaxJobs >= 1, "MaxJobs", $"must be at least 1, got {options.MaxJobs}");
        Require(options.FinishedJobsKept >= 0, "FinishedJobsKept", $"must not be negative, got {options.FinishedJobsKept}");
        Require(options.PageCache.CapacityBytes >= 1 << 20, "PageCache:CapacityBytes", $"must be at least 1 MiB, got {options.PageCache.CapacityBytes}");
        if (options.Http is not null)
        {
            _ = ParseLoopback(options.Http);
        }

        return options;
    }

    /// <summary>The HTTP endpoint: a loopback address and a port (0 = any free port).</summary>
    /// <exception cref="ConfigurationException">Not <c>ADDRESS:PORT</c> with a loopback address.</exception>
    public static IPEndPoint ParseLoopback(string value)
    {
        var text = value.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase) ? "127.0.0.1" + value["localhost".Length..] : value;
        if (!IPEndPoint.TryParse(text, out var endpoint) || !text.Contains(':', StringComparison.Ordinal))
        {
            throw new ConfigurationException($"{ServiceOptions.Section}:Http must be ADDRESS:PORT on loopback (e.g. 127.0.0.1:9100), got '{value}'");
        }

        if (!IPAddress.IsLoopback(endpoint.Address))
        {
            throw new ConfigurationException($"{ServiceOptions.Section}:Http must be a loopback address (the status page and metrics are not for the network), got '{value}'");
        }

        return endpoint;
    }

    /// <summary>
    /// The engine's HOCON: the file, then every key of <see cref="EngineSection"/> over it; every key of
    /// <c>lazy-actors.engine</c> must be one the engine knows, and the values are checked (<see cref="EngineSettings.Create(Config, string, string?)"/>).
    /// </summary>
    /// <exception cref="ConfigurationException">An unknown key or a bad value; the message names the key.</exception>
    public static Config EngineHocon(IConfiguration configuration, string? hoconFile)
    {
        var hocon = HostConfiguration.Load(hoconFile);
        var overrides = configuration.GetSection(EngineSection).AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null)
            .ToDictionary(kv => kv.Key.Replace(':', '.'), kv => kv.Value!, StringComparer.Ordinal);
        var merged = EngineOverrides(overrides, $"{EngineSection}:").WithFallback(hocon);
        CheckKnownKeys(merged);
        _ = EngineSettings.Create(merged, Path.GetTempPath());
        return merged;
    }

    /// <summary>HOCON setting <c>lazy-actors.engine.KEY = "VALUE"</c> for each pair; keys must be known engine keys.</summary>
    /// <exception cref="ConfigurationException">An unknown key (named with <paramref name="keyPrefix"/>).</exception>
    public static Config EngineOverrides(IReadOnlyDictionary<string, string> overrides, string keyPrefix)
    {
        var known = KnownEngineKeys();
        var text = new System.Text.StringBuilder();
        foreach (var (key, value) in overrides)
        {
            if (!known.Contains(key))
            {
                throw new ConfigurationException($"{keyPrefix}{key} is not a lazy-actors.engine key (see src/Engine/Configuration/Reference.conf)");
            }

            var escaped = value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
            text.Append(CultureInfo.InvariantCulture, $"lazy-actors.engine.{key} = \"{escaped}\"\n");
        }

        return text.Length == 0 ? Config.Empty : ConfigurationFactory.ParseString(text.ToString());
    }

    /// <summary>Every key under <c>lazy-actors.engine</c> of <paramref name="config"/> must be in the reference.</summary>
    public static void CheckKnownKeys(Config config)
    {
        if (!config.HasPath("lazy-actors.engine"))
        {
            return;
        }

        var known = KnownEngineKeys();
        foreach (var key in Leaves(config.GetConfig("lazy-actors.engine").Root, ""))
        {
            if (!known.Contains(key))
            {
                throw new ConfigurationException($"lazy-actors.engine.{key} is not a lazy-actors.engine key (see src/Engine/Configuration/Reference.conf)");
            }
        }
    }

    private static HashSet<string> KnownEngineKeys() =>
        [.. Leaves(EngineSettings.ReferenceConfig.GetConfig("lazy-actors.engine").Root, "")];

    private static IEnumerable<string> Leaves(HoconValue value, string prefix)
    {
        if (!value.IsObject())
        {
            yield return prefix;
            yield break;
        }

        foreach (var (name, child) in value.GetObject().Items)
        {
            foreach (var leaf in Leaves(child, prefix.Length == 0 ? name : $"{prefix}.{name}"))
            {
                yield return leaf;
            }
        }
    }

    private static void Require(bool condition, string key, string problem)
    {
        if (!condition)
        {
            throw new ConfigurationException($"{ServiceOptions.Section}:{key} {problem}");
        }
    }
}
