using System.Text.Json;
using System.Text.Json.Nodes;
using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;

namespace StepDistill.Teacher.Tests;

internal static class TestUtil
{
    /// <summary>Writes n arithmetic inputs "item-i" whose gold label is ( i.0 + 1.0 ).</summary>
    public static string WriteInputs(string path, int n)
    {
        var lines = Enumerable.Range(0, n).Select(i => JsonSerializer.Serialize(new
        {
            id = $"item-{i}", input = $"Problem {i}: Ann has {i} apples and " +
            $"gets 1 more. How many apples does she have?", label = $"( {i}.0 + 1.0 )"
        }));
        System.IO.File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>The item number in a request's new input ("Problem 17: ...").</summary>
    public static int ItemOf(RecordedRequest r)
    {
        var text = r.LastUser;
        var at = text.IndexOf("Problem ", StringComparison.Ordinal) + 8;
        var end = text.IndexOf(':', at);
        return int.Parse(text[at..end]);
    }

    public static string GoodAnswer(int i) => $"Ann has {i} apples and gets 1 more, so {i} + 1 = {i + 1}. So the answer is ( {i} + 1 ).";

    public static List<JsonObject> ReadOutput(string path) =>
        System.IO.File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();

    public static TeacherClient OpenAITeacher(FakeOpenAIServer server) =>
        TeacherFactory.Create("openai:teacher-model", new TeacherOptions { Endpoint = server.BaseUri, ApiKeyEnv = "STEPDISTILL_TEST_KEY_UNSET" });

    public static AnnotateOptions FastOptions => new()
    {
        Concurrency = 4,
        Timeout = TimeSpan.FromSeconds(5),
        MaxRetries = 3,
        RetryBaseDelay = TimeSpan.FromMilliseconds(5),
        MaxRetryDelay = TimeSpan.FromMilliseconds(50),
    };

    public static async Task<(AnnotateSummary Summary, List<JsonObject> Output)> RunAsync(FakeOpenAIServer server, TempDir dir, int n,
        AnnotateOptions? options = null, string prompt = "svamp")
    {
        var input = WriteInputs(dir.File("in.jsonl"), n);
        var output = dir.File("out.jsonl");
        using var teacher = OpenAITeacher(server);
        var annotator = new Annotator(teacher, PromptLibrary.Resolve(prompt), options ?? FastOptions);
        var summary = await annotator.RunAsync(input, output);
        return (summary, ReadOutput(output));
    }
}
