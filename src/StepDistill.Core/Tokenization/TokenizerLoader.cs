using System.Collections.Concurrent;

namespace StepDistill.Tokenization;

/// <summary>Picks and loads the tokenizer a checkpoint (or tokenizer) folder describes.</summary>
public static class TokenizerLoader
{
    // Loading spiece.model builds a 32k-piece lattice model; callers (CLI verbs, trainer, evaluator) often load
    // the same folder more than once, so keep one instance per unchanged file. Tokenizers are immutable.
    static readonly ConcurrentDictionary<(string Path, long Length, DateTime Modified, int ExtraIds), T5Tokenizer> Cache = new();

    /// <summary>
    /// <c>spiece.model</c> present → <see cref="T5Tokenizer"/>; otherwise <c>tokenizer_config.json</c> with
    /// <c>"tokenizer_class": "ByT5Tokenizer"</c> → <see cref="ByteTokenizer"/>; otherwise <c>tokenizer.json</c>
    /// with a WordLevel model → <see cref="WordLevelTokenizer"/>; otherwise a
    /// <see cref="StepDistillException"/> naming the folder and the files looked for.
    /// </summary>
    public static ITextTokenizer Load(string modelDir)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelDir);
        if (!Directory.Exists(modelDir))
            throw new StepDistillException($"model folder not found: {modelDir}");

        var spiece = new FileInfo(Path.Combine(modelDir, T5Tokenizer.ModelFileName));
        if (spiece.Exists)
        {
            var extraIds = TokenizerConfig.ReadInt(modelDir, "extra_ids") ?? T5Tokenizer.DefaultExtraIds;
            var key = (spiece.FullName, spiece.Length, spiece.LastWriteTimeUtc, extraIds);
            return Cache.GetOrAdd(key, k => T5Tokenizer.FromModel(File.ReadAllBytes(k.Path), k.ExtraIds, k.Path));
        }

        var tokenizerClass = TokenizerConfig.ReadString(modelDir, "tokenizer_class");
        if (string.Equals(tokenizerClass, "ByT5Tokenizer", StringComparison.Ordinal))
            return new ByteTokenizer(TokenizerConfig.ReadInt(modelDir, "extra_ids") ?? ByteTokenizer.DefaultExtraIds);

        // A word-level vocabulary (built-in tasks) is saved as an HF tokenizer.json with a WordLevel model.
        if (WordLevelTokenizer.IsWordLevel(modelDir))
            return WordLevelTokenizer.Load(modelDir);

        if (WordLevelTokenizer.ModelType(modelDir) is { } type)
            throw new StepDistillException(
                $"{Path.Combine(modelDir, WordLevelTokenizer.FileName)}: tokenizer model type \"{type}\" is not supported " +
                $"(supported: WordLevel in tokenizer.json, a T5 {T5Tokenizer.ModelFileName}, or ByT5 via {TokenizerConfig.ConfigFileName})");
        var found = tokenizerClass is null
            ? File.Exists(Path.Combine(modelDir, TokenizerConfig.ConfigFileName))
                ? $"{TokenizerConfig.ConfigFileName} has no tokenizer_class"
                : $"neither file exists"
            : $"{TokenizerConfig.ConfigFileName} names unsupported tokenizer_class \"{tokenizerClass}\"";
        throw new StepDistillException(
            $"no tokenizer found in {modelDir}: looked for {T5Tokenizer.ModelFileName} (T5 SentencePiece), {WordLevelTokenizer.FileName} (WordLevel) and " +
            $"{TokenizerConfig.ConfigFileName} with \"tokenizer_class\": \"ByT5Tokenizer\"; {found}");
    }
}
