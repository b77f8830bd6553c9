using System.Runtime.CompilerServices;
using StepDistill.Inference;

namespace StepDistill.Serving;

/// <summary>One finished generation: the text, the token counts and whether it ran out of tokens.</summary>
internal sealed record ServedResult(string Text, int InputTokens, int OutputTokens, bool HitTokenLimit);

/// <summary>A piece of a streamed generation; the last one carries the counts and finish in <see cref="Final"/>.</summary>
internal sealed record ServedDelta(string Text, ServedResult? Final = null);

/// <summary>
/// What the HTTP layer needs from a model, as a narrow seam over <see cref="DistilledModel"/> (the one real
/// implementation is <see cref="ServedModel"/>; tests put a slow stand-in behind it to reach the timeout).
/// </summary>
internal interface IServedModel : IDisposable
{
    /// <summary>The model's own id.</summary>
    string Id { get; }
    /// <summary>Whether the student was trained with the rationale task (step-by-step).</summary>
    bool CanExplain { get; }
    /// <summary>The most new tokens a label call may ask for (the model's option).</summary>
    int MaxNewTokens { get; }
    /// <summary>The longest input, in tokens (prefix and end token included), the model takes.</summary>
    int MaxInputTokens { get; }
    /// <summary>Tokens of <paramref name="input"/> as the model reads it.</summary>
    int CountInputTokens(string input, bool rationale = false);
    /// <summary>Answers for <paramref name="inputs"/>, queued together (all or none); null tokens = the model's default for the task.</summary>
    Task<IReadOnlyList<ServedResult>> CompleteAsync(IReadOnlyList<string> inputs, bool rationale, int? maxNewTokens, CancellationToken ct);
    /// <summary>A label as it is generated.</summary>
    IAsyncEnumerable<ServedDelta> StreamAsync(string input, int maxNewTokens, CancellationToken ct);
    /// <summary>True when <paramref name="e"/> is the library's "queue full" refusal.</summary>
    bool IsQueueFull(Exception e);
}

/// <summary>The served form of a <see cref="DistilledModel"/>, which it owns.</summary>
internal sealed class ServedModel(DistilledModel model) : IServedModel
{
    /// <summary>The library's meter (batch sizes, queue depth), exported beside the server's.</summary>
    public const string MeterName = InferenceMetrics.MeterName;

    public string Id => model.ModelId;
    public bool CanExplain => model.CanExplain;
    public int MaxNewTokens => model.Options.MaxNewTokens;
    public int MaxInputTokens => model.Options.MaxInputLength;
    public int CountInputTokens(string input, bool rationale = false) => model.CountInputTokens(input, rationale ? StudentTask.Rationale : StudentTask.Label);

    public async Task<IReadOnlyList<ServedResult>> CompleteAsync(IReadOnlyList<string> inputs, bool rationale, int? maxNewTokens, CancellationToken ct)
    {
        var options = new CompletionOptions { Task = rationale ? StudentTask.Rationale : StudentTask.Label, MaxNewTokens = maxNewTokens };
        var results = await model.CompleteAsync(inputs, options, ct);
        return results.Select(c => new ServedResult(c.Text, c.InputTokens, c.OutputTokens, c.FinishReason == CompletionFinishReason.Length)).ToList();
    }

    public async IAsyncEnumerable<ServedDelta> StreamAsync(string input, int maxNewTokens, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var u in model.CompleteStreamingAsync(input, new CompletionOptions { MaxNewTokens = maxNewTokens }, ct))
            yield return new ServedDelta(u.Text, u.FinishReason is { } f ? new ServedResult("", u.InputTokens, u.OutputTokens, f == CompletionFinishReason.Length) : null);
    }

    public bool IsQueueFull(Exception e) => e is QueueFullException;

    public void Dispose() => model.Dispose();
}
