using System.Text.Json;
using StepDistill.Data;
using StepDistill.Evaluation;

namespace StepDistill.Tests.Data;

/// <summary>The official layout on small fixtures: splits, input construction, batch mapping and bad input.</summary>
public class OfficialLayoutTests
{
    static string Svamp(int i) => JsonSerializer.Serialize(new { input = $"Q{i}\nHow many?", label = $"( {i}.0 + 1.0 )" });
    static string SvampOut(int i) => $"So {i} + 1. The answer is ({i} + 1).\n\nQ: more? The answer is (0).";
    static string Array(IEnumerable<string> items) => JsonSerializer.Serialize(items.ToArray());

    /// <summary>A 20-record SVAMP folder with outputs in batches of 8 (8, 8, 4).</summary>
    static string MakeSvamp(TempDir dir, string folder = "svamp", string? devIds = "9\n19\n")
    {
        var root = dir.Sub(folder);
        dir.Write($"{folder}/svamp_train.json", string.Concat(Enumerable.Range(0, 20).Select(i => Svamp(i) + "\n")));
        for (var k = 0; k < 3; k++)
            dir.Write($"{folder}/llm/train_CoT_{k}.json", Array(Enumerable.Range(k * 8, Math.Min(8, 20 - k * 8)).Select(SvampOut)));
        if (devIds is not null) dir.Write($"{folder}/dev_ids.txt", devIds);
        return root;
    }

    [Fact]
    public void Svamp_splits_ids_and_batch_mapping()
    {
        using var dir = new TempDir();
        var root = MakeSvamp(dir);
        var dev = DatasetLoader.Load(root, "dev");
        var train = DatasetLoader.Load(root, "train");
        var full = DatasetLoader.Load(root, "train-full");
        Assert.Equal(["svamp-train-9", "svamp-train-19"], dev.Examples.Select(e => e.Id));
        Assert.Equal(18, train.Count);
        Assert.Equal(20, full.Count);
        Assert.DoesNotContain(train.Examples, e => e.Id is "svamp-train-9" or "svamp-train-19");
        Assert.Equal(MetricKind.Equation, dev.Metric);
        // Output j of file k belongs to record 8k + j: record 19 is item 3 of file 2.
        Assert.Equal(("(19 + 1)", "So 19 + 1."), (dev.Examples[1].TeacherLabel, dev.Examples[1].Rationale));
        Assert.Equal("Q19\nHow many?", dev.Examples[1].Input);
        Assert.Equal(20, Metrics.ScoreTeacher(full.Metric, full.Examples).Correct);
        Assert.Equal(MetricKind.Exact, DatasetLoader.Load(root, "dev", MetricKind.Exact).Metric);
    }

    [Fact]
    public void Without_dev_ids_the_project_rule_applies()
    {
        using var dir = new TempDir();
        var root = MakeSvamp(dir, devIds: null);
        Assert.Equal(["svamp-train-9", "svamp-train-19"], DatasetLoader.Load(root, "dev").Examples.Select(e => e.Id));
    }

    [Fact]
    public void A_folder_with_only_a_test_file_loads_the_test_split_with_its_outputs()
    {
        using var dir = new TempDir();
        dir.Write("heldout/cqa_test.json",
            JsonSerializer.Serialize(new { id = "q1", question = "Where?", choices = new[] { "a", "b", "park", "d", "e" }, answer = "park" }) + "\n");
        dir.Write("heldout/llm/test_CoT_0.json", Array(["Parks are outside. So the answer is (c) park.\n\nQ: x"]));
        var d = DatasetLoader.Load(Path.Combine(dir.Path, "heldout"), "test");
        Assert.Equal(("cqa", TaskKind.Cqa, true), (d.Name, d.Task, d.IsTest));
        Assert.Equal(new Example("q1", "Where?\nAnswer Choices:\n(a) a\n(b) b\n(c) park\n(d) d\n(e) e", "park", "Parks are outside.", "park"), d.Examples[0]);
        Assert.Throws<StepDistillException>(() => DatasetLoader.Load(Path.Combine(dir.Path, "heldout"), "train"));
    }

