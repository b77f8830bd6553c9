namespace StepDistill.Inference.Batching;

/// <summary>One input being decoded: its token ids, its limit, and what it produced.</summary>
internal sealed class DecodeRow(int[] input, int maxNewTokens)
{
    public int[] Input { get; } = input;
    public int MaxNewTokens { get; } = maxNewTokens;

    /// <summary>Called with each generated token id as it is produced (greedy); with all of them at the end (beam search).</summary>
    public Action<int>? OnToken { get; init; }

    /// <summary>True once the caller no longer wants the result: the row stops generating.</summary>
    public Func<bool>? Abandoned { get; set; }

    /// <summary>Generated ids, the end token included, the decoder start token not.</summary>
    public List<int> Output { get; } = new();

    public CompletionFinishReason Finish { get; set; } = CompletionFinishReason.Length;
}
