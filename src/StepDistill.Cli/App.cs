using Spectre.Console.Cli;
using StepDistill.Cli.Commands;

namespace StepDistill.Cli;

/// <summary>The command tree, shared by Program.cs and the in-process CLI tests.</summary>
internal static class App
{
    public static void Configure(IConfigurator config)
    {
        config.SetApplicationName("stepdistill");
        config.PropagateExceptions();
        // Verbs, in pipeline order. Each lives in Commands/<Verb>Command.cs.
        config.AddCommand<DemoCommand>("demo")
            .WithDescription("The main job: the whole method offline on a built-in task (simulated teacher), with report and plot.")
            .WithExample("demo", "--quick");
        config.AddCommand<AnnotateCommand>("annotate")
            .WithDescription("Stage 1: ask a teacher LLM for rationales (few-shot chain-of-thought); resumable, cached.")
            .WithExample("annotate", "--teacher", "openai:gpt-4o-mini", "--prompt", "svamp", "--input", "data.jsonl", "--output", "annotated.jsonl");
        config.AddCommand<TrainCommand>("train")
            .WithDescription("Train a student: standard fine-tuning/distillation or distilling step-by-step.")
            .WithExample("train", "--data", "datasets/svamp", "--method", "step-by-step", "--labels", "teacher", "--model", "tiny", "--out", "runs/svamp-dss");
        config.AddCommand<ExperimentCommand>("experiment")
            .WithDescription("A grid of methods x data fractions x seeds on any dataset; resumable; report, plot and JSON.")
            .WithExample("experiment", "--data", "datasets/svamp", "--fractions", "0.25,0.5,1", "--seeds", "0,1", "--parallel", "2", "--out",
                "runs/svamp-grid");
        config.AddCommand<EvaluateCommand>("evaluate")
            .WithDescription("Accuracy of a checkpoint on the dev or test split. --json: {accuracy, correct, n, split, data, model, metric}.")
            .WithExample("evaluate", "--model", "runs/svamp-dss/best", "--data", "datasets/svamp", "--split", "dev", "--json");
        config.AddCommand<PredictCommand>("predict")
            .WithDescription("Predict labels (and rationales with --explain) for a JSONL file. --json: {predictions, output} on stdout.");
        config.AddCommand<ServeCommand>("serve")
            .WithDescription("Serve a student over HTTP: OpenAI-compatible /v1/chat/completions, /v1/completions, /v1/predict; dynamic batching, " +
                "/health, /metrics.")
            .WithExample("serve", "--model", "runs/svamp-dss/best")
            .WithExample("serve", "--model", "runs/svamp-dss/best", "--urls", "http://0.0.0.0:8000", "--api-key-env", "STEPDISTILL_API_KEY");
        config.AddCommand<GenerateCommand>("generate")
            .WithDescription("Run a T5 checkpoint on one input, like Hugging Face generate (greedy or beam search). " +
                             "--json: {ids: [[...]], text}; ids start with the decoder start token 0.")
            .WithExample("generate", "--model", "google/flan-t5-small", "--input", "translate English to German: Hello");
        config.AddCommand<TokenizeCommand>("tokenize")
            .WithDescription("Show the token ids of a text for a model's tokenizer (--model may be a tokenizer-only folder). " +
                             "--json: only the array of ids (EOS included).");
    }
}
