using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using StepDistill.Inference;
using static TorchSharp.torch;

namespace StepDistill.Cli.Tests;

/// <summary>
/// The bad-input campaign: malformed files and arguments across the verbs, run in-process through the real
/// command tree. Each must end with exactly one <c>error:</c> line naming the file (and line or tensor) and the
/// problem, a non-zero exit code, no stack trace, and every file that existed before unchanged. A few inputs that
/// look odd but are valid (BOM, CRLF) must be read as their plain equivalents. The same table is docs/errors.md.
/// </summary>
public sealed class BadInputTests : IClassFixture<BadInputTests.Checkpoint>
{
    /// <summary>One valid tiny byte-level checkpoint, made once and copied into each case that corrupts it.</summary>
    public sealed class Checkpoint : IDisposable
    {
        public string Root { get; } = Directory.CreateTempSubdirectory("stepdistill-badinput-").FullName;
        public string Folder => Path.Combine(Root, "base");

        public Checkpoint()
        {
            using var student = T5Student.Create("tiny", "byte", seed: 0, CPU);
            student.Save(Folder, new StudentInfo("standard", "gold", "predict: "));
        }

        public void Dispose() => Directory.Delete(Root, true);
    }

    readonly Checkpoint _checkpoint;
    readonly Xunit.Abstractions.ITestOutputHelper _output;
    public BadInputTests(Checkpoint checkpoint, Xunit.Abstractions.ITestOutputHelper output) => (_checkpoint, _output) = (checkpoint, output);

    /// <summary>A fresh folder per case with helpers to lay out its files.</summary>
    public sealed class Case(string root, string baseCheckpoint)
    {
        public string Root { get; } = root;
        public string P(string name) => Path.Combine(Root, name);

        public string Write(string name, string text)
        {
            var path = P(name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text, new UTF8Encoding(false));
            return path;
        }

        public string WriteBytes(string name, byte[] bytes)
        {
            var path = P(name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, bytes);
            return path;
        }

        /// <summary>A copy of the valid checkpoint at <paramref name="name"/>.</summary>
        public string Model(string name = "model")
        {
            var dest = P(name);
            Directory.CreateDirectory(dest);
            foreach (var f in Directory.GetFiles(baseCheckpoint)) File.Copy(f, Path.Combine(dest, Path.GetFileName(f)));
            return dest;
        }

        /// <summary>A checkpoint whose safetensors header is rewritten by <paramref name="change"/> (data kept).</summary>
        public string ModelWithHeader(Action<JsonObject> change, Func<byte[], byte[]>? data = null)
        {
            var dir = Model();
            var file = Path.Combine(dir, "model.safetensors");
            var bytes = File.ReadAllBytes(file);
            var len = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            var header = (JsonObject)JsonNode.Parse(bytes.AsSpan(8, len))!;
            var body = bytes[(8 + len)..];
            change(header);
            var newHeader = Encoding.UTF8.GetBytes(header.ToJsonString());
            WriteSafetensors(file, newHeader, data?.Invoke(body) ?? body);
            return dir;
        }

