using Spectre.Console.Cli;
using StepDistill.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("stepdistill");
    config.PropagateExceptions();
    // Verbs, in pipeline order. Each lives in Commands/<Verb>Command.cs.
});
return await CliRunner.RunAsync(app, args);
