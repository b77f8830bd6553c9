using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Polly;
using StepDistill.Data;
using StepDistill.Teacher.Cache;
using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Parsing;
using StepDistill.Teacher.Prompts;

namespace StepDistill.Teacher.Pipeline;

/// <summary>Settings of one annotation run.</summary>
public sealed record AnnotateOptions
{
    /// <summary>Samples per input; above 1, the answer is a majority vote (self-consistency).</summary>
    public int Samples { get; init; } = 1;
    /// <summary>Requests in flight at once.</summary>
    public int Concurrency { get; init; } = 8;
    /// <summary>Per-attempt timeout.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>Retries per request after the first attempt (429, 5xx, timeouts, broken responses); 0 = none.</summary>
    public int MaxRetries { get; init; } = 6;
    /// <summary>Base delay of the exponential back-off (with jitter).</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Longest wait between two attempts (caps the back-off).</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Client-side limit on requests per minute; null = none.</summary>
    public int? RequestsPerMinute { get; init; }
    /// <summary>Client-side limit on estimated tokens (prompt + maximum output) per minute; null = none.</summary>
    public int? TokensPerMinute { get; init; }
    /// <summary>Null: 0 for one sample, 0.7 for several (samples must differ for a vote to mean anything).</summary>
    public float? Temperature { get; init; }
    /// <summary>Nucleus sampling; null = the server's default.</summary>
    public float? TopP { get; init; }
    /// <summary>Most tokens per completion.</summary>
    public int MaxOutputTokens { get; init; } = 256;
    /// <summary>Base seed; sample i is sent seed+i. Null with one sample: no seed is sent.</summary>
    public long? Seed { get; init; }
    /// <summary>Send the prompt's stop sequences to the server (they are always applied client-side too).</summary>
    public bool SendStopSequences { get; init; } = true;
    /// <summary>Keep only rationales whose answer matches the gold label (records with a label).</summary>
    public bool RequireGoldMatch { get; init; }
    /// <summary>Drop failed records from an existing output first, so a resumed run tries them again.</summary>
    public bool RetryFailed { get; init; }
    /// <summary>Cache path; default <c>&lt;output&gt;.cache.sqlite</c>.</summary>
    public string? CachePath { get; init; }
    /// <summary>Prices in currency units per million tokens, for the cost estimate.</summary>
    public decimal? PricePerMillionInput { get; init; }
    /// <summary>Price per million output tokens, for the cost estimate.</summary>
    public decimal? PricePerMillionOutput { get; init; }
}

/// <summary>A snapshot of a run in progress.</summary>
public sealed record AnnotateProgress(int Done, int Total, int Ok, int Unparseable, int Failed, int Mismatch, long Requests, long CacheHits, TimeSpan Elapsed);