        public static void WriteSafetensors(string file, byte[] header, byte[] body)
        {
            var result = new byte[8 + header.Length + body.Length];
            BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)header.Length);
            header.CopyTo(result, 8);
            body.CopyTo(result, 8 + header.Length);
            File.WriteAllBytes(file, result);
        }

        /// <summary>A checkpoint whose config.json is changed by <paramref name="change"/>.</summary>
        public string ModelWithConfig(Action<JsonObject> change)
        {
            var dir = Model();
            var path = Path.Combine(dir, "config.json");
            var json = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
            change(json);
            File.WriteAllText(path, json.ToJsonString());
            return dir;
        }

        /// <summary>A checkpoint with <c>model.safetensors</c> replaced by a <c>pytorch_model.bin</c> holding <paramref name="entries"/>.</summary>
        public string ModelWithBin(params (string Name, byte[] Bytes)[] entries)
        {
            var dir = Model();
            File.Delete(Path.Combine(dir, "model.safetensors"));
            using var zip = ZipFile.Open(Path.Combine(dir, "pytorch_model.bin"), ZipArchiveMode.Create);
            foreach (var (name, bytes) in entries)
            {
                using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                s.Write(bytes);
            }
            return dir;
        }

        public string Jsonl(string name, params string[] lines) => Write(name, string.Concat(lines.Select(l => l + "\n")));
    }

    const string Good1 = """{"id":"a","input":"1+2","label":"3","rationale":"1 plus 2 is 3","teacher_label":"3"}""";
    const string Good2 = """{"id":"b","input":"2+2","label":"4","rationale":"2 plus 2 is 4","teacher_label":"4"}""";

    static string[] Train(Case c, string data, params string[] extra) =>
        ["train", "--data", data, "--model", "tiny", "--max-steps", "1", "--eval-every", "1", "--batch-size", "2", "--max-new-tokens", "2", "--device",
            "cpu", "--threads", "1", "--out", c.P("run"), .. extra];

    static string[] Predict(Case c, string model, string input, params string[] extra) =>
        ["predict", "--model", model, "--input", input, "--output", c.P("pred.jsonl"), "--max-new-tokens", "2", "--device", "cpu", .. extra];

    static string[] Generate(string model) => ["generate", "--model", model, "--input", "1+2", "--max-new-tokens", "2", "--device", "cpu"];

    static string[] Evaluate(Case c, string model, string data, params string[] extra) =>
        ["evaluate", "--model", model, "--data", data, "--max-new-tokens", "2", "--device", "cpu", .. extra];

    static string[] Annotate(Case c, string input, params string[] extra) =>
        ["annotate", "--teacher", "openai:none", "--endpoint", "http://127.0.0.1:9/v1", "--prompt", "svamp", "--input", input, "--output",
            c.P("out.jsonl"), .. extra];

    /// <summary>One row: what is wrong, the verb, how to set it up, and what the error line must mention.</summary>
    public sealed record Row(string Input, string Verb, Func<Case, string[]> Arrange, params string[] Expect)
    {
        /// <summary>Valid input that looks odd: must succeed.</summary>
        public bool Accepted { get; init; }
        /// <summary>Environment variables set for the run only (test-only fault seams).</summary>
        public (string Name, string Value)[] Env { get; init; } = [];
        public override string ToString() => Input;
    }

    static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    static readonly Row[] Rows =
    [
        // ---- JSONL ---------------------------------------------------------------------------------------------
        new("JSONL: truncated last line", "train", c => Train(c, c.Write("train.jsonl", Good1 + "\n" + Good2[..30])), "train.jsonl", "2"),
        new("JSONL: a line that is not JSON", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, "not json at all")), "train.jsonl", "2"),
        new("JSONL: a line that is an array", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, "[1,2,3]")), "train.jsonl", "2"),
        new("JSONL: input is a number", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, """{"id":"b","input":5,"label":"4"}""")), "train.jsonl",
            "2", "input"),
        new("JSONL: label is an object", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, """{"id":"b","input":"2+2","label":{"x":1}}""")),
            "train.jsonl", "2", "label"),
        new("JSONL: missing input", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, """{"id":"b","label":"4"}""")), "train.jsonl", "2", "input"),
        new("JSONL: duplicate ids", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good1)), "train.jsonl", "2", "duplicate"),
        new("JSONL: empty file", "train", c => Train(c, c.Write("train.jsonl", "")), "train.jsonl"),
        new("JSONL: invalid UTF-8 bytes", "train", c => Train(c, c.WriteBytes("train.jsonl", [.. Utf8(Good1 + "\n{\"id\":\"b\",\"input\":\"2"), 0xFF,
            0xFE, .. Utf8("\",\"label\":\"4\"}\n")])), "train.jsonl", "2"),
        new("JSONL: a 20 MB line that never closes", "train", c => Train(c, c.Write("train.jsonl",
            Good1 + "\n{\"id\":\"b\",\"input\":\"" + new string('x', 20_000_000))), "train.jsonl", "2"),
        new("JSONL: byte order mark", "predict", c => Predict(c, c.Model(), c.WriteBytes("in.jsonl", [0xEF, 0xBB, 0xBF,
            .. Utf8(Good1 + "\n" + Good2 + "\n")]))) { Accepted = true },
        new("JSONL: CRLF line ends", "predict", c => Predict(c, c.Model(), c.Write("in.jsonl", Good1 + "\r\n" + Good2 + "\r\n"))) { Accepted = true },
        new("annotate input: truncated line", "annotate", c => Annotate(c, c.Write("in.jsonl", Good1 + "\n" + Good2[..25])), "in.jsonl", "2"),
        new("annotate input: duplicate ids", "annotate", c => Annotate(c, c.Jsonl("in.jsonl", Good1, Good1)), "in.jsonl", "2", "duplicate"),
        new("annotate input: input is a list", "annotate", c => Annotate(c, c.Jsonl("in.jsonl", """{"id":"a","input":["x"]}""")), "in.jsonl", "1", "input"),
        new("annotate input: empty file", "annotate", c => Annotate(c, c.Write("in.jsonl", "")), "in.jsonl"),
        new("predict input: wrong type", "predict", c => Predict(c, c.Model(), c.Jsonl("in.jsonl", Good1, """{"id":"b","input":true}""")), "in.jsonl",
            "2", "input"),
        new("evaluate data: missing label", "evaluate", c => Evaluate(c, c.Model(), c.Jsonl("dev.jsonl", Good1, """{"id":"b","input":"2+2"}""")),
            "dev.jsonl", "'b'", "label"),

        // ---- official layout -----------------------------------------------------------------------------------
        new("official: folder without the examples file", "train", c => { c.Write("svamp/llm/train_CoT_0.json", "[]"); return Train(c,
            c.P("svamp")); }, "svamp", "svamp_train.json"),
        new("official: PaLM outputs missing for some records", "train", c =>
        {
            c.Jsonl("svamp/svamp_train.json", """{"input":"a","label":"( 1.0 + 2.0 )"}""", """{"input":"b","label":"( 1.0 + 3.0 )"}""");
            c.Write("svamp/llm/train_CoT_0.json", """["Q: x\nA: 1 + 2 = 3. So the answer is ( 1 + 2 )."]""");
            return Train(c, c.P("svamp"), "--labels", "teacher", "--method", "step-by-step");
        }, "svamp", "train_CoT"),
        new("official: dev_ids.txt index past the end", "train", c =>
        {
            c.Jsonl("svamp/svamp_train.json", """{"input":"a","label":"( 1.0 + 2.0 )"}""", """{"input":"b","label":"( 1.0 + 3.0 )"}""");
            c.Write("svamp/dev_ids.txt", "7\n");
            return Train(c, c.P("svamp"));
        }, "dev_ids.txt", "7"),
        new("official: CQA record with 4 choices", "train", c =>
        {
            c.Jsonl("cqa/cqa_train.json", """{"id":"x1","question":"q?","choices":["a","b","c","d"],"answer":"a"}""");
            return Train(c, c.P("cqa"));
        }, "cqa_train.json", "1", "choices"),

        // ---- config.json ---------------------------------------------------------------------------------------
        new("config.json: missing", "generate", c => { var m = c.Model(); File.Delete(Path.Combine(m, "config.json")); return Generate(m); }, "config.json"),
        new("config.json: not JSON", "generate", c => { var m = c.Model(); File.WriteAllText(Path.Combine(m, "config.json"), "{\"d_model\": " +
            "8,"); return Generate(m); }, "config.json"),
        new("config.json: missing d_model", "generate", c => Generate(c.ModelWithConfig(j => j.Remove("d_model"))), "config.json", "d_model"),
        new("config.json: d_model is a string", "generate", c => Generate(c.ModelWithConfig(j => j["d_model"] = "big")), "config.json", "d_model"),
        new("config.json: absurd d_model (2^40)", "generate", c => Generate(c.ModelWithConfig(j => j["d_model"] = 1L << 40)), "config.json", "d_model"),
        new("config.json: absurd d_model that fits an int (10^9)", "generate", c => Generate(c.ModelWithConfig(j => j["d_model"] = 1_000_000_000)),
            "config.json", "weights"),
        new("config.json: model_type is not t5", "generate", c => Generate(c.ModelWithConfig(j => j["model_type"] = "bert")), "config.json", "model_type"),
        new("config.json: negative num_layers", "generate", c => Generate(c.ModelWithConfig(j => j["num_layers"] = -2)), "config.json", "num_layers"),
        new("config.json: d_model disagrees with the weights", "generate", c => Generate(c.ModelWithConfig(j => j["d_model"] = 48)), "model.safetensors"),

        // ---- safetensors ---------------------------------------------------------------------------------------
        new("safetensors: header length beyond the file", "generate", c =>
        {
            var m = c.Model();
            var f = Path.Combine(m, "model.safetensors");
            var bytes = File.ReadAllBytes(f);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)bytes.Length * 4);
            File.WriteAllBytes(f, bytes);
            return Generate(m);
        }, "model.safetensors", "header"),
        new("safetensors: shorter than 8 bytes", "generate", c => { var m = c.Model(); File.WriteAllBytes(Path.Combine(m, "model.safetensors"), [1, 2,
            3]); return Generate(m); }, "model.safetensors"),
        new("safetensors: offsets past the end", "generate", c => Generate(c.ModelWithHeader(h => Shift(h, "shared.weight", 1 << 30))),
            "model.safetensors", "shared.weight"),
        new("safetensors: overlapping offsets", "generate", c => Generate(c.ModelWithHeader(h => Overlap(h))), "model.safetensors", "overlap"),
        new("safetensors: shape disagrees with byte count", "generate",
            c => Generate(c.ModelWithHeader(h => { var s = h["shared.weight"]!["shape"]!.AsArray(); s[0] = (long)s[0]! + 1; })), "model.safetensors",
                "shared.weight"),
        new("safetensors: dtype disagrees with byte count", "generate", c => Generate(c.ModelWithHeader(h => h["shared.weight"]!["dtype"] = "F64")),
            "model.safetensors", "shared.weight"),
        new("safetensors: unknown dtype", "generate", c => Generate(c.ModelWithHeader(h => h["shared.weight"]!["dtype"] = "F8_E9M9")),
            "model.safetensors", "shared.weight"),
        new("safetensors: non-UTF-8 header", "generate", c =>
        {
            var m = c.Model();
            Case.WriteSafetensors(Path.Combine(m, "model.safetensors"), [(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []);
            return Generate(m);
        }, "model.safetensors"),
        new("safetensors: negative dimension", "generate", c => Generate(c.ModelWithHeader(h =>
        {
            var s = h["shared.weight"]!["shape"]!.AsArray();
            s[0] = -(long)s[0]!;
            var o = h["shared.weight"]!["data_offsets"]!.AsArray();
            (o[0], o[1]) = ((long)o[1]!, (long)o[0]!);
        })), "model.safetensors", "shared.weight"),
        new("safetensors: header is not an object", "generate", c => { var m = c.Model(); Case.WriteSafetensors(Path.Combine(m, "model.safetensors"),
            Utf8("[1,2]"), []); return Generate(m); }, "model.safetensors"),
        new("safetensors: a weight the model needs is missing", "generate", c => Generate(c.ModelWithHeader(h => h.Remove("shared.weight"))), "shared.weight"),
        new("weights: none in the folder", "generate", c => { var m = c.Model(); File.Delete(Path.Combine(m,
            "model.safetensors")); return Generate(m); }, "model.safetensors"),

        // ---- pytorch_model.bin ---------------------------------------------------------------------------------
        new("pytorch_model.bin: not a zip", "generate", c => { var m = c.Model(); File.Delete(Path.Combine(m,
            "model.safetensors")); File.WriteAllBytes(Path.Combine(m, "pytorch_model.bin"), Utf8("garbage, not a checkpoint")); return Generate(m); },
                "pytorch_model.bin"),
        new("pytorch_model.bin: zip without data.pkl", "generate", c => Generate(c.ModelWithBin(("archive/version", Utf8("3\n")))), "pytorch_model.bin"),
        new("pytorch_model.bin: pickle calling os.system", "generate", c => Generate(c.ModelWithBin(("archive/data.pkl",
            [0x80, 0x02, (byte)'c', .. Utf8("os\nsystem\n"), (byte)'q', 0, (byte)'X', 2, 0, 0, 0, (byte)'l', (byte)'s', (byte)'q', 1, 0x85, (byte)'q',
                2, (byte)'R', (byte)'q', 3, (byte)'.']))), "pytorch_model.bin", "os"),
        new("pytorch_model.bin: truncated pickle", "generate", c => Generate(c.ModelWithBin(("archive/data.pkl", [0x80, 0x02, (byte)'}', (byte)'q']))),
            "pytorch_model.bin"),

        // ---- tokenizer files -----------------------------------------------------------------------------------
        new("spiece.model: corrupt", "generate", c => { var m = c.Model(); File.WriteAllBytes(Path.Combine(m, "spiece.model"),
            Utf8("\u0008\u00ff\u00ffnot a sentencepiece model")); return Generate(m); }, "spiece.model"),
        new("spiece.model: empty", "tokenize", c => { var m = c.Model(); File.WriteAllBytes(Path.Combine(m, "spiece.model"), []); return ["tokenize",
            "--model", m, "hi"]; }, "spiece.model"),
        new("tokenizer.json: unknown model type", "generate", c =>
        {
            var m = c.Model();
            File.Delete(Path.Combine(m, "tokenizer_config.json"));
            File.WriteAllText(Path.Combine(m, "tokenizer.json"), """{"version":"1.0","model":{"type":"WordPiece","vocab":{"a":0}}}""");
            return Generate(m);
        }, "tokenizer"),
        new("tokenizer.json: not JSON", "tokenize", c =>
        {
            var m = c.Model();
            File.Delete(Path.Combine(m, "tokenizer_config.json"));
            File.WriteAllText(Path.Combine(m, "tokenizer.json"), "{\"model\": ");
            return ["tokenize", "--model", m, "hi"];
        }, "tokenizer.json"),
        new("tokenizer_config.json: not JSON", "tokenize", c => { var m = c.Model(); File.WriteAllText(Path.Combine(m, "tokenizer_config.json"),
            "{{"); return ["tokenize", "--model", m, "hi"]; }, "tokenizer_config.json"),

        // ---- prompt files --------------------------------------------------------------------------------------
        new("prompt: file not found and not a built-in name", "annotate", c => Annotate(c, c.Jsonl("in.jsonl", Good1), "--prompt",
            c.P("missing.prompt")), "missing.prompt"),
        new("prompt: file without exemplars", "annotate", c => Annotate(c, c.Jsonl("in.jsonl", Good1), "--prompt", c.Write("p.prompt", "just some " +
            "text\n")), "p.prompt"),
        new("prompt: file with an unknown task", "annotate", c => Annotate(c, c.Jsonl("in.jsonl", Good1), "--prompt", c.Write("p.prompt", "task: " +
            "poetry\n")), "p.prompt"),

        // ---- CLI arguments -------------------------------------------------------------------------------------
        new("--max-steps -5", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good2), "--max-steps", "-5"), "--max-steps"),
        new("--batch-size 0", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good2), "--batch-size", "0"), "--batch-size"),
        new("--fraction 1.5", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good2), "--fraction", "1.5"), "--fraction"),
        new("--alpha -1", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good2), "--method", "step-by-step", "--alpha", "-1"), "--alpha"),
        new("--lr not a number", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good2), "--lr", "fast"), "--lr"),
        new("--max-new-tokens not a number", "generate", c => [.. Generate(c.Model()), "--max-new-tokens", "lots"], "--max-new-tokens"),
        new("--dev file with an unlabelled example", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good2), "--dev", c.Jsonl("dev.jsonl", Good1,
            """{"id":"c","input":"3+3"}""")), "dev.jsonl", "'c'"),
        new("annotate input: invalid UTF-8", "annotate", c => Annotate(c, c.WriteBytes("in.jsonl", [.. Utf8(Good1 + "\n{\"id\":\"b\",\"input\":\""),
            0xC0, 0xAF, .. Utf8("\"}\n")])), "in.jsonl", "2", "UTF-8"),
        new("annotate output in a folder under a file", "annotate", c => { c.Write("file", "x"); return [.. Annotate(c, c.Jsonl("in.jsonl",
            Good1)).Select(a => a == c.P("out.jsonl") ? c.P("file/out.jsonl") : a)]; }, "file"),
        new("annotate cache equals its input", "annotate", c => { var i = c.Jsonl("in.jsonl", Good1); return Annotate(c, i, "--cache", i); }, "--cache"),
        new("--method unknown", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good2), "--method", "magic"), "magic"),
        new("--labels unknown", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good2), "--labels", "oracle"), "oracle"),
        new("--device unknown", "generate", c => [.. Generate(c.Model()), "--device", "tpu"], "tpu"),
        new("--split unknown", "evaluate", c => Evaluate(c, c.Model(), c.Jsonl("dev.jsonl", Good1), "--split", "holdout"), "holdout"),
        new("--num-beams 0", "generate", c => [.. Generate(c.Model()), "--num-beams", "0"], "--num-beams"),
        new("--concurrency 0", "annotate", c => Annotate(c, c.Jsonl("in.jsonl", Good1), "--concurrency", "0"), "--concurrency"),
        new("--teacher unknown kind", "annotate", c => [.. Annotate(c, c.Jsonl("in.jsonl", Good1)).Select(a => a == "openai:none" ? "bard:x" : a)], "bard"),
        new("--fractions with a bad number", "experiment", c => ["experiment", "--data", c.Jsonl("train.jsonl", Good1, Good2), "--fractions",
            "0.5,abc", "--out", c.P("grid")], "abc"),
        new("--eval-split test with a training file", "experiment", c => ["experiment", "--data", c.Jsonl("train.jsonl", Good1, Good2),
            "--eval-split", "test", "--out", c.P("grid")], "train.jsonl", "--eval-split test"),
        new("output folder under a file", "predict", c => { c.Write("file", "x"); return [.. Predict(c, c.Model(), c.Jsonl("in.jsonl",
            Good1)).Select(a => a == c.P("pred.jsonl") ? c.P("file/sub/pred.jsonl") : a)]; }, "file"),
        new("run folder under a file", "train", c => { c.Write("file", "x"); return [.. Train(c, c.Jsonl("train.jsonl", Good1,
            Good2)).Select(a => a == c.P("run") ? c.P("file/run") : a)]; }, "file"),
        new("predict output equals its input", "predict", c => { var i = c.Jsonl("in.jsonl", Good1); return [.. Predict(c, c.Model(),
            i).Select(a => a == c.P("pred.jsonl") ? i : a)]; }, "in.jsonl"),
        new("annotate output equals its input", "annotate", c => { var i = c.Jsonl("in.jsonl", Good1); return [.. Annotate(c,
            i).Select(a => a == c.P("out.jsonl") ? i : a)]; }, "in.jsonl"),
        new("evaluate predictions file equals its data", "evaluate", c => { var d = c.Jsonl("dev.jsonl", Good1); return Evaluate(c, c.Model(), d,
            "--predictions", d); }, "dev.jsonl"),
        new("full disk (ENOSPC) while writing predictions over an existing file", "predict", c =>
        {
            c.Write("pred.jsonl", """{"id":"old","prediction":"kept"}""" + "\n");
            return Predict(c, c.Model(), c.Jsonl("in.jsonl", Good1, Good2));
        }, "pred.jsonl", "no space left") { Env = [("STEPDISTILL_FAULT_ENOSPC", "1")] },
        new("full disk (ENOSPC) while saving a checkpoint", "train", c => Train(c, c.Jsonl("train.jsonl", Good1, Good2)), "run", "no space " +
            "left") { Env = [("STEPDISTILL_FAULT_ENOSPC", "1")] },
        new("--model neither folder nor size nor Hub id", "generate", c => Generate("no/such/model/here"), "no/such/model/here"),
    ];

    static void Shift(JsonObject header, string name, long by)
    {
        var o = header[name]!["data_offsets"]!.AsArray();
        o[0] = (long)o[0]! + by;
        o[1] = (long)o[1]! + by;
    }

    /// <summary>Points the second tensor (in file order) at the first one's bytes, when their sizes allow.</summary>
    static void Overlap(JsonObject header)
    {
        var entries = header.Where(kv => kv.Key != "__metadata__")
            .Select(kv => (kv.Key, Begin: (long)kv.Value!["data_offsets"]![0]!, End: (long)kv.Value!["data_offsets"]![1]!))
            .OrderBy(e => e.Begin).ToList();
        // Two tensors of equal size: the later one starts inside the earlier one.
        var pair = entries.SelectMany((a, i) => entries.Skip(i + 1).Where(b => b.End - b.Begin == a.End - a.Begin).Select(b => (a, b))).First();
        var size = pair.a.End - pair.a.Begin;
        var start = pair.a.Begin + Math.Max(1, size / 2) / 4 * 4;
        header[pair.b.Key]!["data_offsets"] = new JsonArray(start, start + size);
    }

    public static TheoryData<string> Cases() => new(Rows.Select(r => r.Input));

    static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_input_gives_one_clear_error_line_and_changes_nothing(string input)
    {
        var row = Rows.Single(r => r.Input == input);
        var root = Path.Combine(_checkpoint.Root, "case-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        try
        {
            var c = new Case(root, _checkpoint.Folder);
            var args = row.Arrange(c);
            // An existing output in the case folder, next to the inputs: nothing may touch it.
            c.Write("existing-output.jsonl", """{"id":"keep","prediction":"me"}""" + "\n");
            var before = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).ToDictionary(f => f, Hash);

            foreach (var (name, value) in row.Env) Environment.SetEnvironmentVariable(name, value);
            int rc;
            string stdout, stderr;
            try { (rc, stdout, stderr) = await CliHarness.Run(args); }
            finally { foreach (var (name, _) in row.Env) Environment.SetEnvironmentVariable(name, null); }

            var all = stdout + stderr;
            Assert.DoesNotMatch(@"\n\s+at [\w.`<>]+\.[\w`<>]+\(", all); // no stack trace
            Assert.DoesNotContain("Exception:", all);
            Assert.DoesNotContain("Unhandled", all);
            if (row.Accepted)
            {
                Assert.True(rc == 0, $"'{input}' should be accepted; exit {rc}: {stderr}");
                Assert.Equal(2, File.ReadAllLines(c.P("pred.jsonl")).Length);
                return;
            }
            Assert.True(rc != 0, $"'{input}' was accepted (exit 0): {stdout}{stderr}");
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var errors = lines.Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
            Assert.True(errors.Count == 1, $"'{input}': expected one error line, got:\n{stderr}");
            var error = errors[0];
            Assert.True(error.Length < 600, $"'{input}': the error line is {error.Length} characters long: {error[..Math.Min(300, error.Length)]}...");
            foreach (var expected in row.Expect)
                Assert.True(error.Contains(expected, StringComparison.OrdinalIgnoreCase), $"'{input}': the error does not mention '{expected}': {error}");
            foreach (var (file, hash) in before)
            {
                Assert.True(File.Exists(file), $"'{input}': {file} was deleted");
                Assert.True(hash == Hash(file), $"'{input}': {file} was changed");
            }
            var shown = error.Replace(root + "/", "").Replace(root, ".");
            _output.WriteLine(shown);
            Report(row, shown);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    /// <summary>With STEPDISTILL_ERRORS_TABLE=file, each case appends its docs/errors.md row there.</summary>
    static void Report(Row row, string error)
    {
        if (Environment.GetEnvironmentVariable("STEPDISTILL_ERRORS_TABLE") is not { Length: > 0 } path) return;
        lock (Rows) File.AppendAllText(path, $"| {row.Input} | `{row.Verb}` | `{error.Replace("|", "\\|")}` |\n");
    }

    [Fact]
    public void The_campaign_has_at_least_40_bad_inputs_and_docs_errors_md_lists_them_all()
    {
        Assert.True(Rows.Count(r => !r.Accepted) >= 40, $"{Rows.Count(r => !r.Accepted)} bad inputs");
        Assert.Equal(Rows.Length, Rows.Select(r => r.Input).Distinct().Count());
        var doc = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "errors.md"));
        var missing = Rows.Where(r => !doc.Contains($"| {r.Input} |", StringComparison.Ordinal)).Select(r => r.Input).ToList();
        Assert.True(missing.Count == 0, "docs/errors.md lacks: " + string.Join("; ", missing));
    }

    static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Directory.Build.props"))) return dir.FullName;
        throw new InvalidOperationException("repository root not found");
    }
}
