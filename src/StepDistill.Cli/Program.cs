using Spectre.Console.Cli;
using StepDistill.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("stepdistill");
    config.PropagateExceptions();
    // Verbs, in pipeline order. Each lives in Commands/<Verb>Command.cs.
    config.AddCommand<StepDistill.Cli.Commands.TokenizeCommand>("tokenize").WithDescription("Show the token ids of a text for a model's tokenizer.");
});
return await CliRunner.RunAsync(app, args);
