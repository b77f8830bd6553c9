using System.ComponentModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Spectre.Console.Cli;
using StepDistill.Inference;
using StepDistill.Serving;

namespace StepDistill.Cli.Commands;

/// <summary><c>stepdistill serve</c>: an OpenAI-compatible HTTP server over a student, with dynamic batching.</summary>
internal sealed class ServeCommand : AsyncCommand<ServeCommand.Settings>
{
    // Library options are nullable here: unset means the library's own default (DistilledModelOptions), stated once there.
    public sealed class Settings : CommonSettings
    {
        [CommandOption("-m|--model <MODEL>")]
        [Description("Checkpoint folder (e.g. RUN/best) or Hugging Face id.")]
        public string? Model { get; init; }

        [CommandOption("--urls <URLS>")]
        [Description("Addresses to listen on, separated by ';' (port 0 = any free port). Loopback only unless you say otherwise.")]
        [DefaultValue(ServerOptions.DefaultUrl)]
        public string Urls { get; init; } = ServerOptions.DefaultUrl;

        [CommandOption("--served-model-name <NAME>")]
        [Description("Model id clients send and /v1/models shows (default: the folder's name or the Hub id).")]
        public string? ServedModelName { get; init; }

        [CommandOption("--api-key-env <VAR>")]
        [Description("Name of an environment variable holding a key; requests to /v1/* must then send 'Authorization: Bearer <key>'. The key is never logged.")]
        public string? ApiKeyEnv { get; init; }

        [CommandOption("--max-new-tokens <N>")]
        [Description("Most tokens per answer; a request's max_tokens can ask for fewer (default: the library's; printed at start).")]
        public int? MaxNewTokens { get; init; }

        [CommandOption("--max-rationale-tokens <N>")]
        [Description("Most tokens per rationale in /v1/predict with explain (default: the library's; printed at start).")]
        public int? MaxRationaleTokens { get; init; }

        [CommandOption("--beams <N>")]
        [Description("1 = greedy decoding; more = beam search (default: the library's; printed at start).")]
        public int? Beams { get; init; }

        [CommandOption("--max-input-length <N>")]
        [Description("Longest input in tokens; longer ones get 400 (default: the library's; printed at start).")]
        public int? MaxInputLength { get; init; }

        [CommandOption("--batch-size <N>")]
        [Description("Most inputs decoded together, shared by all clients (default: the library's; printed at start).")]
        public int? BatchSize { get; init; }

        [CommandOption("--max-wait-ms <MS>")]
        [Description("How long the first waiting input waits for others to join its batch (default: the library's; printed at start).")]
        public double? MaxWaitMs { get; init; }

        [CommandOption("--queue-length <N>")]
        [Description("Most inputs waiting; beyond it requests get 429 with Retry-After (default: the library's; printed at start).")]
        public int? QueueLength { get; init; }

        [CommandOption("--max-request-bytes <N>")]
        [Description("Largest request body; larger ones get 413.")]
        [DefaultValue(ServerOptions.DefaultMaxRequestBodyBytes)]
        public long MaxRequestBytes { get; init; } = ServerOptions.DefaultMaxRequestBodyBytes;

        [CommandOption("--max-inputs-per-request <N>")]
        [Description("Most inputs in one /v1/predict or /v1/completions request.")]
        [DefaultValue(ServerOptions.DefaultMaxInputsPerRequest)]
        public int MaxInputsPerRequest { get; init; } = ServerOptions.DefaultMaxInputsPerRequest;

        [CommandOption("--timeout <SECONDS>")]
        [Description("Longest time one request may take, queueing included; then 504.")]
        [DefaultValue(ServerOptions.DefaultRequestTimeoutSeconds)]
        public double Timeout { get; init; } = ServerOptions.DefaultRequestTimeoutSeconds;

        [CommandOption("--drain-timeout <SECONDS>")]
        [Description("On SIGTERM or Ctrl-C, how long requests in flight get to finish.")]
        [DefaultValue(ServerOptions.DefaultDrainTimeoutSeconds)]
        public double DrainTimeout { get; init; } = ServerOptions.DefaultDrainTimeoutSeconds;

        [CommandOption("-v|--verbose")]
        [Description("Log every request (ASP.NET Core's own logs).")]
        public bool Verbose { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        string? key = null;
        if (s.ApiKeyEnv is not null)
        {
            key = Environment.GetEnvironmentVariable(s.ApiKeyEnv);
            if (string.IsNullOrEmpty(key)) throw new StepDistillException($"--api-key-env {s.ApiKeyEnv}: that environment variable is not set or empty");
        }
        var d = new DistilledModelOptions();
        var modelOptions = d with
        {
            Device = s.Device ?? d.Device,
            Threads = s.Threads ?? d.Threads,
            MaxNewTokens = s.MaxNewTokens ?? d.MaxNewTokens,
            MaxRationaleTokens = s.MaxRationaleTokens ?? d.MaxRationaleTokens,
            NumBeams = s.Beams ?? d.NumBeams,
            MaxInputLength = s.MaxInputLength ?? d.MaxInputLength,
            MaxBatchSize = s.BatchSize ?? d.MaxBatchSize,
            MaxQueueLength = s.QueueLength ?? d.MaxQueueLength,
            MaxWait = s.MaxWaitMs is double ms ? TimeSpan.FromMilliseconds(ms) : d.MaxWait,
            // A Hub id names the model as given; a folder is named by the library.
            ModelId = Directory.Exists(s.Model) ? null : s.Model,
        };
        modelOptions.Validate();
        var serverOptions = new ServerOptions
        {
            Urls = s.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            ModelName = s.ServedModelName, ApiKey = key,
            MaxRequestBodyBytes = s.MaxRequestBytes, MaxInputsPerRequest = s.MaxInputsPerRequest,
            RequestTimeout = TimeSpan.FromSeconds(s.Timeout), DrainTimeout = TimeSpan.FromSeconds(s.DrainTimeout),
        };
        serverOptions.Validate();
        // The folder (or the Hub download, with progress) is resolved before listening, so a wrong --model fails at once.
        var folder = await ModelLocation.ResolveAsync(s.Model, cancellationToken);
        await using var server = StudentServer.Create(ct => DistilledModel.LoadAsync(folder, modelOptions, cancellationToken: ct), serverOptions,
                                                      logging => ConfigureLogging(logging, s.Verbose), handleSignals: true);
        Console.Error.WriteLine($"serve: batch size {modelOptions.MaxBatchSize}, max wait {modelOptions.MaxWait.TotalMilliseconds} ms, queue " +
            $"{modelOptions.MaxQueueLength}, " +
                                $"max new tokens {modelOptions.MaxNewTokens}, beams {modelOptions.NumBeams}, max input {modelOptions.MaxInputLength} tokens" +
                                (key is null ? "" : $", key required (from ${s.ApiKeyEnv})"));
        // SIGTERM and Ctrl-C are the host's: it stops taking connections, lets requests in flight finish, then returns.
        await server.RunAsync(cancellationToken);
        return 0;
    }

    static void ConfigureLogging(ILoggingBuilder logging, bool verbose)
    {
        logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; o.ColorBehavior = LoggerColorBehavior.Disabled; });
        // Logs go to stderr: stdout stays free for anything a script wants to read.
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddFilter("Microsoft", verbose ? LogLevel.Information : LogLevel.Warning);
    }
}
