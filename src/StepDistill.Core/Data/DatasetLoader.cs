using System.Globalization;
using System.Text.Json;
using StepDistill.Evaluation;

namespace StepDistill.Data;

/// <summary>
/// Loads a split from our JSONL format or from the official distilling-step-by-step layout
/// (<c>&lt;name&gt;_&lt;split&gt;.json</c> plus <c>llm/&lt;split&gt;_CoT_&lt;k&gt;.json</c>; shared/datasets/README.md).
/// Only the files the requested split needs are read. Bad input raises <see cref="StepDistillException"/>
/// naming the file and 1-based line.
/// </summary>
/// <remarks>
/// <para>The <c>path</c> forms accepted by <see cref="LoadAsync"/>:</para>
/// <list type="bullet">
/// <item>a file: our JSONL; <c>split</c> only labels it (default <c>all</c>);</item>
/// <item>a folder holding <c>&lt;split&gt;.jsonl</c> (for dev also <c>valid.jsonl</c>/<c>validation.jsonl</c>): that file;</item>
/// <item>an official-layout folder (<c>svamp</c>, <c>cqa</c>, <c>anli1</c>, <c>esnli</c>), recognised by its
/// <c>&lt;name&gt;_&lt;split&gt;.json</c> files or else its folder name.</item>
/// </list>
/// <para>Official splits: SVAMP/CQA <c>dev</c> = records of <c>&lt;name&gt;_train.json</c> whose 0-based line
/// index is listed in <c>dev_ids.txt</c> (without that file, the project rule index mod 10 = 9),
/// <c>train</c> = the other records, <c>train-full</c> = all of them, <c>test</c> = <c>&lt;name&gt;_test.json</c>.
/// ANLI/e-SNLI: <c>train</c> = <c>_train.json</c>, <c>dev</c> = <c>_valid.json</c>, <c>test</c> = <c>_test.json</c>.</para>
/// </remarks>
public static class DatasetLoader
{
    /// <summary>Loads <paramref name="split"/> of <paramref name="path"/>. <paramref name="metric"/> overrides the task's metric.</summary>
    public static Task<Dataset> LoadAsync(string path, string? split = null, MetricKind? metric = null, CancellationToken cancellationToken = default) =>
        LoadCore(path, split, metric, TextFiles.Async, cancellationToken).AsTask();

