using System.ComponentModel;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Cli.Options;
using StepDistill.Cli.Progress;
using StepDistill.Experiments.Demo;
using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;

namespace StepDistill.Cli.Commands;

/// <summary><c>stepdistill annotate</c>: stage 1, rationales from a teacher LLM.</summary>
internal sealed class AnnotateCommand(IAnsiConsole console) : AsyncCommand<AnnotateCommand.Settings>
{
    public sealed class Settings : ThreadsSettings
    {
        [CommandOption("--teacher <SPEC>"), Description("openai:<model> | azure:<deployment> | ollama:<model> | gguf:<path> (required unless --dry-run)")]
        public string? Teacher { get; init; }
        [CommandOption("--prompt <NAME|FILE>", isRequired: true), Description("Built-in prompt (svamp, cqa, anli, esnli) or a prompt file")]
        public string? Prompt { get; init; }
        [CommandOption("--input <FILE>", isRequired: true), Description("Input JSONL with at least id and input (label = gold, optional)")]
        public string? Input { get; init; }
        [CommandOption("--output <FILE>"), Description("Output JSONL; appended, a rerun resumes (required unless --dry-run)")]
        public string? Output { get; init; }
        [CommandOption("--samples <K>"), Description("Samples per input; k>1 votes on the answer (self-consistency)"), DefaultValue(1)]
        public int Samples { get; init; } = 1;
        [CommandOption("--concurrency <N>"), Description("Requests in flight at once"), DefaultValue(8)]
        public int Concurrency { get; init; } = 8;
        [CommandOption("--timeout <SECONDS>"), Description("Per-request timeout"), DefaultValue(120.0)]
        public double Timeout { get; init; } = 120;
        [CommandOption("--retries <N>"), Description("Retries per request (429, 5xx, timeouts, broken responses)"), DefaultValue(6)]
        public int Retries { get; init; } = 6;
        [CommandOption("--retry-delay <SECONDS>"), Description("Base delay of the exponential back-off"), DefaultValue(1.0)]
        public double RetryDelay { get; init; } = 1;
        [CommandOption("--rpm <N>"), Description("Client-side limit: requests per minute")]
        public int? RequestsPerMinute { get; init; }
        [CommandOption("--tpm <N>"), Description("Client-side limit: tokens per minute (estimated prompt + max output)")]
        public int? TokensPerMinute { get; init; }
        [CommandOption("--endpoint <URL>"), Description("Server base URL (OpenAI-compatible: including /v1; Azure: " +
            "https://<resource>.openai.azure.com; Ollama default http://localhost:11434)")]
        public string? Endpoint { get; init; }
        [CommandOption("--api-key-env <VAR>"), Description("Environment variable holding the API key (default OPENAI_API_KEY; Azure: AZURE_OPENAI_API_KEY)")]
        public string? ApiKeyEnv { get; init; }
        [CommandOption("--api-version <VERSION>"), Description("Azure OpenAI api-version"), DefaultValue("2024-10-21")]
        public string ApiVersion { get; init; } = "2024-10-21";
        [CommandOption("--max-tokens <N>"), Description("Maximum output tokens per completion"), DefaultValue(256)]
        public int MaxTokens { get; init; } = 256;
        [CommandOption("--temperature <T>"), Description("Sampling temperature (default 0 for one sample, 0.7 for several)")]
        public float? Temperature { get; init; }
        [CommandOption("--top-p <P>")]
        public float? TopP { get; init; }
        [CommandOption("--seed <N>"), Description("Base seed; sample i uses seed+i")]
        public long? Seed { get; init; }
        [CommandOption("--style <STYLE>"), Description("Override the prompt's style: chat or completion")]
        public string? Style { get; init; }
        [CommandOption("--no-stop"), Description("Do not send stop sequences (they are still applied client-side)")]
        public bool NoStop { get; init; }
        [CommandOption("--require-gold-match"), Description("Keep only rationales whose answer matches the gold label")]
        public bool RequireGoldMatch { get; init; }
        [CommandOption("--retry-failed"), Description("Remove failed records from an existing output and try them again")]
        public bool RetryFailed { get; init; }
        [CommandOption("--cache <FILE>"), Description("SQLite cache of finished calls (default <output>.cache.sqlite)")]
        public string? Cache { get; init; }
        [CommandOption("--price-in <PER_MILLION>"), Description("Price per million input tokens, for the cost estimate")]
        public decimal? PriceIn { get; init; }
        [CommandOption("--price-out <PER_MILLION>"), Description("Price per million output tokens, for the cost estimate")]
        public decimal? PriceOut { get; init; }
        [CommandOption("--context-size <N>"), Description("gguf: context size in tokens")]
        public uint? ContextSize { get; init; }
        [CommandOption("--dry-run"), Description("Print the first full prompt and the estimated tokens; call nothing")]
        public bool DryRun { get; init; }
        [CommandOption("--progress-interval <SECONDS>"), Description("Seconds between progress lines when not on a terminal"), DefaultValue(5.0)]
        public double ProgressInterval { get; init; } = 5;

