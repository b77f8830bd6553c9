namespace StepDistill.Inference;

/// <summary>Which of a student's tasks a call runs.</summary>
public enum StudentTask
{
    /// <summary>The label task (the stored input prefix, <c>predict: </c> for step-by-step students).</summary>
    Label,
    /// <summary>The rationale task (<c>explain: </c>); step-by-step students only.</summary>
    Rationale,
}

/// <summary>Why generation stopped.</summary>
public enum CompletionFinishReason
{
    /// <summary>The model produced its end token.</summary>
    Stop,
    /// <summary>The token limit was reached first.</summary>
    Length,
}

/// <summary>Per-call settings of <see cref="DistilledModel.CompleteAsync(string, CompletionOptions?, CancellationToken)"/>.</summary>
public sealed record CompletionOptions
{
    /// <summary>The task to run. Default <see cref="StudentTask.Label"/>.</summary>
    public StudentTask Task { get; init; } = StudentTask.Label;

    /// <summary>Most tokens to generate (end token included); null uses the model's option for the task.</summary>
    public int? MaxNewTokens { get; init; }
}

/// <summary>One generated answer with its token counts.</summary>
/// <param name="Text">The decoded output.</param>
/// <param name="InputTokens">Tokens the model read (prefix and end token included, after truncation).</param>
/// <param name="OutputTokens">Tokens generated (the end token included, the decoder start token not).</param>
/// <param name="FinishReason">Why generation stopped.</param>
public sealed record Completion(string Text, int InputTokens, int OutputTokens, CompletionFinishReason FinishReason);

/// <summary>
/// A piece of a streamed answer. The texts of all updates of a call, concatenated, equal the non-streamed answer.
/// The last update has <see cref="FinishReason"/> set (its text may be empty).
/// </summary>
/// <param name="Text">New text since the previous update.</param>
/// <param name="InputTokens">Tokens the model read.</param>
/// <param name="OutputTokens">Tokens generated so far.</param>
/// <param name="FinishReason">Null until the last update.</param>
public sealed record CompletionUpdate(string Text, int InputTokens, int OutputTokens, CompletionFinishReason? FinishReason);

/// <summary>A step-by-step student's answer with its rationale.</summary>
/// <param name="Label">The answer (label task).</param>
/// <param name="Rationale">The explanation (rationale task).</param>
public sealed record Explanation(string Label, string Rationale);

/// <summary>
/// Thrown when a call would put more inputs in the waiting queue than <see cref="DistilledModelOptions.MaxQueueLength"/>
/// allows. Nothing of the call was queued; retry later (a server answers 429 with Retry-After).
/// </summary>
public sealed class QueueFullException(int queued, int requested, int capacity)
    : StepDistillException($"the model's queue is full ({queued} of {capacity} inputs waiting; this call adds {requested}); retry later")
{
    /// <summary>Inputs waiting when the call was refused.</summary>
    public int Queued { get; } = queued;
    /// <summary>Inputs the refused call asked to queue.</summary>
    public int Requested { get; } = requested;
    /// <summary><see cref="DistilledModelOptions.MaxQueueLength"/>.</summary>
    public int Capacity { get; } = capacity;
}
