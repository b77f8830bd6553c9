using Spectre.Console.Cli;
using StepDistill.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("stepdistill");
    config.PropagateExceptions();
    // Verbs, in pipeline order. Each lives in Commands/<Verb>Command.cs.
    config.AddCommand<StepDistill.Cli.Commands.AnnotateCommand>("annotate").WithDescription("Stage 1: ask a teacher LLM for rationales (few-shot chain-of-thought), resumable");
});
return await CliRunner.RunAsync(app, args);
