using System.Diagnostics;
using System.Globalization;
using StepDistill.Student.Generation;
using StepDistill.Student.Model;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Training throughput, model-FLOPs utilisation and greedy latency of the T5 student on the CPU, with the setup of
/// shared/notes/hf-baseline.md: random init, train mode (dropout 0.1), batch 16, input 128, target 64, AdamW;
/// greedy batch 1, input 64, exactly 32 new tokens.
/// Usage: student-throughput [--configs t5-small-like,small] [--threads 2] [--warmup 3] [--steps 10] [--gen-warmup 2] [--gen-runs 5] [--peak-gflops 110]
/// </summary>
static class StudentThroughput
{
    static readonly Dictionary<string, T5Config> Configs = new()
    {
        ["t5-small-like"] = T5Config.Presets["t5-small"] with { VocabSize = 32128 },
        ["small"] = T5Config.Presets["small"] with { VocabSize = 32128 },
    };

    public static Task<int> Run(string[] args)
    {
        string Arg(string name, string def) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : def; }
        var configs = Arg("--configs", "t5-small-like,small").Split(',');
        var threads = int.Parse(Arg("--threads", "2"), CultureInfo.InvariantCulture);
        var warmup = int.Parse(Arg("--warmup", "3"), CultureInfo.InvariantCulture);
        var steps = int.Parse(Arg("--steps", "10"), CultureInfo.InvariantCulture);
        var genWarmup = int.Parse(Arg("--gen-warmup", "2"), CultureInfo.InvariantCulture);
        var genRuns = int.Parse(Arg("--gen-runs", "5"), CultureInfo.InvariantCulture);
        var peak = double.Parse(Arg("--peak-gflops", "110"), CultureInfo.InvariantCulture);
        set_num_threads(threads);
        Console.WriteLine($"threads {get_num_threads()}, batch 16, input 128, target 64, AdamW lr 1e-4, dropout 0.1 (train mode)");
        Console.WriteLine("| config | params | train s/step (median) | min / max | tokens/s | MFU | greedy 32 tokens (median) | per new token | peak RSS |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var name in configs)
        {
            var c = Configs[name];
            manual_seed(0);
            using var model = new T5ForConditionalGeneration(c);
            var parameters = model.parameters().Sum(p => p.numel());
            var optimizer = optim.AdamW(model.parameters(), lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0);
            using var ids = randint(3, 32000, [16, 128], dtype: ScalarType.Int64);
            ids.select(1, -1).fill_(1);
            using var mask = ones_like(ids);
            using var labels = randint(3, 32000, [16, 64], dtype: ScalarType.Int64);
            labels.select(1, -1).fill_(1);
            model.train();
            var times = new List<double>();
            for (var i = 0; i < warmup + steps; i++)
            {
                var sw = Stopwatch.StartNew();
                using (NewDisposeScope())
                {
                    optimizer.zero_grad();
                    var (_, loss) = model.Forward(ids, mask, labels);
                    loss.backward();
                    optimizer.step();
                }
                if (i >= warmup) times.Add(sw.Elapsed.TotalSeconds);
            }
            times.Sort();
            var median = times[times.Count / 2];
            var tokens = 16 * (128 + 64);
            var mfu = TrainFlops(c, 16, 128, 64) / median / (peak * 1e9);

            model.eval();
            using var genIds = randint(3, 32000, [1, 64], dtype: ScalarType.Int64);
            genIds.select(1, -1).fill_(1);
            using var genMask = ones_like(genIds);
            var gen = new List<double>();
            var options = new GenerationOptions { MaxNewTokens = 32, MinNewTokens = 32 };
            for (var i = 0; i < genWarmup + genRuns; i++)
            {
                var sw = Stopwatch.StartNew();
                var r = T5Generator.Generate(model, genIds, genMask, options);
                if (r.Sequences[0].Length != 33) throw new InvalidOperationException("expected exactly 32 new tokens");
                if (i >= genWarmup) gen.Add(sw.Elapsed.TotalSeconds);
            }
            gen.Sort();
            var genMedian = gen[gen.Count / 2];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {parameters / 1e6:F1} M | {median:F2} s | {times[0]:F2} / {times[^1]:F2} | {tokens / median:F0} | {mfu * 100:F1}% | {genMedian:F3} s | {genMedian / 32 * 1000:F1} ms | {PeakRssMiB()} MiB |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name} step times: {string.Join(", ", times.Select(t => t.ToString("F2", CultureInfo.InvariantCulture)))}; greedy: {string.Join(", ", gen.Select(t => t.ToString("F3", CultureInfo.InvariantCulture)))}"));
        }
        return Task.FromResult(0);
    }

    /// <summary>
    /// Model FLOPs of one training step (forward + backward = 3x forward): every matmul of the encoder over the
    /// input tokens, the decoder and LM head over the target tokens, and the attention products.
    /// </summary>
    static double TrainFlops(T5Config c, int batch, int inLen, int outLen)
    {
        double d = c.DModel, inner = c.NumHeads * c.DKv, ff = c.DFf * (c.IsGatedAct ? 3 : 2);
        var attnProj = 4 * d * inner;                 // q, k, v, o
        var encPerToken = c.NumLayers * (attnProj + ff * d);
        var decPerToken = c.NumDecoderLayers * (2 * attnProj + ff * d) + d * c.VocabSize;
        var attnScores = 2 * 2 * inner * (c.NumLayers * (double)inLen * inLen + c.NumDecoderLayers * ((double)outLen * outLen + (double)outLen * inLen));
        var forward = 2 * (encPerToken * inLen + decPerToken * outLen) + attnScores;
        return 3 * forward * batch;
    }

    static long PeakRssMiB()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        return -1;
    }
}
