using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using StepDistill.Inference;
using StepDistill.Serving;
using TorchSharp;

/// <summary>
/// <c>serve</c> under load: requests/s and p50/p99 latency at several numbers of concurrent clients (loopback only),
/// against a sequential batch-1 loop in process over the same inputs. Bounded in requests and time per level.
/// Usage: serve-throughput [--model small|FOLDER] [--requests 128] [--seq-requests 48] [--max-seconds 120]
///        [--concurrency 1,4,16,64] [--max-new-tokens 32] [--batch-size 16] [--max-wait-ms 2] [--threads 2]
/// </summary>
static class ServeThroughput
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name, string def) { var i = Array.IndexOf(args, name); return i >= 0 && i + 1 < args.Length ? args[i + 1] : def; }
        int Int(string name, int def) => int.Parse(Arg(name, def.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        var model = Arg("--model", "small");
        var requests = Int("--requests", 128);
        var seqRequests = Int("--seq-requests", 48);
        var maxSeconds = Int("--max-seconds", 120);
        var levels = Arg("--concurrency", "1,4,16,64").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var threads = Int("--threads", 2);
        var options = new DistilledModelOptions
        {
            Device = "cpu", Threads = threads, MaxNewTokens = Int("--max-new-tokens", 32), MaxBatchSize = Int("--batch-size", 16),
            MaxWait = TimeSpan.FromMilliseconds(double.Parse(Arg("--max-wait-ms", "2"), CultureInfo.InvariantCulture)), MaxQueueLength = 4096,
            ModelId = "bench",
        };

        Console.WriteLine($"# serve throughput: model {model}, {requests} requests per level (at most {maxSeconds} s), sequential baseline {seqRequests} requests");
        Console.WriteLine($"- machine: {BenchMachine.CpuModel()}, {Environment.ProcessorCount} CPUs, load average before: {BenchMachine.LoadAverage()}");
        torch.set_num_threads(threads);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"- 1024^3 fp32 matmul: {BenchMachine.MatmulGflops():0.0} GFLOP/s (median of 10, {threads} threads)"));
        Console.WriteLine($"- options: max new tokens {options.MaxNewTokens}, batch size {options.MaxBatchSize}, max wait {options.MaxWait.TotalMilliseconds} ms, threads {threads}");

        var folder = BenchMachine.StudentFolder(model, out var temp);
        try
        {
            var inputs = Inputs(Math.Max(requests, seqRequests));

            // Sequential batch-1 loop in process: the baseline.
            List<string> expected = [];
            double seqRate, seqP50, seqP99, seqTokens;
            using (var alone = DistilledModel.Load(folder, options with { MaxBatchSize = 1, MaxWait = TimeSpan.Zero }))
            {
                foreach (var x in inputs.Take(4)) await alone.PredictAsync(x); // warm-up
                var lat = new List<double>();
                var tokens = 0L;
                var sw = Stopwatch.StartNew();
                foreach (var x in inputs.Take(seqRequests))
                {
                    var t = Stopwatch.GetTimestamp();
                    var c = await alone.CompleteAsync(x);
                    lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
                    tokens += c.OutputTokens;
                }
                seqRate = seqRequests / sw.Elapsed.TotalSeconds;
                (seqP50, seqP99) = (BenchMachine.Percentile(lat, 0.5), BenchMachine.Percentile(lat, 0.99));
                seqTokens = (double)tokens / seqRequests;
                foreach (var x in inputs) expected.Add(await alone.PredictAsync(x));
            }

            await using var server = StudentServer.Create(ct => DistilledModel.LoadAsync(folder, options, cancellationToken: ct),
                                                          new ServerOptions { Urls = ["http://127.0.0.1:0"], RequestTimeout = TimeSpan.FromMinutes(10) });
            await server.StartAsync();
            await server.WaitUntilReadyAsync();
            var root = server.Addresses.Single();
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = root, Timeout = TimeSpan.FromMinutes(10) };
            for (var i = 0; i < 8; i++) await Ask(http, inputs[i]); // warm-up (JIT, connections)

            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| clients | requests | requests/s | × sequential | p50 ms | p99 ms | p99 / batch-1 p50 | mean batch | wrong answers |"));
            Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| sequential batch-1 in process | {seqRequests} | {seqRate:0.0} | 1.00 | {seqP50:0} | {seqP99:0} | {seqP99 / seqP50:0.00} | 1 | 0 |"));
            foreach (var c in levels)
            {
                var before = await http.GetStringAsync("/metrics");
                var lat = new List<double>();
                var wrong = 0;
                var next = -1;
                var deadline = Stopwatch.StartNew();
                var sw = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, c).Select(async _ =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < requests && deadline.Elapsed.TotalSeconds < maxSeconds)
                    {
                        var t = Stopwatch.GetTimestamp();
                        var text = await Ask(http, inputs[i]);
                        var ms = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                        lock (lat) { lat.Add(ms); if (text != expected[i]) wrong++; }
                    }
                }));
                var wall = sw.Elapsed.TotalSeconds;
                var after = await http.GetStringAsync("/metrics");
                var batches = Sum(after, "stepdistill_inference_batch_size", "_count") - Sum(before, "stepdistill_inference_batch_size", "_count");
                var rows = Sum(after, "stepdistill_inference_batch_size", "_sum") - Sum(before, "stepdistill_inference_batch_size", "_sum");
                var rate = lat.Count / wall;
                var p99 = BenchMachine.Percentile(lat, 0.99);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {c} | {lat.Count} | {rate:0.0} | {rate / seqRate:0.00} | {BenchMachine.Percentile(lat, 0.5):0} | {p99:0} | {p99 / seqP50:0.00} | {(batches > 0 ? rows / batches : 0):0.0} | {wrong} |"));
            }
            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"- mean output tokens per request: {seqTokens:0.0}; load average after: {BenchMachine.LoadAverage()}"));
            return 0;
        }
        finally
        {
            if (temp is not null) Directory.Delete(temp, true);
        }
    }

    static async Task<string> Ask(HttpClient http, string input)
    {
        var body = new JsonObject { ["model"] = "bench", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = input }) };
        using var resp = await http.PostAsJsonAsync("/v1/chat/completions", body);
        var json = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!;
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"HTTP {(int)resp.StatusCode}: {json.ToJsonString()}");
        return (string)json["choices"]![0]!["message"]!["content"]!;
    }

    /// <summary>Questions of mixed lengths in the demo task's words ("How many legs do 3 cats and 2 birds have?").</summary>
    internal static List<string> Inputs(int n)
    {
        string[] animals = ["cats", "birds", "spiders", "dogs", "ants", "ducks", "cows", "horses"];
        var rng = new Random(0);
        return Enumerable.Range(0, n).Select(_ =>
        {
            var k = 1 + rng.Next(6);
            var parts = Enumerable.Range(0, k).Select(j => $"{1 + rng.Next(9)} {animals[(j + rng.Next(animals.Length)) % animals.Length]}").ToList();
            var list = parts.Count == 1 ? parts[0] : string.Join(", ", parts[..^1]) + " and " + parts[^1];
            return $"How many legs do {list} have?";
        }).ToList();
    }


    /// <summary>The sum over series of a Prometheus metric whose name starts with <paramref name="name"/> and ends with <paramref name="suffix"/>.</summary>
    static double Sum(string text, string name, string suffix) => text.Split('\n')
        .Where(l => !l.StartsWith('#') && l.StartsWith(name, StringComparison.Ordinal) && l.Split(' ', 2)[0].Split('{')[0].EndsWith(suffix, StringComparison.Ordinal))
        .Sum(l => double.Parse(l.Split(' ').Last(), CultureInfo.InvariantCulture));
}