/// <summary>What a run did. Counts of records are for this run; skipped ones were already in the output.</summary>
public sealed record AnnotateSummary
{
    /// <summary>Records in the input.</summary>
    public int Inputs { get; init; }
    /// <summary>Inputs already in the output (a resumed run).</summary>
    public int Skipped { get; init; }
    /// <summary>Records written by this run.</summary>
    public int Written { get; init; }
    /// <summary>Records with status <c>ok</c>.</summary>
    public int Ok { get; init; }
    /// <summary>Records with status <c>unparseable</c>.</summary>
    public int Unparseable { get; init; }
    /// <summary>Records with status <c>failed</c>.</summary>
    public int Failed { get; init; }
    /// <summary>Records with status <c>mismatch</c>.</summary>
    public int Mismatch { get; init; }
    /// <summary>Samples whose answer parsed.</summary>
    public int SamplesParsed { get; init; }
    /// <summary>Samples answered but not parseable.</summary>
    public int SamplesUnparseable { get; init; }
    /// <summary>Samples whose request failed for good.</summary>
    public int SamplesFailed { get; init; }
    /// <summary>Answered records that have a gold label.</summary>
    public int WithGold { get; init; }
    /// <summary>Of those, records whose answer matches gold.</summary>
    public int GoldMatches { get; init; }
    /// <summary>Requests sent (retries included).</summary>
    public long Requests { get; init; }
    /// <summary>Retries among them.</summary>
    public long Retries { get; init; }
    /// <summary>Samples served from the cache.</summary>
    public long CacheHits { get; init; }
    /// <summary>Input tokens the server reported.</summary>
    public long InputTokens { get; init; }
    /// <summary>Output tokens the server reported.</summary>
    public long OutputTokens { get; init; }
    /// <summary>Estimated cost from the prices given; null without prices.</summary>
    public decimal? EstimatedCost { get; init; }
    /// <summary>Wall time of the run.</summary>
    public TimeSpan Elapsed { get; init; }
    /// <summary>Whether the run was stopped before the end.</summary>
    public bool Cancelled { get; init; }
    /// <summary>Whether a torn last line of the existing output was removed.</summary>
    public bool RepairedTornLine { get; init; }
    /// <summary>Failed records removed from the existing output to try again.</summary>
    public int DroppedFailed { get; init; }
    /// <summary>The SQLite cache used.</summary>
    public string CachePath { get; init; } = "";
    /// <summary>Share of labelled, answered records whose teacher answer matches gold.</summary>
    public double? GoldAgreement => WithGold == 0 ? null : (double)GoldMatches / WithGold;
}

/// <summary>Stage 1: asks the teacher for rationales for every input and writes the annotated JSONL.</summary>
public sealed class Annotator
{
    readonly TeacherClient _teacher;
    readonly PromptTemplate _prompt;
    readonly IAnswerParser _parser;
    readonly AnnotateOptions _o;

    /// <summary>An annotator asking <paramref name="teacher"/> with <paramref name="prompt"/>; invalid options are errors naming the property.</summary>
    public Annotator(TeacherClient teacher, PromptTemplate prompt, AnnotateOptions options)
    {
        if (options.Samples < 1) throw StepDistillException.InvalidOption(nameof(options.Samples), options.Samples, "must be at least 1");
        if (options.Concurrency < 1) throw StepDistillException.InvalidOption(nameof(options.Concurrency), options.Concurrency, "must be at least 1");
        if (options.Timeout <= TimeSpan.Zero) throw StepDistillException.InvalidOption(nameof(options.Timeout), options.Timeout, "must be positive");
        _teacher = teacher; _prompt = prompt; _o = options;
        _parser = AnswerParsers.Get(prompt.Task);
    }

    /// <summary>The cache path used when none is given: the output path plus <c>.cache.sqlite</c>.</summary>
    public static string DefaultCachePath(string outputPath) => outputPath + ".cache.sqlite";

    /// <summary>The OS lock file held while a run writes <paramref name="outputPath"/>.</summary>
    public static string LockPath(string outputPath) => outputPath + ".lock";

    /// <summary>The chat options for sample <paramref name="sample"/> (also part of the cache key).</summary>
    public ChatOptions ChatOptionsFor(int sample)
    {
        var o = new ChatOptions
        {
            Temperature = _o.Temperature ?? (_o.Samples > 1 ? 0.7f : 0f),
            TopP = _o.TopP,
            MaxOutputTokens = _o.MaxOutputTokens,
            ModelId = _teacher.Model,
        };
        if (_o.Seed is long s) o.Seed = s + sample;
        else if (_o.Samples > 1) o.Seed = sample;
        if (_o.SendStopSequences && _prompt.StopSequences.Count > 0) o.StopSequences = [.. _prompt.StopSequences];
        return o;
    }

    sealed class Counters
    {
        public int Done, Ok, Unparseable, Failed, Mismatch, SamplesParsed, SamplesUnparseable, SamplesFailed, WithGold, GoldMatches;
        public long Requests, Retries, CacheHits, InputTokens, OutputTokens;
    }