        public override ValidationResult Validate()
        {
            if (!DryRun && Teacher is null)
                return ValidationResult.Error("--teacher is required (openai:<model>, azure:<deployment>, ollama:<model>, gguf:<path>)");
            if (!DryRun && Output is null) return ValidationResult.Error("--output is required");
            if (Style is not null && ParseStyle(Style) is null) return ValidationResult.Error($"--style must be chat or completion, got '{Style}'");
            return base.Validate();
        }

        /// <summary>The library's options for these flags.</summary>
        public AnnotateOptions ToOptions() => new()
        {
            Samples = Samples, Concurrency = Concurrency, Timeout = TimeSpan.FromSeconds(Timeout),
            MaxRetries = Retries, RetryBaseDelay = TimeSpan.FromSeconds(RetryDelay),
            RequestsPerMinute = RequestsPerMinute, TokensPerMinute = TokensPerMinute,
            Temperature = Temperature, TopP = TopP, MaxOutputTokens = MaxTokens, Seed = Seed,
            SendStopSequences = !NoStop, RequireGoldMatch = RequireGoldMatch, RetryFailed = RetryFailed,
            CachePath = Cache, PricePerMillionInput = PriceIn, PricePerMillionOutput = PriceOut,
        };

        /// <summary>The prompt named by <c>--prompt</c>, with <c>--style</c> applied.</summary>
        public PromptTemplate ResolvePrompt()
        {
            var prompt = OptionBinding.Translate(GetType(), () => PromptLibrary.Resolve(Prompt!, DemoRunner.Prompts));
            return Style is null ? prompt : prompt with { Style = ParseStyle(Style)!.Value };
        }

        static PromptStyle? ParseStyle(string style) => style.ToLowerInvariant() switch
        {
            "chat" => PromptStyle.Chat,
            "completion" => PromptStyle.Completion,
            _ => null,
        };
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var prompt = s.ResolvePrompt();
        var options = s.ToOptions();
        if (s.DryRun) return DryRun(prompt, s.Input!, options);
        CheckPaths(s);
        using var teacher = CreateTeacher(s);
        var annotator = OptionBinding.Translate(typeof(Settings), () => new Annotator(teacher, prompt, options));
        // Ctrl-C or SIGTERM (the CLI's one handler): stop starting work, let finished records be written, exit 130 (143).
        var summary = await RunWithProgressAsync(annotator, s, CliRunner.Cancellation(cancellationToken));
        PrintSummary(summary, s.Output!);
        return summary.Cancelled ? CliRunner.SignalExitCode : 0;
    }

    /// <summary>Output and cache must not overwrite the input (or each other).</summary>
    static void CheckPaths(Settings s)
    {
        OutputPaths.Check(s.Output!, "--output", isFolder: false, (s.Input, "--input"));
        if (s.Cache is not null) OutputPaths.Check(s.Cache, "--cache", isFolder: false, (s.Input, "--input"), (s.Output, "--output"));
    }

    static TeacherClient CreateTeacher(Settings s)
    {
        Uri? endpoint = null;
        if (s.Endpoint != null && !Uri.TryCreate(s.Endpoint, UriKind.Absolute, out endpoint))
            throw new StepDistillException($"--endpoint '{s.Endpoint}' is not an absolute URL");
        return OptionBinding.Translate(typeof(Settings), () => TeacherFactory.Create(s.Teacher!, new TeacherOptions
        {
            Endpoint = endpoint, ApiKeyEnv = s.ApiKeyEnv, AzureApiVersion = s.ApiVersion,
            NetworkTimeout = TimeSpan.FromSeconds(s.Timeout + 30), ContextSize = s.ContextSize, Threads = s.Threads,
        }, DemoRunner.Teachers));
    }