    /// <summary>Synchronous <see cref="LoadAsync"/> (same rules; for tests, benchmarks and small tools).</summary>
    public static Dataset Load(string path, string? split = null, MetricKind? metric = null)
    {
        // With the synchronous reader every await completes inline, so this never blocks on a pending task.
        var task = LoadCore(path, split, metric, TextFiles.Sync, CancellationToken.None);
        return task.IsCompleted ? task.Result : task.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>
    /// The canonical split name: <c>train</c>, <c>dev</c> (also <c>valid</c>, <c>validation</c>, <c>val</c>),
    /// <c>test</c> or <c>train-full</c> (SVAMP/CQA train including dev).
    /// </summary>
    public static string NormalizeSplit(string split) => split.Trim().ToLowerInvariant() switch
    {
        "train" or "training" => "train",
        "dev" or "valid" or "validation" or "val" => "dev",
        "test" => "test",
        "train-full" or "train_full" or "full-train" or "full" => "train-full",
        _ => throw new StepDistillException($"unknown split '{split}' (expected train, dev, test or train-full)"),
    };

    static async ValueTask<Dataset> LoadCore(string path, string? split, MetricKind? metric, TextFiles files, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (File.Exists(path)) return await LoadJsonlAsync(path, LabelForFile(split), metric, files, ct).ConfigureAwait(false);
        if (!Directory.Exists(path)) throw new StepDistillException($"{path}: no such file or folder");
        if (split is null) throw new StepDistillException($"{path} is a folder: say which split to load (train, dev, test)");
        var canonical = NormalizeSplit(split);

        foreach (var name in JsonlNames(canonical))
        {
            var candidate = Path.Combine(path, name);
            if (File.Exists(candidate)) return await LoadJsonlAsync(candidate, canonical, metric, files, ct).ConfigureAwait(false);
        }
        var (dataset, task) = DetectOfficial(path);
        return await LoadOfficialAsync(path, dataset, task, canonical, metric, files, ct).ConfigureAwait(false);
    }

    /// <summary>A JSONL file is its own split: known names are normalised (so <c>test</c> marks it held out), others kept.</summary>
    static string LabelForFile(string? split)
    {
        if (string.IsNullOrWhiteSpace(split)) return "all";
        try { return NormalizeSplit(split); }
        catch (StepDistillException) { return split.Trim(); }
    }

    static IEnumerable<string> JsonlNames(string split) => split switch
    {
        "dev" => ["dev.jsonl", "valid.jsonl", "validation.jsonl"],
        _ => [split + ".jsonl"],
    };

    static async ValueTask<Dataset> LoadJsonlAsync(string file, string split, MetricKind? metric, TextFiles files, CancellationToken ct)
    {
        var text = await files.ReadAsync(file, ct).ConfigureAwait(false);
        var content = ExampleJsonl.Parse(file, text);
        var task = content.Task ?? TaskKind.Generic;
        var chosen = metric ?? content.Metric ?? task.DefaultMetric();
        return new Dataset(Path.GetFileNameWithoutExtension(file), split, task, chosen, file, content.Examples);
    }

    /// <summary>The dataset name and task of an official-layout folder, from its files, else its folder name.</summary>
    internal static (string Name, TaskKind Task) DetectOfficial(string folder)
    {
        var prefixes = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(folder, "*.json"))
        {
            var stem = Path.GetFileNameWithoutExtension(f);
            var cut = stem.LastIndexOf('_');
            if (cut <= 0 || stem[(cut + 1)..] is not ("train" or "valid" or "test")) continue;
            var prefix = stem[..cut];
            if (TaskKinds.TryFromName(prefix, out _)) prefixes.Add(prefix);
        }
        if (prefixes.Count == 1)
        {
            TaskKinds.TryFromName(prefixes.Min, out var t);
            return (prefixes.Min!, t);
        }
        var folderName = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
        if (TaskKinds.TryFromName(folderName, out var byFolder)) return (folderName, byFolder);
        throw new StepDistillException(prefixes.Count > 1
            ? $"{folder}: holds files of several datasets ({string.Join(", ", prefixes)}); pass the folder of one"
            : $"{folder}: cannot tell which dataset this is: expected <split>.jsonl, or official files such as svamp_train.json, cqa_train.json, " +
                $"anli1_valid.json, esnli_valid.json");
    }

    static async ValueTask<Dataset> LoadOfficialAsync(string folder, string name, TaskKind task, string split, MetricKind? metric, TextFiles files,
        CancellationToken ct)
    {
        var devFromTrain = task is TaskKind.Svamp or TaskKind.Cqa;
        var fileSplit = split switch
        {
            "train" or "train-full" => "train",
            "dev" => devFromTrain ? "train" : "valid",
            _ => "test",
        };
        var examplesPath = Path.Combine(folder, $"{name}_{fileSplit}.json");
        if (!File.Exists(examplesPath))
            throw new StepDistillException($"{folder}: split '{split}' needs {name}_{fileSplit}.json, which is not there");

        var records = OfficialRecords.Parse(examplesPath, await files.ReadAsync(examplesPath, ct).ConfigureAwait(false), name, fileSplit, task);
        var outputs = await PalmOutputs.ReadAsync(folder, fileSplit, examplesPath, records.Count, files, ct).ConfigureAwait(false);

        IEnumerable<int> indices = Enumerable.Range(0, records.Count);
        if (devFromTrain && split is "train" or "dev")
        {
            var dev = await DevIds.ReadAsync(Path.Combine(folder, "dev_ids.txt"), examplesPath, records.Count, files, ct).ConfigureAwait(false);
            indices = indices.Where(i => dev.Contains(i) == (split == "dev"));
        }

        var examples = new List<Example>(records.Count);
        foreach (var i in indices)
        {
            var ex = records[i];
            if (outputs is not null)
            {
                var (file, item, text) = outputs[i];
                var parsed = PalmOutputParser.Parse(task, text)
                    ?? throw new StepDistillException($"{file}: output {item} (record {i}, {examplesPath}:{i + 1}) does not contain exactly one 'So " +
                        $"the answer is', so no label can be parsed");
                ex = ex with { Rationale = parsed.Rationale, TeacherLabel = parsed.Label };
            }
            examples.Add(ex);
        }
        if (examples.Count == 0) throw new StepDistillException($"{examplesPath}: split '{split}' is empty");
        return new Dataset(name, split, task, metric ?? task.DefaultMetric(), folder, examples);
    }

