using StepDistill.Tokenization;

namespace StepDistill.Inference.Batching;

/// <summary>
/// Turns generated token ids into text pieces as they arrive: each piece is what decoding all tokens so far adds to
/// what was already emitted. Text that later tokens could still change (an unfinished UTF-8 sequence shows as U+FFFD)
/// is held back, so the pieces always concatenate to the final decoded text.
/// </summary>
internal sealed class StreamingText(ITextTokenizer tokenizer, int eosTokenId)
{
    readonly List<int> _tokens = new();
    string _emitted = "";

    public int Count => _tokens.Count;

    public string Add(int token)
    {
        _tokens.Add(token);
        if (token == eosTokenId) return "";
        var text = tokenizer.Decode(_tokens, skipSpecialTokens: true);
        var stable = text.Length;
        while (stable > 0 && text[stable - 1] == '\uFFFD') stable--;
        if (stable <= _emitted.Length || !text.StartsWith(_emitted, StringComparison.Ordinal)) return "";
        var piece = text[_emitted.Length..stable];
        _emitted = text[..stable];
        return piece;
    }

    /// <summary>The rest of the final text.</summary>
    public string Finish()
    {
        var text = tokenizer.Decode(_tokens, skipSpecialTokens: true);
        if (!text.StartsWith(_emitted, StringComparison.Ordinal)) return "";
        var piece = text[_emitted.Length..];
        _emitted = text;
        return piece;
    }
}
