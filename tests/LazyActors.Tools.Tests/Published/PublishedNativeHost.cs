using LazyActors.Tools.Bench;
using Xunit;

namespace LazyActors.Tools.Tests.Published;

/// <summary>
/// The daemon as users deploy it, published once per test run (<c>dotnet publish src/Host -c Release -o DIR</c>: the
/// NativeAOT program with the IL build beside it) for the tests that run the published daemon. NativeAOT's compiler takes
/// minutes of CPU, so every test shares this one publish; <c>LAZYACTORS_HOST_DIR</c> names a directory published before
/// instead. Skipped with the reason where clang (NativeAOT's linker driver) is absent; a publish that fails or makes no
/// native program fails the tests.
/// </summary>
internal static class PublishedNativeHost
{
    /// <summary>Names a directory already published (the project's publish), used instead of publishing.</summary>
    public const string DirectoryVariable = "LAZYACTORS_HOST_DIR";

    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(25);
    private static readonly Lazy<(string? Directory, string? Problem)> Published = new(Publish, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The published directory; skips the calling test (with the reason) where it cannot be published here.</summary>
    public static string Require()
    {
        var (directory, problem) = Published.Value;
        Skip.If(directory is null, problem);
        return directory!;
    }

    private static (string? Directory, string? Problem) Publish()
    {
        var given = Environment.GetEnvironmentVariable(DirectoryVariable);
        if (!string.IsNullOrEmpty(given))
        {
            return PublishedHost.IsNative(given)
                ? (Path.GetFullPath(given), null)
                : throw new InvalidOperationException($"{DirectoryVariable}={given} holds no native LazyActors.Host");
        }

        if (!OnPath("clang"))
        {
            return (null, "clang is not installed: NativeAOT links the daemon with it (apt-get install -y clang lld; .ci/run does)");
        }

        var project = PublishedHost.FindProject();
        if (project is null)
        {
            return (null, $"no {PublishedHost.ProjectPath} above {AppContext.BaseDirectory} to publish");
        }

        var directory = Path.Combine(Path.GetTempPath(), $"lazyactors-published-{Environment.ProcessId}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        _ = PublishedHost.Publish(project, directory, null, PublishTimeout);
        return PublishedHost.IsNative(directory)
            ? (directory, null)
            : throw new InvalidOperationException($"dotnet publish {project} made no native LazyActors.Host in {directory}");
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, program)));
}
