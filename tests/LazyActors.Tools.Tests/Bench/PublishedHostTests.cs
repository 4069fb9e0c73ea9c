using LazyActors.Host;
using LazyActors.Testing;
using LazyActors.Tools.Bench;
using Xunit;

namespace LazyActors.Tools.Tests.Bench;

/// <summary>How the bench runs a published host (what <c>--daemon self</c> measures).</summary>
public sealed class PublishedHostTests
{
    [Fact]
    public void A_framework_dependent_publish_runs_with_dotnet_and_a_self_contained_one_with_its_launcher()
    {
        using var dir = new ScratchDirectory();
        File.WriteAllText(Path.Combine(dir.Path, "LazyActors.Host.dll"), "stand-in");
        File.WriteAllText(Path.Combine(dir.Path, "LazyActors.Host"), "stand-in");
        var config = Path.Combine(dir.Path, "LazyActors.Host.runtimeconfig.json");
        File.WriteAllText(config, """{ "runtimeOptions": { "tfm": "net10.0", "frameworks": [ { "name": "Microsoft.NETCore.App", "version": "10.0.0" } ] } }""");

        Assert.Equal([HostInvocation.DotnetExecutable(), Path.Combine(dir.Path, "LazyActors.Host.dll")], PublishedHost.PrefixFor(dir.Path));

        File.WriteAllText(config, """{ "runtimeOptions": { "tfm": "net10.0", "includedFrameworks": [ { "name": "Microsoft.NETCore.App", "version": "10.0.12" } ] } }""");
        Assert.Equal([Path.Combine(dir.Path, "LazyActors.Host")], PublishedHost.PrefixFor(dir.Path));
    }

    [Fact]
    public void The_native_program_runs_when_the_publish_made_one_with_or_without_the_il_build_beside_it()
    {
        using var dir = new ScratchDirectory();
        var native = Path.Combine(dir.Path, "LazyActors.Host");
        File.WriteAllText(native, "stand-in");

        // A NativeAOT publish of its own: the program alone.
        Assert.True(PublishedHost.IsNative(dir.Path));
        Assert.Equal([native], PublishedHost.PrefixFor(dir.Path));

        // The IL build beside it, framework-dependent: without the marker `LazyActors.Host` would be its apphost.
        File.WriteAllText(Path.Combine(dir.Path, "LazyActors.Host.dll"), "stand-in");
        File.WriteAllText(Path.Combine(dir.Path, "LazyActors.Host.runtimeconfig.json"), """{ "runtimeOptions": { "tfm": "net10.0", "frameworks": [ { "name": "Microsoft.NETCore.App", "version": "10.0.0" } ] } }""");
        Assert.False(PublishedHost.IsNative(dir.Path));
        Assert.Equal([HostInvocation.DotnetExecutable(), Path.Combine(dir.Path, "LazyActors.Host.dll")], PublishedHost.PrefixFor(dir.Path));

        // The project's publish: both, and the marker naming the native one.
        File.WriteAllText(Path.Combine(dir.Path, PublishedHost.NativeMarkerFile), "NativeAOT program: LazyActors.Host");
        Assert.True(PublishedHost.IsNative(dir.Path));
        Assert.Equal([native], PublishedHost.PrefixFor(dir.Path));
    }

    [Fact]
    public void A_directory_without_a_published_host_is_refused_by_name()
    {
        using var dir = new ScratchDirectory();

        var error = Assert.Throws<FileNotFoundException>(() => PublishedHost.PrefixFor(dir.Path));
        Assert.Contains(dir.Path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_host_project_is_found_above_the_tools()
    {
        var project = PublishedHost.FindProject();

        Assert.NotNull(project);
        Assert.EndsWith(PublishedHost.ProjectPath, project, StringComparison.Ordinal);
    }
}
