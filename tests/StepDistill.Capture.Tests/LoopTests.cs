using System.Text.Json;
using Microsoft.Extensions.AI;
using StepDistill.Data;
using StepDistill.Evaluation;
using StepDistill.Experiments.Demo;
using StepDistill.Experiments.DemoTask;
using StepDistill.Experiments.SimulatedTeacher;
using StepDistill.Inference;
using StepDistill.Inference.Chat;
using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;
using StepDistill.Training;

namespace StepDistill.Capture.Tests;

/// <summary>
/// The whole loop of docs/loop.md with the simulated teacher standing in for the app's LLM: the app's calls are
/// captured, annotated with rationales, a tiny student is trained on them briefly, and the student answers the same
/// app through IChatClient.
/// </summary>
public class LoopTests
{
    [Fact]
    public async Task CaptureAnnotateTrain_ThenTheStudentAnswersThroughIChatClient()
    {
        using var dir = new TempDir();
        var task = LegsTask.Generate(new LegsTaskOptions { Seed = 5, TrainSize = 160, DevSize = 16, TestSize = 16 });

        // 1. The app asks its LLM; capture records each call.
        var captured = dir.File("captured.jsonl");
        using (var app = new ChatClientBuilder(new SimulatedTeacherChatClient(new SimulatedTeacherOptions { ErrorRate = 0 }))
                   .UseStepDistillCapture(captured).Build())
        {
            await Parallel.ForEachAsync(task.Train.Select((q, i) => (q, i)), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (x, ct) =>
            {
                List<ChatMessage> messages = [new(ChatRole.System, "Answer the question."), new(ChatRole.User, x.q.Input)];
                var answer = x.i % 3 == 0
                    ? (await app.GetStreamingResponseAsync(messages, cancellationToken: ct).ToChatResponseAsync(ct)).Text
                    : (await app.GetResponseAsync(messages, cancellationToken: ct)).Text;
                Assert.EndsWith($"So the answer is {x.q.Answer}.", answer);
            });
        }
        var lines = File.ReadAllLines(captured);
        Assert.Equal(task.Train.Count, lines.Length);
        Assert.All(lines, l => Assert.Equal(SimulatedTeacherChatClient.ModelName, JsonDocument.Parse(l).RootElement.GetProperty("model").GetString()));

        // 2. annotate: the teacher writes a rationale and an answer for every captured input.
        var annotated = dir.File("annotated.jsonl");
        using (var teacher = TeacherFactory.Create("simulated:0", new TeacherOptions(), DemoRunner.Teachers))
        {
            var summary = await new Annotator(teacher, PromptLibrary.Resolve(LegsTask.Name, DemoRunner.Prompts), new AnnotateOptions
            {
                Concurrency = 4,
                MaxOutputTokens = 200
            })
                .RunAsync(captured, annotated, null, CancellationToken.None);
            Assert.Equal(task.Train.Count, summary.Ok);
        }
        var train = await DatasetLoader.LoadAsync(annotated, "train", MetricKind.Exact);
        Assert.Equal(task.Train.Count, train.Examples.Count(e => e.Rationale is not null && e.TeacherLabel is not null));

        // 3. train a tiny step-by-step student on the teacher's labels and rationales, briefly.
        var tokenizer = dir.File("tokenizer");
        LegsTask.BuildTokenizer().Save(tokenizer);
        var options = new TrainingOptions
        {
            Method = Method.StepByStep, Labels = LabelSource.Teacher, Model = "tiny", Tokenizer = tokenizer, MaxSteps = 40, BatchSize = 16,
            LearningRate = 2e-3, Dropout = 0, EvalEvery = 40, MaxNewTokens = 4, MaxInputLength = 64, MaxTargetLength = 64, Threads = 1,
        };
        var result = await new Trainer(options, dir.File("run")).RunAsync(train, null);

        // 4. The student answers the app, in process and through IChatClient, with the prefix it was trained with.
        await using var model = await DistilledModel.LoadAsync(result.LastCheckpoint, new DistilledModelOptions { Device = "cpu", MaxNewTokens = 4 });
        Assert.Equal(StudentInfo.PredictPrefix, model.InputPrefix);
        using IChatClient chat = model.AsChatClient();
        foreach (var q in task.Test.Take(6))
        {
            var response = await chat.GetResponseAsync([new ChatMessage(ChatRole.System, "Answer the question."), new ChatMessage(ChatRole.User, q.Input)]);
            Assert.Equal(model.Predict(q.Input), response.Text);
            Assert.False(string.IsNullOrWhiteSpace(response.Text));
            Assert.Equal(model.ModelId, response.ModelId);
        }
    }
}
