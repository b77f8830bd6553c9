// A distilled student in an app: in process, and as the IChatClient the app used to call its LLM.
// Usage: StepDistill.Sample <student folder or Hugging Face id> [input ...]
using Microsoft.Extensions.AI;
using StepDistill.Inference;
using StepDistill.Inference.Chat;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: StepDistill.Sample <student folder or Hugging Face id> [input ...]");
    return 2;
}
string[] inputs = args.Length > 1 ? args[1..] : ["How many legs in total: spider, cat, hen?"];

await using var model = await DistilledModel.LoadAsync(args[0], new DistilledModelOptions { Device = "cpu" });
Console.WriteLine($"model {model.ModelId} (prefix '{model.InputPrefix}')");

// In process: concurrent calls share micro-batches.
var labels = await Task.WhenAll(inputs.Select(x => model.PredictAsync(x)));

// Through Microsoft.Extensions.AI, as the app called its LLM.
using IChatClient chat = model.AsChatClient();
var failures = 0;
for (var i = 0; i < inputs.Length; i++)
{
    var response = await chat.GetResponseAsync(inputs[i]);
    Console.WriteLine($"{inputs[i]} -> {labels[i]} (chat: {response.Text}, {response.Usage?.InputTokenCount} in / {response.Usage?.OutputTokenCount} out)");
    if (response.Text != labels[i]) failures++;
}
return failures == 0 ? 0 : 1;
