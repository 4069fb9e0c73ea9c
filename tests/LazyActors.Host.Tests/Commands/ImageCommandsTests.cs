using System.Text.Json;
using LazyActors.Engine.Images;
using LazyActors.Host.Commands;
using LazyActors.Testing;
using Xunit;

namespace LazyActors.Host.Tests.Commands;

/// <summary>The inspect / split / merge verbs through the real command line (synth, from the tools, writes their input).</summary>
public sealed class ImageCommandsTests
{
    [Fact]
    public void Inspect_json_lists_tasks_threads_and_lazy_ranges_of_threads_fixture()
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/threads"));
        using var json = JsonDocument.Parse(InspectCommand.ToJson(checkpoint));
        var task = Assert.Single(json.RootElement.GetProperty("tasks").EnumerateArray());
        var expected = checkpoint.Tasks[0];
        Assert.Equal(expected.Pid, task.GetProperty("pid").GetInt32());
        Assert.Equal(0, task.GetProperty("ppid").GetInt32());
        Assert.Equal(expected.Threads, task.GetProperty("threads").EnumerateArray().Select(t => t.GetInt32()));
        Assert.Equal("alive", task.GetProperty("state").GetString());
        Assert.Equal(107, task.GetProperty("lazy_pages").GetInt32());
        Assert.Equal(115, task.GetProperty("present_pages").GetInt32());
        Assert.Equal(
            expected.LazyRanges.Select(r => ($"0x{r.Start:x}", $"0x{r.End:x}")),
            task.GetProperty("lazy_ranges").EnumerateArray().Select(r => (r.GetProperty("start").GetString()!, r.GetProperty("end").GetString()!)));
        var totals = json.RootElement.GetProperty("totals");
        Assert.Equal(107, totals.GetProperty("lazy_pages").GetInt32());
        Assert.Equal(107 * 4096, totals.GetProperty("lazy_bytes").GetInt32());
        Assert.Equal(8, totals.GetProperty("eager_pages").GetInt32());
    }

    [Fact]
    public void Inspect_text_names_every_pid()
    {
        using var checkpoint = Checkpoint.Open(FixtureCatalog.PathOf("copied/lazy-source"));
        string text = InspectCommand.ToText(checkpoint);
        Assert.Contains("pid 1 ppid 0", text);
        Assert.Contains("pid 2 ppid 1", text);
        Assert.Contains("lazy ranges", text);
    }

    [Fact]
    public async Task Synth_split_merge_and_inspect_verbs_round_trip()
    {
        using var temp = new ScratchDirectory();
        Assert.Equal(0, await Tools.Program.Main(["synth", "-o", temp.Sub("src"), "--tasks", "3", "--mib", "1", "--seed", "4660"]));
        Assert.Equal(0, Program.Main(["split", "-D", temp.Sub("src"), "--eager-out", temp.Sub("e"), "--lazy-out", temp.Sub("l")]));
        Assert.Equal(0, Program.Main(["merge", "--eager", temp.Sub("e"), "--lazy", temp.Sub("l"), "-o", temp.Sub("m")]));
        DirectoryAssert.Identical(temp.Sub("src"), temp.Sub("m"));
        using var checkpoint = Checkpoint.Open(temp.Sub("src"));
        Assert.Equal([1000, 1001, 1002], checkpoint.Tasks.Select(t => t.Pid).Order());
        Assert.All(checkpoint.Tasks, t => Assert.Equal(256UL, t.LazyPages + (ulong)t.NeverDumpedLazyCapable.Sum(r => (long)r.Pages)));
    }

    [Fact]
    public void Inspect_of_a_corrupt_directory_fails_with_exit_code_1()
    {
        using var temp = new ScratchDirectory();
        File.WriteAllBytes(temp.Sub("inventory.img"), [1, 2, 3]);
        Assert.Equal(1, Program.Main(["inspect", "-D", temp.Path]));
    }
}
