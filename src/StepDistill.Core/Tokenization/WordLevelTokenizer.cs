using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace StepDistill.Tokenization;

/// <summary>
/// A word-level tokenizer with T5's special ids (pad 0, EOS 1, unk 2), saved as a Hugging Face
/// <c>tokenizer.json</c> (WordLevel model, <c>Whitespace</c> pre-tokenizer, a template appending <c>&lt;/s&gt;</c>)
/// plus a <c>tokenizer_config.json</c> naming <c>PreTrainedTokenizerFast</c>, so Python's
/// <c>AutoTokenizer.from_pretrained</c> loads the same vocabulary. Made for small built-in tasks whose whole
/// vocabulary is known: words outside it become unk. Decoding joins tokens with single spaces.
/// </summary>
public sealed partial class WordLevelTokenizer : ITextTokenizer
{
    /// <summary>The tokenizer file of a word-level vocabulary (Hugging Face <c>tokenizers</c> JSON).</summary>
    public const string FileName = "tokenizer.json";
    const string Pad = "<pad>", Eos = "</s>", Unk = "<unk>";

    readonly Dictionary<string, int> _ids;
    readonly string[] _tokens;

    // HF's Whitespace pre-tokenizer: runs of word characters, or runs of other non-space characters.
    [GeneratedRegex(@"\w+|[^\w\s]+", RegexOptions.CultureInvariant)]
    private static partial Regex WordPattern();

