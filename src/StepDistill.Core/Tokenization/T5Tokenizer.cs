using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace StepDistill.Tokenization;

/// <summary>
/// T5's SentencePiece (Unigram) tokenizer with Hugging Face's conventions (slow <c>T5Tokenizer</c>,
/// transformers 4.30, legacy behaviour): <c>&lt;/s&gt;</c> = 1 appended, pad 0, unk 2, no BOS;
/// sentinel <c>&lt;extra_id_k&gt;</c> = <c>pieces + extraIds - 1 - k</c> (32099 - k for T5).
/// Literal special-token text in the input maps to its id, with the whitespace around it stripped.
/// Thread-safe after construction.
/// </summary>
public sealed class T5Tokenizer : ITextTokenizer
{
    /// <summary>The SentencePiece model file of a T5 checkpoint folder.</summary>
    public const string ModelFileName = "spiece.model";
    /// <summary>The sentinel ids (<c>&lt;extra_id_N&gt;</c>) T5 appends after the SentencePiece vocabulary.</summary>
    public const int DefaultExtraIds = 100;
    const char SpaceSymbol = '\u2581'; // ▁, SentencePiece's escaped space

    readonly byte[] _modelBytes;
    readonly SentencePieceTokenizer _sp;
    readonly SentencePieceModelInfo _info;
    readonly SpecialTokenMatcher _specials;
    readonly string[] _specialText; // id → special-token text, null for ordinary pieces

    T5Tokenizer(byte[] modelBytes, int extraIds, string source)
    {
        if (extraIds < 0) throw new StepDistillException($"{source}: extra_ids must be >= 0, got {extraIds}");
        _modelBytes = modelBytes;
        _info = SentencePieceModelInfo.Parse(modelBytes, source);
        if (_info.EosId != ITextTokenizer.EosId || _info.UnkId != ITextTokenizer.UnkId || _info.PadId != ITextTokenizer.PadId)
            throw new StepDistillException(
                $"{source}: expected T5's special ids pad=0 eos=1 unk=2, found pad={_info.PadId} eos={_info.EosId} unk={_info.UnkId}");
        ExtraIds = extraIds;
        PieceCount = _info.Pieces.Length;

        var fix = _info.LoadWorkaroundBytes();
        var patched = fix.Length == 0 ? modelBytes : [.. modelBytes, .. fix];
        try
        {
            using var stream = new MemoryStream(patched, writable: false);
            _sp = SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not StepDistillException)
        {
            throw new StepDistillException($"{source}: could not load the SentencePiece model: {e.Message}", e);
        }

        _specialText = new string[VocabSize];
        var specials = new List<KeyValuePair<string, (int, bool)>>();
        void AddSpecial(string text, int id)
        {
            _specialText[id] = text;
            specials.Add(new(text, (id, true))); // HF 4.30 strips around plain-string special tokens
        }
        AddSpecial(_info.Pieces[ITextTokenizer.PadId], ITextTokenizer.PadId);
        AddSpecial(_info.Pieces[ITextTokenizer.EosId], ITextTokenizer.EosId);
        AddSpecial(_info.Pieces[ITextTokenizer.UnkId], ITextTokenizer.UnkId);
        for (int k = 0; k < extraIds; k++) AddSpecial($"<extra_id_{k}>", SentinelId(k));
        _specials = new SpecialTokenMatcher(specials);
    }

    /// <summary>Loads <c>spiece.model</c> from a checkpoint folder; <c>extra_ids</c> comes from its
    /// <c>tokenizer_config.json</c> when present (default 100).</summary>
    public static T5Tokenizer FromDirectory(string directory)
    {
        var modelPath = Path.Combine(directory, ModelFileName);
        if (!File.Exists(modelPath))
            throw new StepDistillException($"{directory}: no {ModelFileName} in this folder");
        var extraIds = TokenizerConfig.ReadInt(directory, "extra_ids") ?? DefaultExtraIds;
        return FromModel(File.ReadAllBytes(modelPath), extraIds, modelPath);
    }

    /// <summary>Builds the tokenizer from the bytes of a <c>spiece.model</c>.</summary>
    public static T5Tokenizer FromModel(byte[] spieceModel, int extraIds = DefaultExtraIds, string source = ModelFileName)
        => new(spieceModel, extraIds, source);

    /// <summary>Number of SentencePiece pieces (32000 for T5).</summary>
    public int PieceCount { get; }

    /// <summary>Number of sentinel tokens <c>&lt;extra_id_k&gt;</c> after the pieces.</summary>
    public int ExtraIds { get; }

    /// <summary>SentencePiece pieces plus sentinels.</summary>
    public int VocabSize => PieceCount + ExtraIds;

    /// <summary>Id of the sentinel <c>&lt;extra_id_k&gt;</c>.</summary>
    public int SentinelId(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(k, ExtraIds);
        return VocabSize - 1 - k;
    }

