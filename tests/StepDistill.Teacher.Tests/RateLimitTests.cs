using System.Diagnostics;
using StepDistill.Teacher.Pipeline;
using StepDistill.Teacher.Prompts;
using static StepDistill.Teacher.Tests.TestUtil;

namespace StepDistill.Teacher.Tests;

/// <summary>
/// <c>--rpm</c> / <c>--tpm</c> against a loopback server that answers at once: the requests it receives never come
/// faster than the limit allows (a burst, then the rate), and the run is not much slower than the limit either.
/// High rates keep each run to a few seconds; the checks are bounds, not exact times.
/// </summary>
public class RateLimitTests
{
    /// <summary>
    /// For every pair of requests i &lt; j (by arrival), what arrived in [t_i, t_j] fits in the bucket: at most the burst
    /// plus the refills due in that span widened by the slack: a request delayed between the limiter and the server
    /// (by a loaded machine) arrives together with later ones.
    /// </summary>
    static void AssertNeverFaster(IReadOnlyList<(DateTime At, int Cost)> arrivals, int perMinute, double slackSeconds)
    {
        using var reference = Resilience.PerMinute(perMinute, out var burst);
        double perSecond = perMinute / 60.0;
        var sorted = arrivals.OrderBy(a => a.At).ToList();
        for (int i = 0; i < sorted.Count; i++)
        {
            long used = 0;
            for (int j = i; j < sorted.Count; j++)
            {
                used += sorted[j].Cost;
                var span = (sorted[j].At - sorted[i].At).TotalSeconds;
                var allowed = burst + perSecond * (span + slackSeconds) + 1;
                Assert.True(used <= allowed,
                    $"{used} units arrived within {span:0.000} s (requests {i}..{j}); a limit of {perMinute}/min with burst {burst} allows {allowed:0}");
            }
        }
    }

    [Fact]
    public async Task Rpm_caps_the_request_rate_after_the_burst()
    {
        const int rpm = 1200, n = 170; // 20/s after a burst of 100: at least 3.5 s
        await using var server = new FakeOpenAIServer(r => Reply.Completion(GoodAnswer(ItemOf(r))));
        using var dir = new TempDir();
        var sw = Stopwatch.StartNew();
        var (summary, output) = await RunAsync(server, dir, n, FastOptions with { Concurrency = 16, RequestsPerMinute = rpm });
        var elapsed = sw.Elapsed.TotalSeconds;

        Assert.Equal(n, output.Count(o => (string?)o["status"] == "ok"));
        Assert.Equal(n, server.Requests.Count);
        using (Resilience.PerMinute(rpm, out var burst)) Assert.Equal(100, burst);
        var minimum = (n - 100) / (rpm / 60.0);
        Assert.True(elapsed >= minimum * 0.95, $"{n} requests at {rpm}/min took {elapsed:0.00} s, less than {minimum:0.00} s");
        // Not throttled much below the limit either (a per-minute window would stall for a whole minute here).
        Assert.True(elapsed <= minimum * 3 + 5, $"{n} requests at {rpm}/min took {elapsed:0.00} s");
        AssertNeverFaster(server.Requests.Select(r => (r.ReceivedUtc, 1)).ToList(), rpm, slackSeconds: 1.0);
        Assert.Equal(0, summary.Retries);
    }

    [Fact]
    public async Task Tpm_caps_the_estimated_token_rate()
    {
        const int maxOutput = 200;
        await using var server = new FakeOpenAIServer(r => Reply.Completion(GoodAnswer(ItemOf(r))));
        using var dir = new TempDir();
        // The estimate the limiter charges: the prompt's messages (as sent) plus the output budget.
        static int Cost(RecordedRequest r) =>
            r.Json["messages"]!.AsArray().Sum(m => PromptTemplate.EstimateTokens((string)m!["content"]!) + 4) + maxOutput;

        var probe = new FakeOpenAIServer(r => Reply.Completion(GoodAnswer(ItemOf(r))));
        await using (probe)
        {
            using var probeDir = new TempDir();
            await RunAsync(probe, probeDir, 1, FastOptions with { MaxOutputTokens = maxOutput });
        }
        int cost = Cost(probe.Requests.Single());
        // 1.1 requests' worth per second, a burst of 5.5 requests' worth: 10 requests take at least ~4 s.
        int tpm = cost * 66, n = 10;
        var sw = Stopwatch.StartNew();
        var (_, output) = await RunAsync(server, dir, n, FastOptions with { Concurrency = 8, MaxOutputTokens = maxOutput, TokensPerMinute = tpm });
        var elapsed = sw.Elapsed.TotalSeconds;

        Assert.Equal(n, output.Count(o => (string?)o["status"] == "ok"));
        var arrivals = server.Requests.Select(r => (r.ReceivedUtc, Cost(r))).ToList();
        long total = arrivals.Sum(a => (long)a.Item2);
        using (Resilience.PerMinute(tpm, out var burst))
        {
            var minimum = (total - burst) / (tpm / 60.0);
            Assert.True(elapsed >= minimum * 0.95, $"{total} tokens at {tpm}/min took {elapsed:0.00} s, less than {minimum:0.00} s");
            Assert.True(elapsed <= minimum * 3 + 5, $"{total} tokens at {tpm}/min took {elapsed:0.00} s");
        }
        AssertNeverFaster(arrivals, tpm, slackSeconds: 1.0);
    }

    [Fact]
    public async Task A_request_larger_than_the_token_bucket_still_goes_through()
    {
        await using var server = new FakeOpenAIServer(r => Reply.Completion(GoodAnswer(ItemOf(r))));
        using var dir = new TempDir();
        // 120,000 tokens per minute: a bucket of 10,000; each request asks for more than that (max output 12,000).
        var (_, output) = await RunAsync(server, dir, 1, FastOptions with { MaxOutputTokens = 12_000, TokensPerMinute = 120_000 });
        Assert.Equal("ok", (string?)output.Single()["status"]);
    }
}