    /// <summary>Runs the annotator with a progress bar on a terminal, or a log line every interval elsewhere.</summary>
    static async Task<AnnotateSummary> RunWithProgressAsync(Annotator annotator, Settings s, CancellationToken ct)
    {
        var progress = new LatestProgress();
        var run = annotator.RunAsync(s.Input!, s.Output!, progress, ct);
        var interval = TimeSpan.FromSeconds(Math.Max(0.1, s.ProgressInterval));
        await ConsoleProgress.RunAsync(CliConsole.Error,
            [new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn()],
            async ctx =>
            {
                var task = ctx?.AddTask("annotate", maxValue: 1);
                while (!run.IsCompleted)
                {
                    await Task.WhenAny(run, Task.Delay(task is null ? interval : TimeSpan.FromMilliseconds(250)));
                    if (progress.Latest is not { } p) continue;
                    if (task is null)
                    {
                        if (!run.IsCompleted) ConsoleProgress.Log("annotate: " + Describe(p) + Rate(p));
                    }
                    else (task.MaxValue, task.Value, task.Description) = (Math.Max(1, p.Total), p.Done, Describe(p) + $" {RecordsPerSecond(p):0.0} rec/s");
                }
                if (task is not null) task.Value = task.MaxValue;
                return 0;
            });
        return await run;
    }

    static string Describe(AnnotateProgress p) =>
        $"{p.Done}/{p.Total} ok={p.Ok} unparseable={p.Unparseable} failed={p.Failed}" + (p.Mismatch > 0 ? $" mismatch={p.Mismatch}" : "");

    static double RecordsPerSecond(AnnotateProgress p) => p.Elapsed.TotalSeconds > 0 ? p.Done / p.Elapsed.TotalSeconds : 0;

    static string Rate(AnnotateProgress p)
    {
        var rate = RecordsPerSecond(p);
        var eta = rate > 0 ? TimeSpan.FromSeconds((p.Total - p.Done) / rate) : (TimeSpan?)null;
        return $" {rate:0.0} rec/s ETA {(eta is { } e ? e.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture) : "?")} requests={p.Requests} " +
            $"cached={p.CacheHits}";
    }

    void PrintSummary(AnnotateSummary r, string output)
    {
        var w = console.Profile.Out.Writer;
        if (r.RepairedTornLine) w.WriteLine("repaired a torn last line in the existing output");
        if (r.DroppedFailed > 0) w.WriteLine($"removed {r.DroppedFailed} failed records to try again");
        w.WriteLine($"{(r.Cancelled ? "stopped" : "done")}: {r.Written} records written to {output} ({r.Skipped} already there, {r.Inputs} inputs) in " +
            $"{r.Elapsed.TotalSeconds:0.0} s");
        w.WriteLine($"  status: ok={r.Ok} unparseable={r.Unparseable} failed={r.Failed} mismatch={r.Mismatch}");
        w.WriteLine($"  samples: parsed={r.SamplesParsed} unparseable={r.SamplesUnparseable} failed={r.SamplesFailed}");
        if (r.GoldAgreement is double g) w.WriteLine($"  agreement with gold: {r.GoldMatches}/{r.WithGold} = {g:P1}");
        w.WriteLine($"  requests: {r.Requests} (retries {r.Retries}), cache hits: {r.CacheHits}, cache: {r.CachePath}");
        w.WriteLine($"  tokens this run: input {r.InputTokens}, output {r.OutputTokens}" + (r.EstimatedCost is decimal c ? $", estimated cost " +
            $"{c:0.####}" : ""));
    }

    int DryRun(PromptTemplate prompt, string input, AnnotateOptions o)
    {
        var records = InputReader.Read(input);
        if (records.Count == 0) throw new StepDistillException($"{input}: no input records");
        var first = prompt.Render(records[0].Input);
        var w = console.Profile.Out.Writer;
        w.WriteLine($"# prompt '{prompt.Name}' (task {prompt.Task}, style {prompt.Style.ToString().ToLowerInvariant()}) for id {records[0].Id}:");
        foreach (var m in first)
        {
            if (prompt.Style == PromptStyle.Chat) w.WriteLine($"--- {m.Role.Value} ---");
            w.WriteLine(m.Text);
        }
        w.WriteLine("--- end ---");
        w.WriteLine($"stop sequences: {string.Join(", ", prompt.StopSequences.Select(x => "\"" + x.Replace("\n", "\\n") + "\""))}");
        long promptTokens = records.Sum(r => (long)PromptTemplate.EstimateTokens(prompt.Render(r.Input)));
        var requests = (long)records.Count * o.Samples;
        w.WriteLine($"estimated tokens: first prompt ~{PromptTemplate.EstimateTokens(first)}; all {records.Count} inputs x {o.Samples} sample(s) = " +
            $"{requests} requests, " +
                    $"~{promptTokens * o.Samples} input tokens + at most {requests * o.MaxOutputTokens} output tokens (about 4 characters per token)");
        return 0;
    }

    /// <summary>Keeps only the newest snapshot; the display loop reads it at its own pace.</summary>
    sealed class LatestProgress : IProgress<AnnotateProgress>
    {
        volatile AnnotateProgress? _latest;
        public AnnotateProgress? Latest => _latest;
        public void Report(AnnotateProgress value) => _latest = value;
    }
}