    [Fact]
    public void Nli_inputs_labels_and_valid_split()
    {
        using var dir = new TempDir();
        var lines = new[] { (0, "P0", "H0"), (1, "P1", "H1"), (2, "P2", "H2") }
            .Select(t => JsonSerializer.Serialize(new { premise = t.Item2, hypothesis = t.Item3, label = t.Item1 }) + "\n");
        dir.Write("esnli/esnli_valid.json", string.Concat(lines));
        dir.Write("esnli/llm/valid_CoT_0.json", Array(["R0\nAnswer: entailment\n\nPremise: x", "R1\nAnswer: neutral", "R2"]));
        var d = DatasetLoader.Load(Path.Combine(dir.Path, "esnli"), "valid");
        Assert.Equal(["P0</s>H0", "P1</s>H1", "P2</s>H2"], d.Examples.Select(e => e.Input));
        Assert.Equal(["entailment", "neutral", "contradiction"], d.Examples.Select(e => e.Label));
        Assert.Equal(["entailment", "neutral", " "], d.Examples.Select(e => e.TeacherLabel));
        Assert.Equal(["esnli-valid-0", "esnli-valid-1", "esnli-valid-2"], d.Examples.Select(e => e.Id));

        dir.Write("anli/anli1_valid.json", JsonSerializer.Serialize(new { uid = "u1", premise = "P", hypothesis = "H", label = 1, reason = "r" }) + "\n");
        var a = DatasetLoader.Load(Path.Combine(dir.Path, "anli"), "dev"); // named by its files, not its folder
        Assert.Equal(("anli1", TaskKind.Anli), (a.Name, a.Task));
        Assert.Equal(new Example("u1", "P</s>H", "neutral"), a.Examples[0]); // no llm folder: no rationale
    }

    [Fact]
    public void Only_the_requested_split_is_read()
    {
        using var dir = new TempDir();
        var root = MakeSvamp(dir);
        dir.Write("svamp/svamp_test.json", "{not json\n"); // would fail if read
        Assert.Equal(2, DatasetLoader.Load(root, "dev").Count);
        dir.Write("svamp/llm/test_CoT_0.json", "[");
        Assert.Throws<StepDistillException>(() => DatasetLoader.Load(root, "test"));
    }

    static StepDistillException Fails(string path, string split, params string[] fragments)
    {
        var e = Assert.Throws<StepDistillException>(() => DatasetLoader.Load(path, split));
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        return e;
    }

    [Fact]
    public void Count_mismatch_names_both_files_and_counts()
    {
        using var dir = new TempDir();
        var root = MakeSvamp(dir);
        File.WriteAllText(Path.Combine(root, "llm", "train_CoT_2.json"), Array(Enumerable.Range(16, 3).Select(SvampOut)));
        Fails(root, "dev", "svamp_train.json:20:", "20 records", "19", "train_CoT_0.json: 8", "train_CoT_2.json: 3", Path.Combine(root, "llm"));
    }

    [Fact]
    public void Short_middle_batch_gap_and_bad_output_files_are_errors()
    {
        using var dir = new TempDir();
        var root = MakeSvamp(dir);
        File.WriteAllText(Path.Combine(root, "llm", "train_CoT_1.json"), Array(Enumerable.Range(8, 7).Select(SvampOut)));
        Fails(root, "dev", "train_CoT_1.json", "7 outputs");

        root = MakeSvamp(dir, "svamp2");
        File.Move(Path.Combine(root, "llm", "train_CoT_1.json"), Path.Combine(root, "llm", "train_CoT_5.json"));
        Fails(root, "dev", "train_CoT_5.json", "train_CoT_1.json is missing");

        root = MakeSvamp(dir, "svamp3");
        File.WriteAllText(Path.Combine(root, "llm", "train_CoT_2.json"), "[\"a\",\n\"b\",\n3]");
        Fails(root, "dev", "train_CoT_2.json:3:", "item 2");

        root = MakeSvamp(dir, "svamp4");
        File.WriteAllText(Path.Combine(root, "llm", "train_CoT_0.json"), "[\"a\",\n\"b\" \"c\"]");
        Fails(root, "dev", "train_CoT_0.json:2:", "malformed JSON");

        root = MakeSvamp(dir, "svamp5");
        File.WriteAllText(Path.Combine(root, "llm", "train_CoT_0.json"), "{\"a\": 1}");
        Fails(root, "dev", "train_CoT_0.json:1:", "array");
    }