    WordLevelTokenizer(string[] tokens)
    {
        _tokens = tokens;
        _ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) _ids.Add(tokens[i], i);
    }

    /// <summary>The number of words in the vocabulary, special tokens included.</summary>
    public int VocabSize => _tokens.Length;

    /// <summary>The vocabulary in id order (pad, EOS, unk first).</summary>
    public IReadOnlyList<string> Tokens => _tokens;

    /// <summary>
    /// Builds a vocabulary from <paramref name="texts"/>: the three specials, then <paramref name="extraTokens"/>
    /// in the given order, then every other pre-tokenized word by descending frequency (ties in ordinal order),
    /// so the same corpus always gives the same ids.
    /// </summary>
    public static WordLevelTokenizer Build(IEnumerable<string> texts, IEnumerable<string>? extraTokens = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var tokens = new List<string> { Pad, Eos, Unk };
        var seen = new HashSet<string>(tokens, StringComparer.Ordinal);
        foreach (var t in extraTokens ?? [])
        {
            if (string.IsNullOrWhiteSpace(t) || t.Any(char.IsWhiteSpace))
                throw new ArgumentException($"extra token '{t}' is empty or contains whitespace", nameof(extraTokens));
            if (seen.Add(t)) tokens.Add(t);
        }
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            if (text is null) continue;
            foreach (Match m in WordPattern().Matches(text))
                counts[m.Value] = counts.GetValueOrDefault(m.Value) + 1;
        }
        tokens.AddRange(counts.Where(kv => !seen.Contains(kv.Key))
            .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key));
        return new WordLevelTokenizer([.. tokens]);
    }

    /// <summary>The id of <paramref name="token"/>, or unk.</summary>
    public int TokenToId(string token) => _ids.TryGetValue(token, out var id) ? id : ITextTokenizer.UnkId;

    /// <summary>The ids of the words of <paramref name="text"/> (unknown words as UNK), then EOS when <paramref name="addEos"/>.</summary>
    public int[] Encode(string text, bool addEos = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        // Special tokens written literally (as HF's added tokens) are matched before pre-tokenization.
        foreach (var chunk in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            if (chunk is Pad or Eos or Unk) { ids.Add(_ids[chunk]); continue; }
            foreach (Match m in WordPattern().Matches(chunk)) ids.Add(TokenToId(m.Value));
        }
        if (addEos) ids.Add(ITextTokenizer.EosId);
        return [.. ids];
    }

    /// <summary>The words of <paramref name="ids"/> joined by spaces; special tokens left out when <paramref name="skipSpecialTokens"/>.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            var special = id is ITextTokenizer.PadId or ITextTokenizer.EosId or ITextTokenizer.UnkId || id < 0 || id >= _tokens.Length;
            if (special && skipSpecialTokens) continue;
            if (sb.Length > 0) sb.Append(' ');
            sb.Append(id >= 0 && id < _tokens.Length ? _tokens[id] : Unk);
        }
        return sb.ToString();
    }

    /// <summary>The word for <paramref name="id"/>.</summary>
    public string IdToToken(int id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(id, VocabSize);
        return _tokens[id];
    }

    /// <summary>Writes <c>tokenizer.json</c>, <c>tokenizer_config.json</c> and <c>special_tokens_map.json</c>.</summary>
    public void Save(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        FileOps.CreateDirectory(directory);
        var vocab = new JsonObject();
        for (int i = 0; i < _tokens.Length; i++) vocab[_tokens[i]] = i;
        var added = new JsonArray();
        foreach (var (id, content) in new[] { (0, Pad), (1, Eos), (2, Unk) })
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
        JsonObject Seq(string id) => new() { ["Sequence"] = new JsonObject { ["id"] = id, ["type_id"] = 0 } };
        JsonObject EosPiece() => new() { ["SpecialToken"] = new JsonObject { ["id"] = Eos, ["type_id"] = 0 } };
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Whitespace" },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Seq("A"), EosPiece()),
                ["pair"] = new JsonArray(Seq("A"), EosPiece(), Seq("B"), EosPiece()),
                ["special_tokens"] = new JsonObject
                {
                    [Eos] = new JsonObject { ["id"] = Eos, ["ids"] = new JsonArray(ITextTokenizer.EosId), ["tokens"] = new JsonArray(Eos) },
                },
            },
            ["decoder"] = null,
            ["model"] = new JsonObject { ["type"] = "WordLevel", ["vocab"] = vocab, ["unk_token"] = Unk },
        };
        FileOps.WriteAllText(Path.Combine(directory, FileName), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        var config = new JsonObject
        {
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["pad_token"] = Pad,
            ["eos_token"] = Eos,
            ["unk_token"] = Unk,
            ["model_max_length"] = 512,
        };
        var map = new JsonObject { ["pad_token"] = Pad, ["eos_token"] = Eos, ["unk_token"] = Unk };
        TokenizerConfig.Write(directory, config, map);
    }

    /// <summary>True when <paramref name="directory"/> has a <c>tokenizer.json</c> whose model is WordLevel.</summary>
    internal static bool IsWordLevel(string directory) => ModelType(directory) == "WordLevel";

    /// <summary>The <c>model.type</c> of the folder's <c>tokenizer.json</c>; null without one, "(none)" when it names none.</summary>
    internal static string? ModelType(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return null;
        return ReadJson(path)["model"] is JsonObject model && model["type"] is JsonValue v && v.TryGetValue(out string? type) ? type : "(none)";
    }

    /// <summary>Loads the <c>tokenizer.json</c> of <paramref name="directory"/>; errors name the file and field.</summary>
    public static WordLevelTokenizer Load(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new StepDistillException($"{path}: file not found");
        var json = ReadJson(path);
        if (json["model"] is not JsonObject model)
            throw new StepDistillException($"{path}: \"model\" is missing or not an object");
        var type = model["type"] is JsonValue tv && tv.TryGetValue(out string? t) ? t : null;
        if (type != "WordLevel")
            throw new StepDistillException($"{path}: model.type is \"{type ?? "(missing)"}\", expected \"WordLevel\"");
        if (model["vocab"] is not JsonObject vocab)
            throw new StepDistillException($"{path}: model.vocab is missing or not an object");
        var tokens = new string?[vocab.Count];
        foreach (var (token, node) in vocab)
        {
            if (node is not JsonValue v || !v.TryGetValue(out int id))
                throw new StepDistillException($"{path}: model.vocab[\"{token}\"] must be an integer id, got {node?.ToJsonString() ?? "null"}");
            if (id < 0 || id >= tokens.Length)
                throw new StepDistillException($"{path}: model.vocab[\"{token}\"] = {id} is outside 0..{tokens.Length - 1} (ids must be dense)");
            if (tokens[id] is not null)
                throw new StepDistillException($"{path}: model.vocab gives id {id} to both \"{tokens[id]}\" and \"{token}\"");
            tokens[id] = token;
        }
        foreach (var (id, expected) in new[] { (ITextTokenizer.PadId, Pad), (ITextTokenizer.EosId, Eos), (ITextTokenizer.UnkId, Unk) })
            if (tokens.Length <= id || tokens[id] != expected)
                throw new StepDistillException($"{path}: model.vocab must map \"{expected}\" to id {id} (T5's convention)");
        var unk = model["unk_token"] is JsonValue uv && uv.TryGetValue(out string? u) ? u : null;
        if (unk != Unk)
            throw new StepDistillException($"{path}: model.unk_token is \"{unk ?? "(missing)"}\", expected \"{Unk}\"");
        return new WordLevelTokenizer(tokens!);
    }

    static JsonObject ReadJson(string path)
    {
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
}
