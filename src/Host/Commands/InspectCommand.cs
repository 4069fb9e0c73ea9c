using System.CommandLine;
using System.Text;
using System.Text.Json;
using LazyActors.Engine.Images;
using LazyActors.Engine.Ranges;

namespace LazyActors.Host.Commands;

/// <summary>
/// <c>inspect -D DIR [--json]</c>: the process tree, and per task its VMAs, lazy ranges and page counts
/// (lazy = flagged PE_LAZY, present = data in this image set, eager = present but not lazy, zero = never-dumped
/// pages of lazy-capable VMAs). The JSON form is stable; addresses are hex strings, ranges end-exclusive.
/// </summary>
internal static class InspectCommand
{
    private const int PageSize = (int)PageGeometry.PageSize;

    public static Command Create()
    {
        var directory = new Option<string>("--images-dir", "-D") { Description = "CRIU image directory", Required = true };
        var json = new Option<bool>("--json") { Description = "print stable JSON instead of text" };
        var command = new Command("inspect", "Show the process tree, VMAs, lazy ranges and page counts of a CRIU checkpoint.");
        command.Options.Add(directory);
        command.Options.Add(json);
        command.SetAction(parseResult => CommandErrors.Run("inspect", () =>
        {
            using var checkpoint = Checkpoint.Open(parseResult.GetValue(directory)!);
            Console.Out.Write(parseResult.GetValue(json) ? ToJson(checkpoint) : ToText(checkpoint));
        }));
        return command;
    }

    /// <summary>The stable JSON report.</summary>
    public static string ToJson(Checkpoint checkpoint)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("directory", checkpoint.Directory);
            writer.WriteNumber("img_version", checkpoint.ImgVersion);
            writer.WriteStartArray("tasks");
            ulong lazy = 0, present = 0, eager = 0, zero = 0;
            foreach (var task in checkpoint.Tasks)
            {
                var counts = Count(task);
                lazy += task.LazyPages;
                present += task.PresentPages;
                eager += counts.Eager;
                zero += counts.Zero;
                WriteTask(writer, task, counts);
            }

            writer.WriteEndArray();
            writer.WriteStartObject("totals");
            writer.WriteNumber("tasks", checkpoint.Tasks.Count);
            WritePages(writer, "lazy", lazy);
            WritePages(writer, "present", present);
            WritePages(writer, "eager", eager);
            WritePages(writer, "zero", zero);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + Environment.NewLine;
    }

    /// <summary>The human-readable report.</summary>
    public static string ToText(Checkpoint checkpoint)
    {
        var text = new StringBuilder();
        text.AppendLine($"{checkpoint.Directory} (img_version {checkpoint.ImgVersion}, {checkpoint.Tasks.Count} task(s))");
        foreach (var task in checkpoint.Tasks)
        {
            var counts = Count(task);
            text.AppendLine($"pid {task.Pid} ppid {task.Ppid} pgid {task.Pgid} sid {task.Sid} threads [{string.Join(", ", task.Threads)}] state {task.State}");
            text.AppendLine($"  pages: lazy {task.LazyPages} ({Bytes(task.LazyPages)}), present {task.PresentPages} ({Bytes(task.PresentPages)}), eager {counts.Eager} ({Bytes(counts.Eager)}), zero {counts.Zero} ({Bytes(counts.Zero)}); pages-{task.PagesId}.img");
            text.AppendLine($"  VMAs ({task.Vmas.Count}, {task.GuardVmas.Count} guard):");
            foreach (var vma in task.Vmas.Concat(task.GuardVmas))
            {
                text.AppendLine($"    0x{vma.Start:x}-0x{vma.End:x} {vma.Length / PageSize,8} pg prot {vma.Prot} flags 0x{vma.Flags:x} status 0x{vma.Status:x}{(vma.IsLazyCapable ? " lazy-capable" : string.Empty)}{(vma.IsGuard ? " guard" : string.Empty)}");
            }

            text.AppendLine($"  lazy ranges ({task.LazyRanges.Count}):");
            foreach (var range in task.LazyRanges)
            {
                text.AppendLine($"    0x{range.Start:x}-0x{range.End:x} {range.Pages} pg");
            }
        }

        return text.ToString();
    }

    private static void WriteTask(Utf8JsonWriter writer, TaskImages task, (ulong Eager, ulong Zero) counts)
    {
        writer.WriteStartObject();
        writer.WriteNumber("pid", task.Pid);
        writer.WriteNumber("ppid", task.Ppid);
        writer.WriteNumber("pgid", task.Pgid);
        writer.WriteNumber("sid", task.Sid);
        writer.WriteStartArray("threads");
        foreach (int thread in task.Threads)
        {
            writer.WriteNumberValue(thread);
        }

        writer.WriteEndArray();
        writer.WriteString("state", task.State.ToString().ToLowerInvariant());
        writer.WriteNumber("pages_id", task.PagesId);
        writer.WriteNumber("lazy_pages", task.LazyPages);
        writer.WriteNumber("lazy_bytes", task.LazyPages * PageSize);
        writer.WriteNumber("present_pages", task.PresentPages);
        writer.WriteNumber("present_bytes", task.PresentPages * PageSize);
        writer.WriteNumber("eager_pages", counts.Eager);
        writer.WriteNumber("eager_bytes", counts.Eager * PageSize);
        writer.WriteNumber("zero_pages", counts.Zero);
        writer.WriteNumber("zero_bytes", counts.Zero * PageSize);
        writer.WriteStartArray("vmas");
        foreach (var vma in task.Vmas.Concat(task.GuardVmas))
        {
            writer.WriteStartObject();
            writer.WriteString("start", Hex(vma.Start));
            writer.WriteString("end", Hex(vma.End));
            writer.WriteNumber("prot", vma.Prot);
            writer.WriteNumber("flags", vma.Flags);
            writer.WriteNumber("status", vma.Status);
            writer.WriteBoolean("lazy_capable", vma.IsLazyCapable);
            writer.WriteBoolean("guard", vma.IsGuard);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        WriteRanges(writer, "lazy_ranges", task.LazyRanges);
        WriteRanges(writer, "zero_ranges", task.NeverDumpedLazyCapable);
        writer.WriteEndObject();
    }

    private static void WriteRanges(Utf8JsonWriter writer, string name, IReadOnlyList<LazyRange> ranges)
    {
        writer.WriteStartArray(name);
        foreach (var range in ranges)
        {
            writer.WriteStartObject();
            writer.WriteString("start", Hex(range.Start));
            writer.WriteString("end", Hex(range.End));
            writer.WriteNumber("pages", range.Pages);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    private static void WritePages(Utf8JsonWriter writer, string kind, ulong pages)
    {
        writer.WriteNumber($"{kind}_pages", pages);
        writer.WriteNumber($"{kind}_bytes", pages * PageSize);
    }

    private static (ulong Eager, ulong Zero) Count(TaskImages task)
    {
        ulong eager = 0;
        foreach (var run in task.Pagemap)
        {
            if (run.IsPresent && !run.IsLazy)
            {
                eager += run.NrPages;
            }
        }

        ulong zero = 0;
        foreach (var range in task.NeverDumpedLazyCapable)
        {
            zero += range.Pages;
        }

        return (eager, zero);
    }

    private static string Hex(ulong value) => $"0x{value:x}";

    private static string Bytes(ulong pages) => $"{pages * PageSize} B";
}