    /// <summary>Reading the official example files and building inputs and gold labels (shared/datasets/README.md, section 5).</summary>
    static class OfficialRecords
    {
        static readonly string[] NliLabels = ["entailment", "neutral", "contradiction"];

        public static List<Example> Parse(string path, string text, string name, string fileSplit, TaskKind task)
        {
            var list = new List<Example>();
            var ids = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (number, line) in TextFiles.Lines(text))
            {
                // Record i is line i: a blank line would shift every PaLM output after it.
                if (string.IsNullOrWhiteSpace(line)) throw Jsonl.Error(path, number, "empty line (record i must be on line i)");
                using var doc = Jsonl.ParseLine(path, number, line);
                var r = doc.RootElement;
                var index = number - 1;
                var id = Jsonl.OptionalString(path, number, r, "id") ?? Jsonl.OptionalString(path, number, r, "uid")
                    ?? string.Create(CultureInfo.InvariantCulture, $"{name}-{fileSplit}-{index}");
                Jsonl.CheckUnique(ids, id, path, number);
                list.Add(task switch
                {
                    TaskKind.Svamp => new Example(id, Required(path, number, r, "input"), Required(path, number, r, "label")),
                    TaskKind.Cqa => Cqa(path, number, r, id),
                    _ => new Example(id,
                        Required(path, number, r, "premise") + "</s>" + Required(path, number, r, "hypothesis"),
                        NliLabel(path, number, r)),
                });
            }
            if (list.Count == 0) throw new StepDistillException($"{path}: no records (the file is empty)");
            return list;
        }

        static Example Cqa(string path, int number, JsonElement r, string id)
        {
            var question = Required(path, number, r, "question");
            if (!r.TryGetProperty("choices", out var c) || c.ValueKind != JsonValueKind.Array || c.GetArrayLength() != 5)
                throw Jsonl.Error(path, number, "field 'choices' must be an array of exactly 5 strings");
            var input = new System.Text.StringBuilder(question).Append("\nAnswer Choices:");
            var letter = 'a';
            foreach (var choice in c.EnumerateArray())
            {
                if (choice.ValueKind != JsonValueKind.String)
                    throw Jsonl.Error(path, number, $"choice ({letter}) must be a string, not {Jsonl.Kind(choice)}");
                input.Append("\n(").Append(letter++).Append(") ").Append(choice.GetString());
            }
            return new Example(id, input.ToString(), Required(path, number, r, "answer"));
        }

        static string NliLabel(string path, int number, JsonElement r)
        {
            if (r.TryGetProperty("label", out var v))
            {
                if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var k) && k is >= 0 and <= 2) return NliLabels[k];
                if (v.ValueKind == JsonValueKind.String && Array.IndexOf(NliLabels, v.GetString()) >= 0) return v.GetString()!;
                throw Jsonl.Error(path, number, $"field 'label' must be 0, 1 or 2 (entailment, neutral, contradiction), got {v.GetRawText()}");
            }
            throw Jsonl.Error(path, number, "missing field 'label'");
        }

        static string Required(string path, int number, JsonElement r, string field) =>
            Jsonl.OptionalString(path, number, r, field) ?? throw Jsonl.Error(path, number, $"missing string field '{field}'");
    }
}
