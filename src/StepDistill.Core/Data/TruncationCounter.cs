namespace StepDistill.Data;

/// <summary>
/// Cuts token sequences to a maximum length and counts how many were cut, so the CLI can print
/// "truncated N inputs". Tokenizer-agnostic; thread-safe (the trainer may tokenize in parallel).
/// Like Hugging Face truncation with T5, a sequence that ends in the end token keeps it as its last token.
/// </summary>
public sealed class TruncationCounter
{
    int _inputs, _targets, _inputsSeen, _targetsSeen;

    /// <summary>Number of inputs that were longer than their limit.</summary>
    public int TruncatedInputs => Volatile.Read(ref _inputs);

    /// <summary>Number of targets (labels or rationales) that were longer than their limit.</summary>
    public int TruncatedTargets => Volatile.Read(ref _targets);

    /// <summary>Inputs counted so far.</summary>
    public int InputsSeen => Volatile.Read(ref _inputsSeen);
    /// <summary>Targets (labels and rationales) counted so far.</summary>
    public int TargetsSeen => Volatile.Read(ref _targetsSeen);

    /// <summary>Truncates an encoded input to <paramref name="maxLength"/> tokens.</summary>
    public int[] TruncateInput(int[] ids, int maxLength, int? endToken = 1)
    {
        Interlocked.Increment(ref _inputsSeen);
        var r = Truncate(ids, maxLength, endToken);
        if (!ReferenceEquals(r, ids)) Interlocked.Increment(ref _inputs);
        return r;
    }

    /// <summary>Truncates an encoded target to <paramref name="maxLength"/> tokens.</summary>
    public int[] TruncateTarget(int[] ids, int maxLength, int? endToken = 1)
    {
        Interlocked.Increment(ref _targetsSeen);
        var r = Truncate(ids, maxLength, endToken);
        if (!ReferenceEquals(r, ids)) Interlocked.Increment(ref _targets);
        return r;
    }

    /// <summary>
    /// <paramref name="ids"/> itself when it fits; otherwise its first <paramref name="maxLength"/> tokens, or
    /// the first maxLength−1 plus <paramref name="endToken"/> when the sequence ended with that token.
    /// </summary>
    public static int[] Truncate(int[] ids, int maxLength, int? endToken = 1)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        if (ids.Length <= maxLength) return ids;
        var r = ids[..maxLength];
        if (endToken is int end && ids[^1] == end) r[^1] = end;
        return r;
    }

    /// <summary>A one-line summary such as "truncated 3 of 800 inputs and 0 of 1600 targets".</summary>
    public override string ToString() =>
        $"truncated {TruncatedInputs} of {InputsSeen} inputs and {TruncatedTargets} of {TargetsSeen} targets";
}
