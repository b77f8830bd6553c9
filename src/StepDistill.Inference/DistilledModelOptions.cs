namespace StepDistill.Inference;

/// <summary>
/// How a <see cref="DistilledModel"/> runs. Every default lives here; the CLI and the server read them from here.
/// </summary>
public sealed record DistilledModelOptions
{
    /// <summary><c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c> (CUDA when libtorch has it). Default <c>auto</c>.</summary>
    public string Device { get; init; } = "auto";

    /// <summary>libtorch intra-op threads for the whole process; 0 (default) leaves libtorch's default.</summary>
    public int Threads { get; init; }

    /// <summary>Most tokens generated for a label (the end token included), unless a call asks for fewer or more. Default 64.</summary>
    public int MaxNewTokens { get; init; } = 64;

    /// <summary>Most tokens generated for a rationale (<see cref="DistilledModel.Explain"/>). Default 256.</summary>
    public int MaxRationaleTokens { get; init; } = 256;

    /// <summary>1 = greedy decoding (default); more = beam search with that many beams.</summary>
    public int NumBeams { get; init; } = 1;

    /// <summary>Inputs longer than this many tokens (prefix and end token included) are cut to it. Default 512.</summary>
    public int MaxInputLength { get; init; } = 512;

    /// <summary>Most inputs decoded together (rows per decoding step; beam search: per micro-batch). Default 16.</summary>
    public int MaxBatchSize { get; init; } = 16;

    /// <summary>
    /// When nothing is being decoded, how long the oldest waiting input may wait for others to start with it. Inputs
    /// arriving while others are decoded join at the next step without waiting. Zero starts whatever is waiting at
    /// once. Default 2 ms.
    /// </summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Most inputs waiting to run; a call that would exceed it fails at once with <see cref="QueueFullException"/>
    /// (a server answers 429). Inputs already running do not count. Default 1024.
    /// </summary>
    public int MaxQueueLength { get; init; } = 1024;

    /// <summary>The name reported as <see cref="DistilledModel.ModelId"/>; null derives it from the folder or Hub id.</summary>
    public string? ModelId { get; init; }

    /// <summary>Checks every value; the message names the property.</summary>
    /// <exception cref="StepDistillException">A value is out of range.</exception>
    public void Validate()
    {
        Require(Threads >= 0, nameof(Threads), Threads, "must be 0 (libtorch's default) or more");
        Require(MaxNewTokens >= 1, nameof(MaxNewTokens), MaxNewTokens, "must be at least 1");
        Require(MaxRationaleTokens >= 1, nameof(MaxRationaleTokens), MaxRationaleTokens, "must be at least 1");
        Require(NumBeams >= 1, nameof(NumBeams), NumBeams, "must be at least 1");
        Require(MaxInputLength >= 2, nameof(MaxInputLength), MaxInputLength, "must be at least 2");
        Require(MaxBatchSize >= 1, nameof(MaxBatchSize), MaxBatchSize, "must be at least 1");
        Require(MaxWait >= TimeSpan.Zero && MaxWait <= TimeSpan.FromSeconds(10), nameof(MaxWait), MaxWait, "must be within 0..10 s");
        Require(MaxQueueLength >= 1, nameof(MaxQueueLength), MaxQueueLength, "must be at least 1");
        if (ModelId is not null && string.IsNullOrWhiteSpace(ModelId))
            throw new StepDistillException($"{nameof(DistilledModelOptions)}.{nameof(ModelId)}: must not be blank");
    }

    static void Require(bool ok, string name, object value, string rule)
    {
        if (!ok) throw new StepDistillException($"{nameof(DistilledModelOptions)}.{name} = {value}: {rule}");
    }
}
