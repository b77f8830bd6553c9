using StepDistill.Data;
using StepDistill.Evaluation;

namespace StepDistill.Tests.Data;

public class JsonlTests
{
    [Fact]
    public async Task Round_trip_keeps_every_field_including_odd_text()
    {
        using var dir = new TempDir();
        var examples = new[]
        {
            new Example("a1", "Line one\nline \"two\" \u00e9\u4e2d </s> \\", "( 1.0 + 2.0 )", "Because 1 + 2 = 3.", "(1 + 2)"),
            new Example("b2", "no extras"),
            new Example("c3", "", null, "", " "),
        };
        var path = Path.Combine(dir.Path, "sub", "set.jsonl");
        await ExampleJsonl.WriteAsync(path, examples.Where(e => e.Input.Length > 0), MetricKind.Equation);
        var d = await DatasetLoader.LoadAsync(path, "train");
        Assert.Equal(examples.Take(2), d.Examples);
        Assert.Equal(("set", "train", TaskKind.Generic, MetricKind.Equation), (d.Name, d.Split, d.Task, d.Metric));
        Assert.Equal(MetricKind.Exact, DatasetLoader.Load(path, null, MetricKind.Exact).Metric); // the CLI's --metric wins
        Assert.Equal("all", DatasetLoader.Load(path).Split);
        Assert.Equal("dev", DatasetLoader.Load(path, "valid").Split);
        Assert.True(DatasetLoader.Load(path, "test").IsTest);
        Assert.Equal("fold-3", DatasetLoader.Load(path, "fold-3").Split);
    }

    [Fact]
    public void Defaults_hints_and_ignored_fields()
    {
        using var dir = new TempDir();
        var path = dir.Write("d.jsonl",
            "{\"input\": \"first\", \"extra\": [1, {\"x\": 2}]}\r\n" +
            "\n" +
            "{\"id\": 7, \"input\": \"second\", \"label\": \"yes\", \"rationale\": null}\n" +
            "   \n" +
            "{\"input\": \"third\", \"task\": \"cqa\"}");
        var d = DatasetLoader.Load(path);
        Assert.Equal(["1", "7", "5"], d.Examples.Select(e => e.Id)); // default id: the 1-based line number
        Assert.Equal(new Example("7", "second", "yes"), d.Examples[1]);
        Assert.Equal((TaskKind.Cqa, MetricKind.Exact), (d.Task, d.Metric));

        var svamp = dir.Write("s.jsonl", "{\"task\": \"svamp\"}\n{\"input\": \"x\", \"label\": \"( 1.0 )\"}\n");
        var s = DatasetLoader.Load(svamp);
        Assert.Equal((TaskKind.Svamp, MetricKind.Equation, 1), (s.Task, s.Metric, s.Count));
        Assert.Equal("2", s.Examples[0].Id);
    }

    [Fact]
    public void Annotate_records_that_failed_have_no_rationale_or_teacher_label()
    {
        using var dir = new TempDir();
        var path = dir.Write("annotated.jsonl",
            "{\"id\": \"a\", \"input\": \"x\", \"label\": \"l\", \"rationale\": \"r\", \"teacher_label\": \"t\", \"status\": \"ok\", \"rationales\": " +
                "[\"r\", \"s\"], \"raw\": \"...\"}\n" +
            "{\"id\": \"b\", \"input\": \"y\", \"label\": \"l\", \"rationale\": \"partial\", \"teacher_label\": \"t\", \"status\": \"parse_error\"}\n" +
            "{\"id\": \"c\", \"input\": \"z\", \"rationale\": \"r\", \"status\": null}\n");
        var d = DatasetLoader.Load(path, "train");
        Assert.Equal(new Example("a", "x", "l", "r", "t"), d.Examples[0]);
        Assert.Equal(new Example("b", "y", "l"), d.Examples[1]);
        Assert.Equal(new Example("c", "z"), d.Examples[2]);
    }

    [Fact]
    public void A_folder_of_split_files_loads_the_asked_split()
    {
        using var dir = new TempDir();
        dir.Write("mine/train.jsonl", "{\"input\": \"t\"}\n");
        dir.Write("mine/valid.jsonl", "{\"input\": \"v\"}\n");
        var folder = Path.Combine(dir.Path, "mine");
        Assert.Equal("v", DatasetLoader.Load(folder, "dev").Examples[0].Input);
        Assert.Equal("t", DatasetLoader.Load(folder, "training").Examples[0].Input);
        Assert.Equal("dev", DatasetLoader.Load(folder, "validation").Split);
    }

    [Theory]
    [InlineData("{\"input\": \"a\"}\n{\"input\": \"b\",}\n", 2, "malformed JSON")]
    [InlineData("{\"input\": \"a\"}\n\n{\"label\": \"b\"}\n", 3, "'input'")]
    [InlineData("{\"input\": \"a\", \"label\": 1}\n", 1, "'label' must be a string, not a number")]
    [InlineData("{\"input\": \"a\", \"rationale\": [\"r\"]}\n", 1, "'rationale' must be a string, not an array")]
    [InlineData("{\"input\": \"a\", \"teacher_label\": true}\n", 1, "'teacher_label'")]
    [InlineData("{\"input\": \"\"}\n", 1, "empty")]
    [InlineData("{\"input\": \"a\", \"id\": \"x\"}\n{\"input\": \"b\", \"id\": \"x\"}\n", 2, "duplicate id 'x' (first on line 1)")]
    [InlineData("{\"input\": \"a\", \"id\": {}}\n", 1, "'id'")]
    [InlineData("\"just a string\"\n", 1, "object")]
    [InlineData("{\"input\": \"a\", \"metric\": \"bleu\"}\n", 1, "unknown metric 'bleu'")]
    [InlineData("{\"input\": \"a\", \"task\": \"mnli\"}\n", 1, "unknown task 'mnli'")]
    [InlineData("{\"input\": \"a\", \"metric\": \"exact\"}\n{\"input\": \"b\", \"metric\": \"equation\"}\n", 2, "line 1")]
    [InlineData("{\"task\": \"svamp\"}\n{\"input\": \"b\", \"task\": \"cqa\"}\n", 2, "line 1")]
    [InlineData("{\"metric\": \"exact\"}\n{\"metric\": \"exact\"}\n", 2, "'input'")] // only the first line may be a header
    public void Bad_lines_name_file_and_line(string content, int line, string fragment)
    {
        using var dir = new TempDir();
        var path = dir.Write("bad.jsonl", content);
        var e = Assert.Throws<StepDistillException>(() => DatasetLoader.Load(path, "train"));
        Assert.StartsWith($"{path}:{line}: ", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n  \n")]
    [InlineData("{\"metric\": \"exact\"}\n")]
    public void Empty_sets_are_errors(string content)
    {
        using var dir = new TempDir();
        var path = dir.Write("empty.jsonl", content);
        var e = Assert.Throws<StepDistillException>(() => DatasetLoader.Load(path, "train"));
        Assert.Contains(path, e.Message);
        Assert.Contains("no examples", e.Message);
    }
}
