namespace StepDistill.Tokenization;

/// <summary>
/// A tokenizer with T5's conventions: pad = 0, EOS <c>&lt;/s&gt;</c> = 1 appended, unk = 2, no BOS;
/// the decoder starts from the pad id. Implementations: SentencePiece (spiece.model) and byte-level (ByT5).
/// Load one with <see cref="TokenizerLoader.Load"/>.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>The padding id (T5 convention; also the decoder start token).</summary>
    const int PadId = 0;
    /// <summary>The end-of-sequence id <c>&lt;/s&gt;</c>.</summary>
    const int EosId = 1;
    /// <summary>The unknown-token id <c>&lt;unk&gt;</c>.</summary>
    const int UnkId = 2;

    /// <summary>Number of ids this tokenizer can produce (the model's embedding may be larger).</summary>
    int VocabSize { get; }

    /// <summary>Token ids of <paramref name="text"/>, with EOS appended when <paramref name="addEos"/>.</summary>
    int[] Encode(string text, bool addEos = true);

    /// <summary>Text of <paramref name="ids"/>; special tokens (pad, EOS, unk, sentinels) are skipped when asked.</summary>
    string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true);

    /// <summary>The token string of one id (a piece such as <c>▁Hello</c>, or <c>&lt;/s&gt;</c>), for display.</summary>
    string IdToToken(int id);

    /// <summary>Writes the files a checkpoint folder needs to load this tokenizer again.</summary>
    void Save(string directory);
}
