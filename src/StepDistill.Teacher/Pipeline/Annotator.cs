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
    public int MaxRetries { get; init; } = 6;
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(60);
    public int? RequestsPerMinute { get; init; }
    public int? TokensPerMinute { get; init; }
    /// <summary>Null: 0 for one sample, 0.7 for several (samples must differ for a vote to mean anything).</summary>
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
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
    public decimal? PricePerMillionOutput { get; init; }
}

/// <summary>A snapshot of a run in progress.</summary>
public sealed record AnnotateProgress(int Done, int Total, int Ok, int Unparseable, int Failed, int Mismatch, long Requests, long CacheHits, TimeSpan Elapsed);

/// <summary>What a run did. Counts of records are for this run; skipped ones were already in the output.</summary>
public sealed record AnnotateSummary
{
    public int Inputs { get; init; }
    public int Skipped { get; init; }
    public int Written { get; init; }
    public int Ok { get; init; }
    public int Unparseable { get; init; }
    public int Failed { get; init; }
    public int Mismatch { get; init; }
    public int SamplesParsed { get; init; }
    public int SamplesUnparseable { get; init; }
    public int SamplesFailed { get; init; }
    public int WithGold { get; init; }
    public int GoldMatches { get; init; }
    public long Requests { get; init; }
    public long Retries { get; init; }
    public long CacheHits { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public decimal? EstimatedCost { get; init; }
    public TimeSpan Elapsed { get; init; }
    public bool Cancelled { get; init; }
    public bool RepairedTornLine { get; init; }
    public int DroppedFailed { get; init; }
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

    public Annotator(TeacherClient teacher, PromptTemplate prompt, AnnotateOptions options)
    {
        if (options.Samples < 1) throw StepDistillException.InvalidOption(nameof(options.Samples), options.Samples, "must be at least 1");
        if (options.Concurrency < 1) throw StepDistillException.InvalidOption(nameof(options.Concurrency), options.Concurrency, "must be at least 1");
        if (options.Timeout <= TimeSpan.Zero) throw StepDistillException.InvalidOption(nameof(options.Timeout), options.Timeout, "must be positive");
        _teacher = teacher; _prompt = prompt; _o = options;
        _parser = AnswerParsers.Get(prompt.Task);
    }

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
    public async Task<AnnotateSummary> RunAsync(string inputPath, string outputPath, IProgress<AnnotateProgress>? progress = null, CancellationToken ct = default)
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
                var completion = new CachedCompletion(response.Text, response.FinishReason?.Value, response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
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
