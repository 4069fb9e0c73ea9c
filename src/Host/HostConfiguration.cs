using Akka.Configuration;

namespace LazyActors.Host;

/// <summary>The deploy-time HOCON overrides of the engine: <c>config/lazy-actors.hocon</c> next to the program, or a given file.</summary>
public static class HostConfiguration
{
    /// <summary>
    /// Reads <paramref name="path"/>, or <c>config/lazy-actors.hocon</c> next to the program when null (empty when that
    /// file is absent). A given file that does not exist is an error.
    /// </summary>
    /// <exception cref="FileNotFoundException"><paramref name="path"/> was given and does not exist.</exception>
    public static Config Load(string? path)
    {
        var file = path ?? Path.Combine(AppContext.BaseDirectory, "config", "lazy-actors.hocon");
        if (!File.Exists(file))
        {
            if (path is not null)
            {
                throw new FileNotFoundException($"config file {path} does not exist", path);
            }

            return Config.Empty;
        }

        return ConfigurationFactory.ParseString(File.ReadAllText(file));
    }
}