    /// <summary>The ids of <paramref name="text"/> as Hugging Face's T5 tokenizer gives them, then EOS when <paramref name="addEos"/>.</summary>
    public int[] Encode(string text, bool addEos = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (text.IndexOf('<') < 0) EncodeChunk(this, text, ids); // common case: no special-token text possible
        else _specials.Encode(text, ids, this, EncodeChunk);
        if (addEos) ids.Add(ITextTokenizer.EosId);
        return [.. ids];
    }

    static void EncodeChunk(T5Tokenizer self, ReadOnlySpan<char> chunk, List<int> ids)
    {
        // SentencePiece's Unigram encoder merges a run of unknown characters into one <unk>;
        // Microsoft.ML.Tokenizers 2.0.1 emits one per character, so collapse runs here.
        int unk = self._info.UnkId;
        int start = ids.Count;
        foreach (var id in self._sp.EncodeToIds(chunk, addBeginningOfSentence: false, addEndOfSentence: false))
        {
            if (id == unk && ids.Count > start && ids[^1] == unk) continue;
            ids.Add(id);
        }
    }

    /// <summary>
    /// Text of <paramref name="ids"/> as HF's slow T5Tokenizer decodes it (without clean-up of tokenization
    /// spaces). When skipping, pad, EOS, unk and sentinels are dropped; otherwise they print as their text
    /// (<c>&lt;/s&gt;</c>, <c>&lt;extra_id_0&gt;</c>). Ids outside the vocabulary count as unk.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        // HF's convert_tokens_to_string: ordinary pieces go through SentencePiece's decoder in runs; before each
        // special token that follows an ordinary piece (or starts the text) it adds a space, then the run, then
        // the token. The result is trimmed.
        var output = new StringBuilder();
        var run = new StringBuilder();
        bool prevIsSpecial = false;
        foreach (var rawId in ids)
        {
            int id = rawId >= 0 && rawId < VocabSize ? rawId : ITextTokenizer.UnkId;
            var special = _specialText[id];
            if (special is null && _info.Types[id] is SentencePieceModelInfo.PieceType.Control or SentencePieceModelInfo.PieceType.Unknown)
                special = _info.Pieces[id]; // other control/unknown pieces a model may define
            if (special is null)
            {
                AppendPiece(run, _info.Pieces[id]);
                prevIsSpecial = false;
                continue;
            }
            if (skipSpecialTokens) continue;
            if (!prevIsSpecial) output.Append(' ');
            output.Append(run).Append(special);
            run.Clear();
            prevIsSpecial = true;
        }
        output.Append(run);
        return output.ToString().Trim();
    }

    // SentencePiece's decoder: ▁ becomes a space, and while nothing has been emitted yet the leading ▁ of a
    // piece is dropped (T5's normalizer removes extra whitespace, so every leading ▁ is consumed).
    static void AppendPiece(StringBuilder run, string piece)
    {
        var span = piece.AsSpan();
        if (run.Length == 0 && span.Length > 0 && span[0] == SpaceSymbol) span = span[1..];
        foreach (var c in span) run.Append(c == SpaceSymbol ? ' ' : c);
    }

    /// <summary>The piece for <paramref name="id"/> (special tokens and sentinels by name).</summary>
    public string IdToToken(int id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(id, VocabSize);
        return _specialText[id] ?? _info.Pieces[id];
    }

    /// <summary>
    /// Writes <c>spiece.model</c> (the original bytes), <c>tokenizer_config.json</c> and
    /// <c>special_tokens_map.json</c> as HF's <c>T5Tokenizer.save_pretrained</c> does.
    /// </summary>
    public void Save(string directory)
    {
        FileOps.CreateDirectory(directory);
        FileOps.WriteAllBytes(Path.Combine(directory, ModelFileName), _modelBytes);
        var sentinels = new JsonArray();
        for (int k = 0; k < ExtraIds; k++) sentinels.Add($"<extra_id_{k}>");
        var map = new JsonObject
        {
            ["additional_special_tokens"] = sentinels,
            ["eos_token"] = IdToToken(ITextTokenizer.EosId),
            ["pad_token"] = IdToToken(ITextTokenizer.PadId),
            ["unk_token"] = IdToToken(ITextTokenizer.UnkId),
        };
        var config = new JsonObject
        {
            ["additional_special_tokens"] = sentinels.DeepClone(),
            ["clean_up_tokenization_spaces"] = true,
            ["eos_token"] = IdToToken(ITextTokenizer.EosId),
            ["extra_ids"] = ExtraIds,
            ["pad_token"] = IdToToken(ITextTokenizer.PadId),
            ["sp_model_kwargs"] = new JsonObject(),
            ["tokenizer_class"] = "T5Tokenizer",
            ["unk_token"] = IdToToken(ITextTokenizer.UnkId),
        };
        TokenizerConfig.Write(directory, config, map);
    }
}