    sealed record Sample(int Index, string? Text, string? FinishReason, ParsedCompletion? Parsed, string? Error);

    /// <summary>
    /// Annotates every record of <paramref name="inputPath"/> not yet in <paramref name="outputPath"/> (a rerun resumes),
    /// appending one output record per input; cancellation stops new calls and keeps every finished record.
    /// </summary>
    public async Task<AnnotateSummary> RunAsync(string inputPath, string outputPath, IProgress<AnnotateProgress>? progress = null,
        CancellationToken ct = default)
    {
        var sw = Stopwatch.StartNew();
        var inputs = InputReader.Read(inputPath);
        if (inputs.Count == 0) throw new StepDistillException($"{inputPath}: no input records (the file is empty)");
        var cachePath = _o.CachePath ?? DefaultCachePath(outputPath);
        // One writer per output: a second run on the same file would write duplicate records and pay twice.
        using var outputLock = FileOps.AcquireLock(LockPath(outputPath), outputPath);
        using var cache = new CompletionCache(cachePath);
        await using var writer = new OutputWriter(outputPath, _o.RetryFailed);
        var todo = inputs.Where(r => !writer.ExistingIds.Contains(r.Id)).ToList();
        var c = new Counters();
        var pipeline = Resilience.Build(_o, () => Interlocked.Increment(ref c.Retries), out var limiters);
        using var _ = limiters;
        var slots = Math.Min(_o.Concurrency, _teacher.MaxConcurrency ?? int.MaxValue);
        using var gate = new SemaphoreSlim(slots, slots);
        var calls = new Calls(this, cache, pipeline, gate, c);

        void Report() => progress?.Report(new AnnotateProgress(Volatile.Read(ref c.Done), todo.Count, c.Ok, c.Unparseable, c.Failed, c.Mismatch,
            Interlocked.Read(ref c.Requests), Interlocked.Read(ref c.CacheHits), sw.Elapsed));

        var cancelled = false;
        try
        {
            await Parallel.ForEachAsync(todo, new ParallelOptions { MaxDegreeOfParallelism = _o.Concurrency, CancellationToken = ct }, async (rec, token) =>
            {
                var messages = _prompt.Render(rec.Input);
                var samples = await Task.WhenAll(Enumerable.Range(0, _o.Samples).Select(i => calls.SampleAsync(rec, messages, i, token)));
                var record = BuildRecord(rec, samples, c);
                // Written even if cancellation arrives now: the calls are paid for and cached already.
                await writer.WriteAsync(record, CancellationToken.None);
                Interlocked.Increment(ref c.Done);
                Report();
            });
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            cancelled = true;
        }
        Report();
        return Summarize(c, inputs.Count, todo.Count, sw.Elapsed, cancelled, writer, cachePath);
    }

    AnnotateSummary Summarize(Counters c, int inputs, int todo, TimeSpan elapsed, bool cancelled, OutputWriter writer, string cachePath)
    {
        decimal? cost = null;
        if (_o.PricePerMillionInput != null || _o.PricePerMillionOutput != null)
            cost = (c.InputTokens * (_o.PricePerMillionInput ?? 0) + c.OutputTokens * (_o.PricePerMillionOutput ?? 0)) / 1_000_000m;
        return new AnnotateSummary
        {
            Inputs = inputs, Skipped = inputs - todo, Written = c.Done,
            Ok = c.Ok, Unparseable = c.Unparseable, Failed = c.Failed, Mismatch = c.Mismatch,
            SamplesParsed = c.SamplesParsed, SamplesUnparseable = c.SamplesUnparseable, SamplesFailed = c.SamplesFailed,
            WithGold = c.WithGold, GoldMatches = c.GoldMatches,
            Requests = c.Requests, Retries = c.Retries, CacheHits = c.CacheHits,
            InputTokens = c.InputTokens, OutputTokens = c.OutputTokens, EstimatedCost = cost,
            Elapsed = elapsed, Cancelled = cancelled, RepairedTornLine = writer.RepairedTornLine,
            DroppedFailed = writer.DroppedFailed, CachePath = cachePath,
        };
    }

