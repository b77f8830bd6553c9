using Spectre.Console.Cli;
using StepDistill.Cli;

var app = new CommandApp();
app.Configure(App.Configure);
return await CliRunner.RunAsync(app, args);
