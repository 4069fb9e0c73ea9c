using System.Text.Json;
using Xunit;

namespace LazyActors.Testing;

/// <summary>
/// Finds the CRIU 4.2 fixture directories: the copies under this test project (always present) and, when the repo is
/// cloned next to a <c>shared</c> folder, every scenario in <c>../shared/fixtures/criu-4.2</c>.
/// </summary>
public static class FixtureCatalog
{
    public const string CopiedPrefix = "copied/";
    public const string SharedPrefix = "shared/";

    /// <summary>Theory data: one label per fixture directory ("copied/threads", "shared/tree-3", ...).</summary>
    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        foreach (string label in Labels())
        {
            data.Add(label);
        }

        return data;
    }

    public static IEnumerable<string> Labels()
    {
        foreach (string dir in Scenarios(CopiedRoot()))
        {
            yield return CopiedPrefix + Path.GetFileName(dir);
        }

        if (SharedRoot() is { } shared)
        {
            foreach (string dir in Scenarios(shared))
            {
                yield return SharedPrefix + Path.GetFileName(dir);
            }
        }
    }

    public static string PathOf(string label) =>
        label.StartsWith(CopiedPrefix, StringComparison.Ordinal)
            ? Path.Combine(CopiedRoot(), label[CopiedPrefix.Length..])
            : Path.Combine(SharedRoot() ?? throw new InvalidOperationException("shared fixtures are not present"), label[SharedPrefix.Length..]);

    public static JsonElement Manifest(string label) =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(PathOf(label), "MANIFEST.json"))).RootElement;

    public static string CopiedRoot() => Path.Combine(AppContext.BaseDirectory, "Fixtures", "criu-4.2");

    public static string? SharedRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "LazyActors.sln")))
            {
                string shared = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "fixtures", "criu-4.2"));
                return Directory.Exists(shared) ? shared : null;
            }
        }

        return null;
    }

    private static IEnumerable<string> Scenarios(string root) =>
        Directory.Exists(root)
            ? Directory.EnumerateDirectories(root).Where(d => File.Exists(Path.Combine(d, "MANIFEST.json"))).OrderBy(d => d, StringComparer.Ordinal)
            : [];
}