    /// <summary>The teacher calls of one run: each sample comes from the cache, or from the teacher through the resilience pipeline.</summary>
    sealed class Calls(Annotator a, CompletionCache cache, ResiliencePipeline<ChatResponse> pipeline, SemaphoreSlim gate, Counters c)
    {
        readonly ChatOptions[] chatOptions = Enumerable.Range(0, a._o.Samples).Select(a.ChatOptionsFor).ToArray();

        /// <summary>Sample <paramref name="index"/> of a record, parsed; a call that failed after its retries is a sample with an error.</summary>
        public async Task<Sample> SampleAsync(InputRecord rec, IList<ChatMessage> messages, int index, CancellationToken token)
        {
            var options = chatOptions[index];
            var key = CompletionCache.Key(a._teacher.Id, a._teacher.Model, messages, options, index);
            var cached = cache.TryGet(key);
            if (cached is null)
            {
                try
                {
                    cached = await CallTeacherAsync(messages, options, token);
                    // Stored before the output record exists: from here on this call is never paid for again.
                    cache.Put(key, rec.Id, index, a._teacher.Id, a._teacher.Model, cached);
                }
                catch (Exception e) when (!token.IsCancellationRequested)
                {
                    return new Sample(index, null, null, null, e is CallFailedException ? e.Message : Resilience.Describe(e, a._o.Timeout));
                }
            }
            else Interlocked.Increment(ref c.CacheHits);
            var parsed = AnswerParsers.Parse(a._prompt, a._parser, cached.Text, rec.Input);
            if (!parsed.Ok && cached.FinishReason == "length")
                parsed = parsed with { Reason = parsed.Reason + " (output cut at the token limit: finish_reason=length; raise the maximum output tokens)" };
            return new Sample(index, cached.Text, cached.FinishReason, parsed, null);
        }

        /// <summary>One completion within the concurrency gate, with retries, timeouts and rate limits; counts requests and tokens.</summary>
        async Task<CachedCompletion> CallTeacherAsync(IList<ChatMessage> messages, ChatOptions options, CancellationToken token)
        {
            await gate.WaitAsync(token);
            var log = new Resilience.RetryLog();
            var context = ResilienceContextPool.Shared.Get(token);
            try
            {
                context.Properties.Set(Resilience.EstimatedTokens, PromptTemplate.EstimateTokens(messages) + a._o.MaxOutputTokens);
                context.Properties.Set(Resilience.Log, log);
                var response = await pipeline.ExecuteAsync(async (ctx, state) =>
                {
                    Interlocked.Increment(ref c.Requests);
                    ChatResponse r;
                    try { r = await a._teacher.Client.GetResponseAsync(state, options, ctx.CancellationToken); }
                    catch (ArgumentOutOfRangeException e) when (e.StackTrace?.Contains("OpenAI", StringComparison.Ordinal) == true)
                    {
                        // The OpenAI adapter indexes choices[0] unchecked: "choices": [] surfaces as this.
                        throw new EmptyResponseException("the server returned no choices");
                    }
                    return CheckNotEmpty(r);
                }, context, messages);
                var completion = new CachedCompletion(response.Text, response.FinishReason?.Value, response.Usage?.InputTokenCount,
                    response.Usage?.OutputTokenCount);
                Interlocked.Add(ref c.InputTokens, completion.InputTokens ?? 0);
                Interlocked.Add(ref c.OutputTokens, completion.OutputTokens ?? 0);
                return completion;
            }
            catch (Exception e) when (!token.IsCancellationRequested)
            {
                var attempts = log.Retries + 1;
                throw new CallFailedException(Resilience.Describe(e, a._o.Timeout) + (attempts > 1 ? $" (after {attempts} attempts)" : ""));
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
                gate.Release();
            }
        }
    }

