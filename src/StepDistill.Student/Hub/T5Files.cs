using System.Text.Json;

namespace StepDistill.Student.Hub;

/// <summary>Which files of a model repository a T5 student needs, and whether a snapshot folder has them.</summary>
internal static class T5Files
{
    internal const string Config = Checkpoint.T5Checkpoint.ConfigFile;
    internal const string SafetensorsFile = Checkpoint.T5Checkpoint.WeightsFile;
    internal const string SafetensorsIndex = Checkpoint.T5Checkpoint.WeightsIndexFile;
    internal const string BinFile = Checkpoint.T5Checkpoint.PyTorchBinFile;
    internal const string BinIndex = Checkpoint.T5Checkpoint.PyTorchBinIndexFile;
    internal static readonly string[] Tokenizers = ["spiece.model", "tokenizer.json"];
    internal static readonly string[] Optional =
        ["generation_config.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"];

    /// <summary>How the weights are stored: one file, or an index naming shards.</summary>
    internal enum WeightsKind { Single, Index }

    /// <summary>
    /// Picks the files to fetch from a repository listing: safetensors first (single file, else index + shards),
    /// else pytorch_model.bin (single, else index + shards). Shards are added later from the downloaded index.
    /// </summary>
    internal static (List<string> Files, string Weights, WeightsKind Kind) Choose(ModelId id, IReadOnlyCollection<string> siblings)
    {
        var have = new HashSet<string>(siblings, StringComparer.Ordinal);
        if (!have.Contains(Config))
            throw new StepDistillException($"{id} has no config.json: not a transformers model (files: {Sample(siblings)})");

        (string, WeightsKind)? weights =
            have.Contains(SafetensorsFile) ? (SafetensorsFile, WeightsKind.Single) :
            have.Contains(SafetensorsIndex) ? (SafetensorsIndex, WeightsKind.Index) :
            have.Contains(BinFile) ? (BinFile, WeightsKind.Single) :
            have.Contains(BinIndex) ? (BinIndex, WeightsKind.Index) : null;
        if (weights is null)
            throw new StepDistillException(
                $"{id} has no PyTorch weights (model.safetensors or pytorch_model.bin, or a sharded index of either); " +
                $"files: {Sample(siblings)}");

        var tokenizers = Tokenizers.Where(have.Contains).ToList();
        if (tokenizers.Count == 0)
            throw new StepDistillException($"{id} has no tokenizer (spiece.model or tokenizer.json); files: {Sample(siblings)}");

        var files = new List<string> { Config };
        files.AddRange(Optional.Where(have.Contains));
        files.AddRange(tokenizers);
        files.Add(weights.Value.Item1);
        return (files, weights.Value.Item1, weights.Value.Item2);
    }

    /// <summary>The shard files an index names (its <c>weight_map</c> values), in first-use order.</summary>
    internal static List<string> ShardsOf(string indexPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new StepDistillException($"{indexPath}: no \"weight_map\" object");
            var shards = new List<string>();
            foreach (var entry in map.EnumerateObject())
            {
                var shard = entry.Value.GetString();
                if (shard is null || !IsSafeRelativeName(shard))
                    throw new StepDistillException($"{indexPath}: weight_map entry \"{entry.Name}\" names an invalid shard file '{shard}'");
                if (!shards.Contains(shard)) shards.Add(shard);
            }
            return shards;
        }
        catch (JsonException e)
        {
            throw new StepDistillException($"{indexPath}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e);
        }
    }

    /// <summary>What a snapshot folder lacks to be used as a T5 student (empty when complete).</summary>
    internal static List<string> Missing(string snapshotDir)
    {
        var missing = new List<string>();
        bool Has(string f) => HubCache.Usable(Path.Combine(snapshotDir, f));
        if (!Has(Config)) missing.Add(Config);
        if (!Has(SafetensorsFile) && !Has(BinFile))
        {
            var index = Has(SafetensorsIndex) ? SafetensorsIndex : Has(BinIndex) ? BinIndex : null;
            if (index is null) missing.Add("weights (model.safetensors or pytorch_model.bin)");
            else
            {
                List<string> shards;
                try { shards = ShardsOf(Path.Combine(snapshotDir, index)); }
                catch (StepDistillException) { shards = []; missing.Add(index + " (unreadable)"); }
                missing.AddRange(shards.Where(s => !Has(s)));
            }
        }
        if (!Tokenizers.Any(Has)) missing.Add("tokenizer (spiece.model or tokenizer.json)");
        return missing;
    }

    /// <summary>A file name inside a repository that cannot escape the snapshot folder.</summary>
    internal static bool IsSafeRelativeName(string name) =>
        name.Length > 0 && !name.StartsWith('/') && !name.Contains('\\') && !name.Contains(':') &&
        name.Split('/').All(part => part.Length > 0 && part != "." && part != "..");

    static string Sample(IReadOnlyCollection<string> names) =>
        names.Count == 0 ? "none" : string.Join(", ", names.Take(12)) + (names.Count > 12 ? $", ... ({names.Count} in all)" : "");
}
