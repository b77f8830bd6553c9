using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;
using StepDistill.Tests;
using static StepDistill.Teacher.Tests.TestUtil;

namespace StepDistill.Teacher.Tests;

/// <summary>The in-process local model path, with a tiny random-weight GGUF (its output is gibberish).</summary>
public class GgufTest
{
    [Trait("Category", "SharedData")]
    [SkippableFact]
    public async Task Local_gguf_model_annotates_and_reports_unparseable_gibberish()
    {
        var model = SharedData.Require("fixtures/gguf/llama-2-tiny-random.gguf");
        using var dir = new TempDir();
        var input = WriteInputs(dir.File("in.jsonl"), 2);
        var options = new AnnotateOptions { MaxOutputTokens = 24, Seed = 1, Concurrency = 4, Timeout = TimeSpan.FromSeconds(60) };
        using (var teacher = TeacherFactory.Create("gguf:" + model, new TeacherOptions { ContextSize = 2048, Threads = 2 }))
        {
            Assert.Equal(1, teacher.MaxConcurrency);
            var summary = await new Annotator(teacher, PromptLibrary.Resolve("svamp"), options).RunAsync(input, dir.File("out.jsonl"));
            Assert.Equal(2, summary.Written);
            Assert.Equal(2, summary.Unparseable + summary.Ok); // random weights: unparseable in practice, never failed
            Assert.Equal(0, summary.Failed);
            foreach (var o in ReadOutput(dir.File("out.jsonl")))
            {
                Assert.Equal("unparseable", (string?)o["status"]);
                Assert.Single(o["raw"]!.AsArray());
                Assert.False(string.IsNullOrEmpty((string?)o["error"]));
            }
        }
        // A second output with the same cache: the answers come from the cache, no generation at all.
        using (var teacher = TeacherFactory.Create("gguf:" + model, new TeacherOptions { ContextSize = 2048, Threads = 2 }))
        {
            var again = await new Annotator(teacher, PromptLibrary.Resolve("svamp"), options with { CachePath = dir.File("out.jsonl.cache.sqlite") })
                .RunAsync(input, dir.File("out2.jsonl"));
            Assert.Equal(2, again.CacheHits);
            Assert.Equal(0, again.Requests);
        }
    }

    [Fact]
    public void Missing_gguf_file_is_a_clear_error()
    {
        var e = Assert.Throws<StepDistillException>(() => TeacherFactory.Create("gguf:/nonexistent/model.gguf", new TeacherOptions()));
        Assert.Equal("Teacher = gguf:/nonexistent/model.gguf: file not found", e.Message); // the CLI says --teacher (CliErrorTests)
    }
}
