using System.Runtime.CompilerServices;
using System.Threading.Channels;
using StepDistill.Data;
using StepDistill.Inference.Batching;
using StepDistill.Student;
using StepDistill.Student.Hub;

namespace StepDistill.Inference;

/// <summary>
/// A trained student, ready to answer: the one entry point for inference in an app or a server.
/// <code>
/// using var model = DistilledModel.Load("runs/dss/best");
/// string label = model.Predict("How many legs do 3 cats and 2 birds have?");
/// </code>
/// It applies the checkpoint's stored input prefix itself (<c>predict: </c> for step-by-step students,
/// <c>explain: </c> for their rationales). It is safe to call from many threads at once: every call queues its
/// inputs, and one background loop decodes the waiting inputs together, new ones joining at every decoding step
/// (continuous batching; <see cref="DistilledModelOptions.MaxBatchSize"/>, <see cref="DistilledModelOptions.MaxWait"/>).
/// <b>Batching never changes an output</b>: an input gets the same tokens whether it runs alone or in any batch
/// (docs/library.md says how). Native memory is freed when each batch ends and when the model is disposed.
/// </summary>
public sealed class DistilledModel : IDisposable, IAsyncDisposable
{
    readonly T5Student _student;
    readonly BatchScheduler _scheduler;
    readonly ModelMetrics _metrics;
    int _disposed;

    DistilledModel(T5Student student, DistilledModelOptions options, string modelId)
    {
        _student = student;
        Options = options;
        ModelId = modelId;
        _student.Model.eval();
        _metrics = new ModelMetrics(modelId, () => QueueLength);
        _scheduler = new BatchScheduler(student.Model, options, _metrics);
    }

    /// <summary>The model's name: <see cref="DistilledModelOptions.ModelId"/>, else the Hub id or the folder's name.</summary>
    public string ModelId { get; }

    /// <summary>The options it runs with.</summary>
    public DistilledModelOptions Options { get; }

    /// <summary>The checkpoint's <c>stepdistill.json</c>; null for a plain Hugging Face checkpoint.</summary>
    public StudentInfo? Info => _student.Info;

    /// <summary>The prefix put in front of every label input (empty for standard students and plain checkpoints).</summary>
    public string InputPrefix => _student.Info?.InputPrefix ?? "";

    /// <summary>True for step-by-step students, which can <see cref="Explain"/>.</summary>
    public bool CanExplain => _student.Info?.HasRationaleTask == true;

    /// <summary>Inputs waiting to run now (not those running).</summary>
    public int QueueLength => _scheduler?.Pending ?? 0;

    /// <summary>
    /// Loads a checkpoint folder, or a Hugging Face Hub id (<c>org/name[@revision]</c>, from the shared cache or
    /// downloaded into it; settings from the environment as in docs/hub.md).
    /// </summary>
    /// <exception cref="StepDistillException">No such folder or model, not a T5, bad files, or bad options.</exception>
    public static DistilledModel Load(string folderOrHubId, DistilledModelOptions? options = null) =>
        LoadAsync(folderOrHubId, options).GetAwaiter().GetResult();

