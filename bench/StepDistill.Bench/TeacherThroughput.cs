using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using StepDistill.Teacher.Clients;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;

/// <summary>
/// Teacher throughput: N requests through the full annotate pipeline (Polly, SQLite cache, JSONL output)
/// against a loopback OpenAI-compatible server with a fixed simulated latency. The server runs in a child
/// process so that the CPU time measured here is the pipeline's own.
/// Usage: teacher-throughput [--requests 1000] [--latency-ms 50] [--concurrency 1,8,32,128]
/// </summary>
internal static class TeacherThroughput
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length >= 3 && args[0] == "--serve") return await ServeAsync(int.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture));
        var requests = 1000; var latencyMs = 50; int[] levels = [1, 8, 32, 128];
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--requests": requests = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--latency-ms": latencyMs = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--concurrency": levels = args[i + 1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }

        var port = FreePort();
        using var server = StartServer(port, latencyMs);
        var endpoint = new Uri($"http://127.0.0.1:{port}/v1");
        var work = Directory.CreateTempSubdirectory("stepdistill-bench-").FullName;
        try
        {
            Console.WriteLine($"# Teacher throughput: {requests} requests, {latencyMs} ms simulated latency, {Environment.ProcessorCount} CPUs, {RuntimeInformation()}");
            await Measure(endpoint, work, "warmup", 64, 16); // JIT and connection warm-up, not reported
            Console.WriteLine("| concurrency | wall time (s) | ideal (s) | vs ideal | requests/s | CPU ms per request |");
            Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
            foreach (var c in levels)
            {
                var (wall, cpu) = await Measure(endpoint, work, $"c{c}", requests, c);
                var ideal = requests * latencyMs / 1000.0 / c;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {c} | {wall:0.000} | {ideal:0.000} | {(wall / ideal - 1) * 100:+0.0;-0.0}% | {requests / wall:0.0} | {cpu * 1000 / requests:0.000} |"));
            }
            return 0;
        }
        finally
        {
            try { server.Kill(); } catch (InvalidOperationException) { }
            Directory.Delete(work, true);
        }
    }

    static async Task<(double Wall, double CpuSeconds)> Measure(Uri endpoint, string work, string name, int n, int concurrency)
    {
        var input = Path.Combine(work, name + ".in.jsonl");
        File.WriteAllLines(input, Enumerable.Range(0, n).Select(i => $$"""{"id":"r{{i}}","input":"Request {{i}}: Ann has {{i}} apples and gets 1 more. How many?","label":"( {{i}}.0 + 1.0 )"}"""));
        using var teacher = TeacherFactory.Create("openai:bench-model", new TeacherOptions { Endpoint = endpoint, ApiKeyEnv = "STEPDISTILL_BENCH_NO_KEY" });
        var annotator = new Annotator(teacher, PromptLibrary.Resolve("svamp"), new AnnotateOptions { Concurrency = concurrency, Timeout = TimeSpan.FromSeconds(30) });
        var me = Process.GetCurrentProcess();
        GC.Collect();
        me.Refresh();
        var cpu0 = me.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var summary = await annotator.RunAsync(input, Path.Combine(work, name + ".out.jsonl"));
        sw.Stop();
        me.Refresh();
        var cpu = (me.TotalProcessorTime - cpu0).TotalSeconds;
        if (summary.Ok != n || summary.Requests != n) throw new InvalidOperationException($"{name}: expected {n} ok records from {n} requests, got ok={summary.Ok} requests={summary.Requests} failed={summary.Failed}");
        return (sw.Elapsed.TotalSeconds, cpu);
    }

    static string RuntimeInformation() => System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription + " on " + System.Runtime.InteropServices.RuntimeInformation.OSDescription;

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Starts this program again as the server (a separate process, so its CPU is not counted).</summary>
    static Process StartServer(int port, int latencyMs)
    {
        var self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(TeacherThroughput).Assembly.Location);
        foreach (var a in new[] { "teacher-throughput", "--serve", port.ToString(CultureInfo.InvariantCulture), latencyMs.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        if (p.StandardOutput.ReadLine() != "ready") throw new InvalidOperationException("the bench server did not start");
        return p;
    }

    static async Task<int> ServeAsync(int port, int latencyMs)
    {
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        var body = Encoding.UTF8.GetBytes("""{"id":"x","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Ann has some apples and gets 1 more. So the answer is ( 1 + 1 )."},"finish_reason":"stop"}],"usage":{"prompt_tokens":450,"completion_tokens":20,"total_tokens":470}}""");
        Console.WriteLine("ready");
        Console.Out.Flush();
        _ = Task.Run(() => { Console.In.ReadToEnd(); Environment.Exit(0); }); // parent gone: stop
        while (true)
        {
            var ctx = await listener.GetContextAsync();
            _ = Task.Run(async () =>
            {
                try
                {
                    await ctx.Request.InputStream.CopyToAsync(Stream.Null);
                    await Task.Delay(latencyMs);
                    ctx.Response.ContentType = "application/json";
                    ctx.Response.ContentLength64 = body.Length;
                    await ctx.Response.OutputStream.WriteAsync(body);
                    ctx.Response.Close();
                }
                catch (Exception e) when (e is HttpListenerException or IOException) { }
            });
        }
    }
}