    /// <summary>A teacher call that failed for good; the message says why (and after how many attempts).</summary>
    sealed class CallFailedException(string message) : Exception(message);

    static ChatResponse CheckNotEmpty(ChatResponse r)
    {
        if (r.Messages.Count == 0 || (r.Messages.All(m => m.Contents.Count == 0) && r.FinishReason is null))
            throw new EmptyResponseException("the server returned no choices");
        return r;
    }

    JsonObject BuildRecord(InputRecord rec, Sample[] samples, Counters c)
    {
        var record = (JsonObject)rec.Fields.DeepClone();
        var parsed = samples.Where(s => s.Parsed is { Ok: true }).ToList();
        Interlocked.Add(ref c.SamplesParsed, parsed.Count);
        Interlocked.Add(ref c.SamplesFailed, samples.Count(s => s.Error != null));
        Interlocked.Add(ref c.SamplesUnparseable, samples.Count(s => s.Parsed is { Ok: false }));

        string status; string? rationale = null, teacherLabel = null, error = null;
        var agreeing = new List<string>();
        if (parsed.Count == 0)
        {
            var failedAll = samples.All(s => s.Error != null);
            status = failedAll ? AnnotationStatus.Failed : AnnotationStatus.Unparseable;
            error = string.Join("; ", samples.Select(s => s.Error ?? s.Parsed?.Reason).Where(r => r != null).Distinct());
        }
        else
        {
            // Majority vote on the answer; ties go to the answer first produced (lowest sample index).
            var groups = parsed.GroupBy(s => _parser.VoteKey(s.Parsed!.Answer!))
                .OrderByDescending(g => g.Count()).ThenBy(g => g.Min(s => s.Index)).ToList();
            var winner = groups[0];
            teacherLabel = winner.First().Parsed!.Answer;
            agreeing = winner.Select(s => s.Parsed!.Rationale!).ToList();
            status = AnnotationStatus.Ok;
            if (_o.RequireGoldMatch && rec.Label != null)
            {
                var matching = parsed.Where(s => _parser.Matches(s.Parsed!.Answer!, rec.Label, rec.Input)).ToList();
                if (matching.Count == 0)
                {
                    status = AnnotationStatus.Mismatch;
                    agreeing = [];
                    error = $"no sample's answer matches the gold label '{rec.Label}'";
                }
                else
                {
                    teacherLabel = matching[0].Parsed!.Answer;
                    agreeing = matching.Select(s => s.Parsed!.Rationale!).ToList();
                }
            }
            rationale = agreeing.FirstOrDefault();
            if (rec.Label != null)
            {
                var match = _parser.Matches(teacherLabel!, rec.Label, rec.Input);
                Interlocked.Increment(ref c.WithGold);
                if (match) Interlocked.Increment(ref c.GoldMatches);
                record["gold_match"] = match;
            }
            if (_o.Samples > 1) record["votes"] = winner.Count();
        }
        switch (status)
        {
            case AnnotationStatus.Ok: Interlocked.Increment(ref c.Ok); break;
            case AnnotationStatus.Failed: Interlocked.Increment(ref c.Failed); break;
            case AnnotationStatus.Mismatch: Interlocked.Increment(ref c.Mismatch); break;
            default: Interlocked.Increment(ref c.Unparseable); break;
        }
        record["rationale"] = rationale;
        record["rationales"] = new JsonArray(agreeing.Select(r => (JsonNode?)JsonValue.Create(r)).ToArray());
        record["teacher_label"] = teacherLabel;
        record["status"] = status;
        record["raw"] = new JsonArray(samples.Where(s => s.Text != null).Select(s => (JsonNode?)JsonValue.Create(s.Text)).ToArray());
        if (samples.Any(s => s.FinishReason == "length")) record["truncated"] = true;
        if (error != null) record["error"] = error;
        return record;
    }
}
