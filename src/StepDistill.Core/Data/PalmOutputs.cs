using System.Globalization;
using System.Text.Json;

namespace StepDistill.Data;

/// <summary>
/// Reads <c>llm/&lt;split&gt;_CoT_0.json, _1, ...</c> (each a JSON array of strings) and joins them in order:
/// string j of file k belongs to record k·B + j (shared/datasets/README.md, section 4). Checks that the files are numbered
/// without gaps, that every file but the last holds the same count, and that the total equals the records.
/// </summary>
internal static class PalmOutputs
{
    /// <summary>The raw output for each record, with its file and item index; null when the split has no llm files.</summary>
    public static async ValueTask<(string File, int Item, string Text)[]?> ReadAsync(
        string folder, string fileSplit, string examplesPath, int recordCount, TextFiles files, CancellationToken ct)
    {
        var dir = Path.Combine(folder, "llm");
        if (!Directory.Exists(dir)) return null;
        var paths = new List<string>();
        for (var k = 0; ; k++)
        {
            var p = Path.Combine(dir, string.Create(CultureInfo.InvariantCulture, $"{fileSplit}_CoT_{k}.json"));
            if (!File.Exists(p)) break;
            paths.Add(p);
        }
        var stray = Directory.EnumerateFiles(dir, $"{fileSplit}_CoT_*.json").Where(f => !paths.Contains(f)).Order(StringComparer.Ordinal).ToList();
        if (stray.Count > 0)
            throw new StepDistillException($"{dir}: PaLM output files must be numbered 0, 1, 2, ... without gaps, but " +
                $"{fileSplit}_CoT_{paths.Count}.json is missing while {string.Join(", ", stray.Select(Path.GetFileName))} exist");
        if (paths.Count == 0) return null;

        var all = new List<(string, int, string)>(recordCount);
        var counts = new List<int>();
        foreach (var p in paths)
        {
            var bytes = await files.ReadBytesAsync(p, ct).ConfigureAwait(false);
            var items = ParseArray(p, bytes);
            counts.Add(items.Count);
            for (var j = 0; j < items.Count; j++) all.Add((p, j, items[j]));
        }
        for (var k = 0; k < counts.Count; k++)
        {
            var bad = k < counts.Count - 1 ? counts[k] != counts[0] : counts[k] > counts[0];
            if (bad)
                throw new StepDistillException($"{paths[k]}: holds {counts[k]} outputs but {Path.GetFileName(paths[0])} holds {counts[0]}; every file " +
                    $"but the last must hold one full batch, and the last no more");
        }
        if (all.Count != recordCount)
        {
            var detail = string.Join(", ", paths.Select((p, k) => $"{Path.GetFileName(p)}: {counts[k]}"));
            throw new StepDistillException(
                $"{examplesPath}:{Math.Min(all.Count, recordCount) + 1}: {examplesPath} has {recordCount} records but the PaLM outputs in {dir} hold " +
                    $"{all.Count} ({detail}); they must match one to one");
        }
        return all.ToArray();
    }

    /// <summary>Parses a JSON array of strings, naming the line of any error.</summary>
    static List<string> ParseArray(string path, byte[] bytes)
    {
        var items = new List<string>();
        // File.ReadAllText drops a UTF-8 byte-order mark; do the same here.
        var start = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        var reader = new Utf8JsonReader(bytes.AsSpan(start), new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                throw new StepDistillException($"{path}:{LineOf(bytes, reader.TokenStartIndex)}: expected a JSON array of strings");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.String)
                {
                    throw new StepDistillException(
                        $"{path}:{LineOf(bytes, reader.TokenStartIndex)}: item {items.Count} is {reader.TokenType.ToString().ToLowerInvariant()}, " +
                            $"expected a string");
                }
                items.Add(reader.GetString()!);
            }
            if (reader.TokenType != JsonTokenType.EndArray) throw new StepDistillException($"{path}:{LineOf(bytes, bytes.Length)}: the array is not closed");
            if (reader.Read()) throw new StepDistillException($"{path}:{LineOf(bytes, reader.TokenStartIndex)}: unexpected data after the array");
        }
        catch (JsonException e)
        {
            throw new StepDistillException($"{path}:{(e.LineNumber ?? 0) + 1}: malformed JSON ({Jsonl.StripLocation(e.Message)})", e);
        }
        return items;
    }

    static int LineOf(byte[] bytes, long offset) => bytes.AsSpan(0, (int)Math.Min(offset, bytes.Length)).Count((byte)'\n') + 1;
}
