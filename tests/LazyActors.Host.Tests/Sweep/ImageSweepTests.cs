using System.Diagnostics;
using LazyActors.Engine;
using LazyActors.Engine.Configuration;
using LazyActors.Engine.Images;
using LazyActors.Host.Commands;
using LazyActors.Testing;
using Xunit;
using Xunit.Abstractions;

namespace LazyActors.Host.Tests.Sweep;

/// <summary>
/// Bad input sweep over images (issue 12): every fixture's image files truncated at several offsets and with bytes
/// replaced, through what <c>inspect</c>, <c>lazy-pages</c> (up to the bound socket), <c>split</c> and <c>merge</c>
/// run. Each case must end in bounded time either in success (the damage left a valid image) or in a user error
/// (<see cref="CommandErrors.IsUserError"/>, what the verbs print as one line) whose one-line message names a file of
/// the case; never another exception (a bug: a trace) and never a hang. A few cases also run as real processes.
/// </summary>
public sealed class ImageSweepTests(ITestOutputHelper output)
{
    private static readonly TimeSpan PerCase = TimeSpan.FromSeconds(20);

    public static TheoryData<string> Fixtures => FixtureCatalog.All();

    [Theory]
    [MemberData(nameof(Fixtures))]
    public async Task Damaged_images_end_in_success_or_one_clear_error_in_bounded_time(string label)
    {
        using var temp = new ScratchDirectory();
        var pristine = FixtureCatalog.PathOf(label);
        var random = new Random(SweepScale.Seed ^ label.GetHashCode(StringComparison.Ordinal) ^ label.Length);
        var source = temp.Sub("src");
        ImageDirectoryCopy(pristine, source);
        CheckpointSplitter.Split(pristine, temp.Sub("eager"), temp.Sub("lazy"));
        var perFile = SweepScale.Count(4, 24);
        var clock = Stopwatch.StartNew();
        var failures = new List<string>();
        int cases = 0, errors = 0;

        foreach (var mutation in ImageMutation.Plan(source, perFile, random))
        {
            Restore(pristine, source, mutation.File);
            mutation.ApplyTo(source);
            var outputs = temp.Sub("out");
            errors += await CheckAsync("inspect", mutation, temp.Path, failures, () =>
            {
                using var checkpoint = Checkpoint.Open(source);
                _ = InspectCommand.ToText(checkpoint);
            });
            errors += await CheckAsync("lazy-pages", mutation, temp.Path, failures, () =>
            {
                using var engine = LazyPagesEngine.Listen(EngineSettings.Create(source, temp.Path));
            });
            errors += await CheckAsync("split", mutation, temp.Path, failures, () => CheckpointSplitter.Split(source, Path.Combine(outputs, "e"), Path.Combine(outputs, "l")));
            DeleteIfPresent(outputs);
            cases += 3;
        }

        Restore(pristine, source, null);
        var eager = temp.Sub("eager");
        var lazy = temp.Sub("lazy");
        var eagerPristine = temp.Sub("eager-pristine");
        var lazyPristine = temp.Sub("lazy-pristine");
        ImageDirectoryCopy(eager, eagerPristine);
        ImageDirectoryCopy(lazy, lazyPristine);
        var flip = false;
        foreach (var mutation in ImageMutation.Plan(eagerPristine, Math.Max(2, perFile / 2), random))
        {
            flip = !flip;
            var (set, original) = flip && File.Exists(Path.Combine(lazy, mutation.File)) ? (lazy, lazyPristine) : (eager, eagerPristine);
            mutation.ApplyTo(set);
            var merged = temp.Sub("merged");
            errors += await CheckAsync($"merge ({Path.GetFileName(set)})", mutation, temp.Path, failures, () => CheckpointMerger.Merge(eager, lazy, merged));
            Restore(original, set, mutation.File);
            DeleteIfPresent(merged);
            cases++;
        }

        output.WriteLine($"{label}: {cases} cases ({errors} clear errors, the rest still valid) in {clock.Elapsed.TotalSeconds:0.0} s, seed {SweepScale.Seed}");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    /// <summary>
    /// The same damage through the real programs: exit 0 or 1, at most one line on stderr when it fails, never an
    /// unhandled exception's trace, within the bound (lazy-pages is told to wait 2 s for a restorer when the images
    /// are still valid).
    /// </summary>
    [Fact]
    public async Task Damaged_images_through_the_real_verbs_exit_with_one_line_and_no_trace()
    {
        using var temp = new ScratchDirectory();
        var pristine = FixtureCatalog.PathOf(FixtureCatalog.Labels().First());
        var source = temp.Sub("src");
        ImageDirectoryCopy(pristine, source);
        var config = Path.Combine(temp.Path, "sweep.hocon");
        await File.WriteAllTextAsync(config, "lazy-actors.engine.accept-timeout = 2s\n");
        var random = new Random(SweepScale.Seed);
        var files = Directory.GetFiles(source).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        var picks = Enumerable.Range(0, SweepScale.Count(4, 40)).Select(_ => files[random.Next(files.Length)]!).ToList();
        picks.Insert(0, "pstree.img");
        var failures = new List<string>();
        foreach (var file in picks)
        {
            Restore(pristine, source, null);
            var length = new FileInfo(Path.Combine(source, file)).Length;
            var mutation = random.Next(2) == 0 || length < 2
                ? new ImageMutation(file, random.NextInt64(Math.Max(1, length)), null)
                : new ImageMutation(file, random.NextInt64(Math.Min(length, 512)), (byte)random.Next(256));
            mutation.ApplyTo(source);
            DeleteIfPresent(temp.Sub("out"));
            string[][] verbs =
            [
                ["inspect", "-D", source],
                ["split", "-D", source, "--eager-out", temp.Sub("out/e"), "--lazy-out", temp.Sub("out/l")],
                ["lazy-pages", "-D", source, "-W", temp.Path, "--config", config],
            ];
            foreach (var args in verbs)
            {
                var (exit, _, stderr) = await VerbProcess.RunAsync(HostInvocation.Prefix(), TimeSpan.FromSeconds(60), args);
                var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                var problem = exit is not (0 or 1) ? $"exit {exit}"
                    : stderr.Contains("Unhandled exception", StringComparison.Ordinal) || lines.Any(l => l.StartsWith("   at ", StringComparison.Ordinal)) ? "a stack trace"
                    : exit == 1 && args[0] != "lazy-pages" && lines.Length != 1 ? $"{lines.Length} lines on stderr"
                    : exit == 1 && !lines.Any(l => l.Contains(temp.Path, StringComparison.Ordinal) || l.Contains("lazy-pages.socket", StringComparison.Ordinal)) ? "an error naming no file"
                    : null;
                output.WriteLine($"{args[0]} with {mutation}: exit {exit}: {lines.LastOrDefault()}");
                if (problem is not null)
                {
                    failures.Add($"{args[0]} with {mutation}: {problem}:\n{stderr}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Runs one case; 1 when it ended in a clear error, 0 on success; a hang or another exception is recorded.</summary>
    private static async Task<int> CheckAsync(string verb, ImageMutation mutation, string root, List<string> failures, Action action)
    {
        var run = Task.Run(action);
        try
        {
            await run.WaitAsync(PerCase);
            return 0;
        }
        catch (TimeoutException) when (!run.IsCompleted)
        {
            failures.Add($"{verb} with {mutation}: no end within {PerCase.TotalSeconds:0} s");
            return 0;
        }
        catch (Exception ex)
        {
            if (!CommandErrors.IsUserError(ex))
            {
                failures.Add($"{verb} with {mutation}: {ex}");
            }
            else if (ex.Message.Contains('\n', StringComparison.Ordinal) || !ex.Message.Contains(root, StringComparison.Ordinal))
            {
                failures.Add($"{verb} with {mutation}: the error is not one line naming a file: {ex.Message}");
            }

            return 1;
        }
    }

    private static void Restore(string pristine, string directory, string? file)
    {
        foreach (var path in Directory.GetFiles(pristine))
        {
            var name = Path.GetFileName(path);
            if (file is null || name == file)
            {
                File.Copy(path, Path.Combine(directory, name), overwrite: true);
            }
        }
    }

    private static void ImageDirectoryCopy(string from, string to)
    {
        Directory.CreateDirectory(to);
        Restore(from, to, null);
    }

    private static void DeleteIfPresent(string directory)
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
