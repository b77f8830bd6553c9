using System.Diagnostics;
using System.Globalization;
using StepDistill.Inference;
using TorchSharp;

/// <summary>
/// What one micro-batch costs against one input alone: the time of <c>Predict</c> over B inputs queued at once
/// (one micro-batch) for B = 1, 2, 4, 8, 16, with inputs of one length and of mixed lengths. This is the ceiling on
/// what dynamic batching can give: at 16 clients the server cannot beat 16 / time(16) requests per second.
/// Usage: decode-batch [--model small|FOLDER] [--max-new-tokens 32] [--threads 2] [--reps 5]
/// </summary>
static class DecodeBatch
{
    public static int Run(string[] args)
    {
        string Arg(string name, string def) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : def; }
        int Int(string name, int def) => int.Parse(Arg(name, def.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        var model = Arg("--model", "small");
        var threads = Int("--threads", 2);
        var reps = Int("--reps", 5);
        torch.set_num_threads(threads);
        Console.WriteLine($"# decode-batch: model {model}, load average {BenchMachine.LoadAverage()}, {BenchMachine.CpuModel()}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"- 1024^3 fp32 matmul: {BenchMachine.MatmulGflops():0.0} GFLOP/s ({threads} threads)"));
        var folder = BenchMachine.StudentFolder(model, out var temp);
        try
        {
            var options = new DistilledModelOptions
            {
                Device = "cpu", Threads = threads, MaxNewTokens = Int("--max-new-tokens", 32), MaxBatchSize = 64,
                MaxWait = TimeSpan.FromMilliseconds(50), MaxQueueLength = 4096, ModelId = "bench",
            };
            double flopsPerToken;
            using var s = T5Student.Load(folder, torch.CPU);
            {
                var c = s.Model.Config;
                // Matrix products per generated token and row: decoder self-attention q,k,v,o, cross-attention q,o
                // (its keys and values are computed once per input), feed-forward, LM head. Attention scores are small.
                var inner = (long)c.NumHeads * c.DKv;
                var ff = (c.IsGatedAct ? 3L : 2L) * c.DModel * c.DFf;
                flopsPerToken = 2.0 * (c.NumDecoderLayers * (6 * c.DModel * inner + ff) + (long)c.VocabSize * c.DModel);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"- d_model {c.DModel}, d_ff {c.DFf}, {c.NumDecoderLayers} decoder layers, vocabulary {c.VocabSize}: {flopsPerToken / 1e6:0.0} MFLOP per generated token"));
            }
            using var m = DistilledModel.Load(folder, options);
            var same = Enumerable.Range(0, 16).Select(i => $"How many legs do {1 + i % 9} cats and {1 + (i * 7) % 9} dogs have?").ToList();
            var mixed = ServeThroughput.Inputs(16);
            Console.WriteLine();
            Console.WriteLine("| inputs | B | ms per batch (median) | × B=1 | inputs/s | tokens | decoder GFLOP/s | encoder ms (one pass) |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var (name, set) in new[] { ("one length", same), ("mixed lengths", mixed) })
            {
                double t1 = 0;
                foreach (var b in new[] { 1, 2, 4, 8, 16 })
                {
                    var batch = set.Take(b).ToList();
                    m.Predict(batch); // warm-up (the same inputs: the answers are the same)
                    var times = new List<double>();
                    var tokens = 0;
                    for (var r = 0; r < reps; r++)
                    {
                        var sw = Stopwatch.StartNew();
                        tokens = m.CompleteAsync(batch).GetAwaiter().GetResult().Sum(c => c.OutputTokens);
                        times.Add(sw.Elapsed.TotalMilliseconds);
                    }
                    var ms = times.Order().ElementAt(times.Count / 2);
                    if (b == 1) t1 = ms;
                    var encoder = EncoderMs(s, batch, reps);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {name} | {b} | {ms:0.0} | {ms / t1:0.00} | {b * 1000 / ms:0.0} | {tokens} | {tokens * flopsPerToken / ms / 1e6:0.0} | {encoder:0.0} |"));
                }
            }
            return 0;
        }
        finally
        {
            if (temp is not null) Directory.Delete(temp, true);
        }
    }

    /// <summary>The encoder alone over <paramref name="inputs"/> in one pass padded to the longest (median ms).</summary>
    static double EncoderMs(T5Student s, List<string> inputs, int reps)
    {
        var ids = inputs.Select(x => s.Tokenizer.Encode(x)).ToList();
        var len = ids.Max(r => r.Length);
        var flat = new long[ids.Count * len];
        var mask = new long[ids.Count * len];
        for (var i = 0; i < ids.Count; i++)
            for (var j = 0; j < ids[i].Length; j++) { flat[i * len + j] = ids[i][j]; mask[i * len + j] = 1; }
        using var noGrad = torch.no_grad();
        using var t = torch.tensor(flat, [ids.Count, len]);
        using var m = torch.tensor(mask, [ids.Count, len]);
        var times = new List<double>();
        for (var r = 0; r <= reps; r++)
        {
            var sw = Stopwatch.StartNew();
            using (s.Model.Encode(t, m)) { }
            if (r > 0) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        return times.Order().ElementAt(times.Count / 2);
    }
}