    /// <inheritdoc cref="Load"/>
    /// <param name="folderOrHubId">A checkpoint folder or a Hub id.</param>
    /// <param name="options">Null for the defaults.</param>
    /// <param name="hub">Hub settings; null reads them from the environment.</param>
    /// <param name="cancellationToken">Cancels a download.</param>
    public static async Task<DistilledModel> LoadAsync(string folderOrHubId, DistilledModelOptions? options = null,
                                                       HubOptions? hub = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folderOrHubId);
        options ??= new DistilledModelOptions();
        options.Validate();
        var folder = await ModelResolver.ResolveAsync(folderOrHubId, hub, ct: cancellationToken).ConfigureAwait(false);
        var device = Devices.Resolve(options.Device);
        Devices.SetThreads(options.Threads);
        var student = T5Student.Load(folder, device);
        return new DistilledModel(student, options, options.ModelId ?? NameOf(folderOrHubId));
    }

    /// <summary>Wraps a student already in memory, which the model then owns (and disposes).</summary>
    internal static DistilledModel FromStudent(T5Student student, DistilledModelOptions? options = null, string modelId = "student")
    {
        options ??= new DistilledModelOptions();
        options.Validate();
        return new DistilledModel(student, options, options.ModelId ?? modelId);
    }

    /// <summary>A folder's name (with its parent's for <c>best</c>/<c>last</c>/<c>checkpoint-N</c>), or the Hub id as given.</summary>
    static string NameOf(string arg)
    {
        if (!Directory.Exists(arg)) return arg.Trim();
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(arg));
        var name = Path.GetFileName(full);
        var parent = Path.GetFileName(Path.GetDirectoryName(full));
        return name is "best" or "last" || name.StartsWith("checkpoint-", StringComparison.Ordinal)
            ? string.IsNullOrEmpty(parent) ? name : $"{parent}/{name}"
            : name;
    }

    /// <summary>The label for <paramref name="input"/>.</summary>
    public string Predict(string input) => PredictAsync(input).GetAwaiter().GetResult();

    /// <summary>The labels for <paramref name="inputs"/>, in order.</summary>
    public IReadOnlyList<string> Predict(IReadOnlyList<string> inputs) => PredictAsync(inputs).GetAwaiter().GetResult();

    /// <summary>The label and the rationale for <paramref name="input"/> (step-by-step students only).</summary>
    public Explanation Explain(string input) => ExplainAsync(input).GetAwaiter().GetResult();

    /// <summary>One answer with token counts and finish reason.</summary>
    public Completion Complete(string input, CompletionOptions? options = null) => CompleteAsync(input, options).GetAwaiter().GetResult();

    /// <inheritdoc cref="Predict(string)"/>
    public async Task<string> PredictAsync(string input, CancellationToken cancellationToken = default) =>
        (await CompleteAsync(input, null, cancellationToken).ConfigureAwait(false)).Text;

    /// <inheritdoc cref="Predict(IReadOnlyList{string})"/>
    public async Task<IReadOnlyList<string>> PredictAsync(IReadOnlyList<string> inputs, CancellationToken cancellationToken = default) =>
        (await CompleteAsync(inputs, null, cancellationToken).ConfigureAwait(false)).Select(c => c.Text).ToList();

    /// <inheritdoc cref="Explain"/>
    public async Task<Explanation> ExplainAsync(string input, CancellationToken cancellationToken = default)
    {
        RequireRationaleTask();
        var both = await CompleteAsync([input, input], [StudentTask.Label, StudentTask.Rationale], null, cancellationToken).ConfigureAwait(false);
        return new Explanation(both[0].Text, both[1].Text);
    }

    /// <summary>One answer with token counts and finish reason.</summary>
    /// <exception cref="QueueFullException">The queue is full.</exception>
    public async Task<Completion> CompleteAsync(string input, CompletionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var task = options?.Task ?? StudentTask.Label;
        return (await CompleteAsync([input], [task], options?.MaxNewTokens, cancellationToken).ConfigureAwait(false))[0];
    }

    /// <summary>Answers for <paramref name="inputs"/>, in order; all are queued at once (or none, if they do not fit).</summary>
    /// <exception cref="QueueFullException">The queue cannot take them all now.</exception>
    public Task<IReadOnlyList<Completion>> CompleteAsync(IReadOnlyList<string> inputs, CompletionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var task = options?.Task ?? StudentTask.Label;
        return CompleteAsync(inputs, inputs.Select(_ => task).ToList(), options?.MaxNewTokens, cancellationToken);
    }

    /// <summary>
    /// The answer as it is generated, a piece of text per token (greedy decoding; beam search yields it whole at the
    /// end). Concatenated, the pieces equal <see cref="CompleteAsync(string, CompletionOptions?, CancellationToken)"/>'s text.
    /// </summary>
    /// <exception cref="QueueFullException">The queue is full (thrown when enumeration starts).</exception>
    public async IAsyncEnumerable<CompletionUpdate> CompleteStreamingAsync(string input, CompletionOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var task = options?.Task ?? StudentTask.Label;
        if (task == StudentTask.Rationale) RequireRationaleTask();
        var channel = Channel.CreateUnbounded<CompletionUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var ids = Encode(input, task);
        var decoder = new StreamingText(_student.Tokenizer, _student.Model.Config.EosTokenId);
        var row = new DecodeRow(ids, MaxNewTokens(task, options?.MaxNewTokens))
        {
            OnToken = token =>
            {
                var piece = decoder.Add(token);
                if (piece.Length > 0) channel.Writer.TryWrite(new CompletionUpdate(piece, ids.Length, decoder.Count, null));
            },
        };
        var item = NewItem(row, cancellationToken);
        _scheduler.Enqueue([item]);
        _ = item.Done.Task.ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully)
            {
                channel.Writer.TryWrite(new CompletionUpdate(decoder.Finish(), ids.Length, row.Output.Count, row.Finish));
                channel.Writer.TryComplete();
            }
            else channel.Writer.TryComplete(t.Exception?.InnerException ?? new OperationCanceledException(cancellationToken));
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        await foreach (var update in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            yield return update;
    }

    /// <summary>How many tokens the model reads for <paramref name="input"/> (prefix and end token included, before truncation).</summary>
    public int CountInputTokens(string input, StudentTask task = StudentTask.Label) =>
        _student.Tokenizer.Encode(PrefixOf(task) + input).Length;

    async Task<IReadOnlyList<Completion>> CompleteAsync(IReadOnlyList<string> inputs, IReadOnlyList<StudentTask> tasks, int? maxNewTokens, CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (tasks.Contains(StudentTask.Rationale)) RequireRationaleTask();
        if (maxNewTokens is < 1) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), maxNewTokens, "must be at least 1");
        if (inputs.Count == 0) return [];
        var items = inputs.Select((x, i) =>
        {
            ArgumentNullException.ThrowIfNull(x, nameof(inputs));
            return NewItem(new DecodeRow(Encode(x, tasks[i]), MaxNewTokens(tasks[i], maxNewTokens)), ct);
        }).ToList();
        _scheduler.Enqueue(items);
        await Task.WhenAll(items.Select(i => i.Done.Task)).ConfigureAwait(false);
        var tok = _student.Tokenizer;
        return items.Select(i => new Completion(tok.Decode(i.Row.Output, skipSpecialTokens: true), i.Row.Input.Length, i.Row.Output.Count, i.Row.Finish)).ToList();
    }

    WorkItem NewItem(DecodeRow row, CancellationToken ct) =>
        new(row, LengthBuckets.For(row.Input.Length, Options.MaxInputLength), Options.NumBeams == 1 ? 0 : row.MaxNewTokens, ct);

    int[] Encode(string input, StudentTask task) =>
        TruncationCounter.Truncate(_student.Tokenizer.Encode(PrefixOf(task) + input), Options.MaxInputLength);

    string PrefixOf(StudentTask task) => task == StudentTask.Rationale ? StudentInfo.ExplainPrefix : InputPrefix;

    int MaxNewTokens(StudentTask task, int? asked) => asked ?? (task == StudentTask.Rationale ? Options.MaxRationaleTokens : Options.MaxNewTokens);

    void RequireRationaleTask()
    {
        if (!CanExplain)
            throw new StepDistillException($"{ModelId}: cannot explain: this student was trained as '{Info?.Method ?? "a plain checkpoint"}', with no rationale task");
    }

    /// <summary>Stops taking calls, finishes the ones already queued, then frees the model.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _scheduler.Dispose();
        _metrics.Dispose();
        _student.Dispose();
    }

    /// <inheritdoc cref="Dispose"/>
    public ValueTask DisposeAsync()
    {
        // The batch loop's thread is joined off the caller's thread so an async caller is not blocked.
        return new ValueTask(Task.Run(Dispose));
    }
}
