using System.Text.Json;
using System.Text.Json.Nodes;

namespace StepDistill.Tokenization;

/// <summary>Reads and writes Hugging Face's <c>tokenizer_config.json</c> / <c>special_tokens_map.json</c>.</summary>
internal static class TokenizerConfig
{
    public const string ConfigFileName = "tokenizer_config.json";
    public const string SpecialTokensMapFileName = "special_tokens_map.json";

    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The parsed <c>tokenizer_config.json</c> of <paramref name="directory"/>, or null when absent.</summary>
    public static JsonObject? Read(string directory)
    {
        var path = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new StepDistillException($"{path}: expected a JSON object at the top level");
        }
        catch (JsonException e)
        {
            throw new StepDistillException($"{path}: invalid JSON at line {(e.LineNumber ?? 0) + 1}: {e.Message}", e);
        }
    }

    public static string? ReadString(string directory, string key)
    {
        var node = Read(directory)?[key];
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out string? s)) return s;
        throw new StepDistillException($"{Path.Combine(directory, ConfigFileName)}: \"{key}\" must be a string, got {node.ToJsonString()}");
    }

    public static int? ReadInt(string directory, string key)
    {
        var node = Read(directory)?[key];
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue(out int i)) return i;
        throw new StepDistillException($"{Path.Combine(directory, ConfigFileName)}: \"{key}\" must be an integer, got {node.ToJsonString()}");
    }

    public static void Write(string directory, JsonObject config, JsonObject specialTokensMap)
    {
        FileOps.WriteAllText(Path.Combine(directory, ConfigFileName), config.ToJsonString(Indented) + "\n");
        FileOps.WriteAllText(Path.Combine(directory, SpecialTokensMapFileName), specialTokensMap.ToJsonString(Indented) + "\n");
    }
}