    [Fact]
    public void Bad_dev_ids_name_file_and_line()
    {
        using var dir = new TempDir();
        Fails(MakeSvamp(dir, "a", "9\n20\n"), "dev", "dev_ids.txt:2:", "20", "out of range", "svamp_train.json");
        Fails(MakeSvamp(dir, "b", "9\nnine\n"), "train", "dev_ids.txt:2:", "'nine'");
        Fails(MakeSvamp(dir, "c", "9\n-1\n"), "dev", "dev_ids.txt:2:");
        Fails(MakeSvamp(dir, "d", "9\n9\n"), "dev", "dev_ids.txt:2:", "twice");
        Fails(MakeSvamp(dir, "svamp", "\n"), "dev", "svamp_train.json", "empty");
    }

    [Fact]
    public void Bad_records_name_file_and_line()
    {
        using var dir = new TempDir();
        void Svamp(string folder, string content) => dir.Write($"{folder}/svamp_train.json", content);
        var ok = JsonSerializer.Serialize(new { input = "x", label = "( 1.0 )" });

        Svamp("s1", ok + "\n{\"input\": \"y\", \"label\": \n");
        Fails(Path.Combine(dir.Path, "s1"), "train-full", "svamp_train.json:2:", "malformed JSON");
        Svamp("s2", ok + "\n" + ok + "\n{\"label\": \"( 1.0 )\"}\n");
        Fails(Path.Combine(dir.Path, "s2"), "train-full", "svamp_train.json:3:", "'input'");
        Svamp("s3", ok + "\n{\"input\": 5, \"label\": \"( 1.0 )\"}\n");
        Fails(Path.Combine(dir.Path, "s3"), "train-full", "svamp_train.json:2:", "'input'", "a number");
        Svamp("s4", ok + "\n\n" + ok + "\n");
        Fails(Path.Combine(dir.Path, "s4"), "train-full", "svamp_train.json:2:", "empty line");
        Svamp("s5", "");
        Fails(Path.Combine(dir.Path, "s5"), "train-full", "svamp_train.json", "empty");
        Svamp("s6", "[1, 2]\n");
        Fails(Path.Combine(dir.Path, "s6"), "train-full", "svamp_train.json:1:", "object");

        dir.Write("e/esnli_valid.json", "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": -1}\n");
        Fails(Path.Combine(dir.Path, "e"), "dev", "esnli_valid.json:1:", "label");
        dir.Write("c/cqa_train.json", "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": \"a\"}\n");
        Fails(Path.Combine(dir.Path, "c"), "train-full", "cqa_train.json:1:", "5");
        dir.Write("c2/cqa_train.json", "{\"id\": \"x\", \"question\": \"q\", \"choices\": [\"a\",\"b\",\"c\",\"d\",\"e\"], \"answer\": \"a\"}\n"
            + "{\"id\": \"x\", \"question\": \"q\", \"choices\": [\"a\",\"b\",\"c\",\"d\",\"e\"], \"answer\": \"a\"}\n");
        Fails(Path.Combine(dir.Path, "c2"), "train-full", "cqa_train.json:2:", "duplicate id 'x'", "line 1");
    }

    [Fact]
    public void Cqa_output_without_answer_marker_names_the_output_file()
    {
        using var dir = new TempDir();
        dir.Write("cqa/cqa_train.json", JsonSerializer.Serialize(new { question = "q", choices = new[] { "a", "b", "c", "d", "e" }, answer = "a" }) + "\n");
        dir.Write("cqa/llm/train_CoT_0.json", Array(["I think (a) a."]));
        Fails(Path.Combine(dir.Path, "cqa"), "train-full", "train_CoT_0.json", "output 0", "cqa_train.json:1", "So the answer is");
    }

    [Fact]
    public void Unknown_folders_splits_and_paths_are_errors()
    {
        using var dir = new TempDir();
        dir.Write("mystery/notes.txt", "x");
        Fails(Path.Combine(dir.Path, "mystery"), "train", "cannot tell");
        dir.Write("mixed/svamp_train.json", "");
        dir.Write("mixed/cqa_train.json", "");
        Fails(Path.Combine(dir.Path, "mixed"), "train", "cqa, svamp");
        Fails(Path.Combine(dir.Path, "mystery"), "holdout", "unknown split 'holdout'");
        Fails(Path.Combine(dir.Path, "nope"), "train", "no such file or folder");
        Assert.Throws<StepDistillException>(() => DatasetLoader.Load(Path.Combine(dir.Path, "mystery"), null));
    }
}
