using System.Globalization;

namespace StepDistill.Data;

/// <summary>The project dev split of SVAMP/CQA (shared/datasets/README.md, section 7): 0-based line indices of the train file.</summary>
internal static class DevIds
{
    /// <summary>Reads <paramref name="path"/>; without that file, applies the project rule (index mod 10 = 9).</summary>
    public static async ValueTask<HashSet<int>> ReadAsync(string path, string examplesPath, int recordCount, TextFiles files, CancellationToken ct)
    {
        if (!File.Exists(path)) return Enumerable.Range(0, recordCount).Where(i => i % 10 == 9).ToHashSet();
        var text = await files.ReadAsync(path, ct).ConfigureAwait(false);
        var ids = new HashSet<int>();
        foreach (var (number, line) in TextFiles.Lines(text))
        {
            var t = line.Trim();
            if (t.Length == 0) continue;
            if (!int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                throw Jsonl.Error(path, number, $"'{t}' is not a record index (a non-negative integer)");
            if (id >= recordCount)
                throw Jsonl.Error(path, number, $"index {id} is out of range: {examplesPath} has {recordCount} records (0..{recordCount - 1})");
            if (!ids.Add(id)) throw Jsonl.Error(path, number, $"index {id} is listed twice");
        }
        return ids;
    }
}
