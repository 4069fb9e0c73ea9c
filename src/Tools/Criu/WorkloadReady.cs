using System.Globalization;

namespace LazyActors.Tools.Criu;

/// <summary>
/// A task's <c>ready-N</c> file, written before the dump: <c>task=N pid=P parent_task=Q key=value...</c>. The pid is
/// the one the task sees (1 for the root of a pid namespace).
/// </summary>
/// <param name="Task">The task index.</param>
/// <param name="Pid">The pid as the task sees it.</param>
/// <param name="Fields">Every key=value of the line (e.g. <c>expected</c> for the python workload).</param>
public sealed record WorkloadReady(int Task, int Pid, IReadOnlyDictionary<string, string> Fields)
{
    /// <summary>Parses the text of a ready file.</summary>
    /// <exception cref="FormatException">Not a ready line; the message names <paramref name="path"/>.</exception>
    public static WorkloadReady Parse(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var word in text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = word.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"{path}: '{word}' is not key=value");
            }

            fields[word[..eq]] = word[(eq + 1)..];
        }

        if (!fields.TryGetValue("task", out var task) || !int.TryParse(task, NumberStyles.None, CultureInfo.InvariantCulture, out int index)
            || !fields.TryGetValue("pid", out var pidText) || !int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
        {
            throw new FormatException($"{path}: a ready file needs task=N and pid=P, got: {text.Trim()}");
        }

        return new WorkloadReady(index, pid, fields);
    }
}
