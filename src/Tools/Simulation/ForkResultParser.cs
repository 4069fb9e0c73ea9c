using System.Globalization;

namespace LazyActors.Tools.Simulation;

/// <summary>Parses the C fork helper's <c>result key=value ...</c> and <c>timeout ...</c> lines.</summary>
internal static class ForkResultParser
{
    public static IEnumerable<TouchResult> Parse(int pid, string stdout)
    {
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0 || (words[0] != "result" && words[0] != "timeout"))
            {
                continue;
            }

            var fields = words.Skip(1).Select(w => w.Split('=', 2)).Where(kv => kv.Length == 2).ToDictionary(kv => kv[0], kv => kv[1]);
            long Number(string key) => fields.TryGetValue(key, out var v) ? long.Parse(v, CultureInfo.InvariantCulture) : 0;
            var role = fields.GetValueOrDefault("role") == "child" ? "fork-child" : "task";
            if (words[0] == "timeout")
            {
                yield return new TouchResult
                {
                    Pid = pid,
                    Role = role,
                    Error = $"pid {pid} ({role}) timed out after touching {Number("touched")} pages",
                    Unserved = ["unknown: the fork helper timed out"],
                };
                continue;
            }

            var mismatches = Number("mismatches");
            yield return new TouchResult
            {
                Pid = pid,
                Role = role,
                OsPid = (int)Number("ospid"),
                Pages = Number("pages"),
                TouchMs = Number("touch_ns") / 1e6,
                P50Us = Number("p50_ns") / 1e3,
                P99Us = Number("p99_ns") / 1e3,
                MaxUs = Number("max_ns") / 1e3,
                BytesVerified = Number("bytes_verified"),
                Mismatches = mismatches,
                FirstMismatch = mismatches > 0 ? fields.GetValueOrDefault("first_mismatch") : null,
            };
        }
    }
}
