using System.Text.Json.Nodes;
using StepDistill.Inference;

namespace StepDistill.Serving.Tests;

/// <summary>Batching never changes an output, through the server: concurrent requests vs one-by-one prediction.</summary>
public sealed class BatchingTests
{
    [Fact]
    public async Task Sixty_four_concurrent_requests_of_mixed_lengths_return_the_one_by_one_results()
    {
        var inputs = TinyStudent.MixedInputs(64);
        // One by one: a model that never batches (batch size 1), called sequentially.
        List<string> expected;
        using (var alone = DistilledModel.Load(TinyStudent.Folder, TinyStudent.Options with { MaxBatchSize = 1, MaxWait = TimeSpan.Zero }))
        {
            expected = [];
            foreach (var x in inputs) expected.Add(await alone.PredictAsync(x));
        }
        Assert.True(expected.Distinct().Count() > 8, "the tiny student gives too few distinct answers for this test to mean anything");
        Assert.True(inputs.Select(x => x.Length).Distinct().Count() >= 5);

        await using var server = await TestServer.StartAsync(TinyStudent.Options with { MaxBatchSize = 16, MaxWait = TimeSpan.FromMilliseconds(20) });
        var chat = inputs.Select(x => server.PostAsync("v1/chat/completions", TestServer.ChatBody(x))).ToArray();
        var chatResults = await Task.WhenAll(chat);
        Assert.All(chatResults, r => Assert.Equal(200, r.Status));
        Assert.Equal(expected, chatResults.Select(r => (string?)r.Json!["choices"]![0]!["message"]!["content"]));

        // The native batch endpoint, with the inputs split over concurrent requests of different sizes.
        var chunks = new[] { inputs.Take(5), inputs.Skip(5).Take(27), inputs.Skip(32).Take(1), inputs.Skip(33) }.Select(c => c.ToList()).ToList();
        var predict = await Task.WhenAll(chunks.Select(c => server.PostAsync("v1/predict",
            new JsonObject { ["inputs"] = new JsonArray(c.Select(x => (JsonNode)JsonValue.Create(x)).ToArray()) }.ToJsonString())));
        Assert.All(predict, r => Assert.Equal(200, r.Status));
        Assert.Equal(expected, predict.SelectMany(r => r.Json!["predictions"]!.AsArray().Select(p => (string?)p!["label"])));

        // The requests really were batched together (otherwise this test shows nothing).
        var metrics = await server.Http.GetStringAsync(new Uri(server.Root, "metrics"));
        var batches = Prometheus.Sum(metrics, "stepdistill_inference_batch_size", "_count");
        var inputsRun = Prometheus.Sum(metrics, "stepdistill_inference_batch_size", "_sum");
        Assert.True(batches > 0 && inputsRun / batches > 1.5, $"mean batch size {inputsRun}/{batches}: the requests were not batched");
    }
}

/// <summary>Reads values out of Prometheus text.</summary>
internal static class Prometheus
{
    /// <summary>The sum over all series of metric <paramref name="name"/> (with an optional suffix such as _count, _sum).</summary>
    public static double Sum(string text, string name, string suffix = "")
    {
        double total = 0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal)) continue;
            var metric = line.Split(' ', 2)[0];
            var bare = metric.Split('{')[0];
            // Allow a unit suffix the exporter adds (e.g. _seconds) before the _count/_sum/_total suffix.
            if (suffix.Length > 0 ? !bare.EndsWith(suffix, StringComparison.Ordinal) : bare != name && !bare.StartsWith(name + "_", StringComparison.Ordinal)) continue;
            if (suffix.Length == 0 && (bare.EndsWith("_bucket") || bare.EndsWith("_count") || bare.EndsWith("_sum"))) continue;
            var value = line[(line.LastIndexOf('}') >= 0 ? line.LastIndexOf('}') + 1 : metric.Length)..].Trim().Split(' ')[0];
            total += double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
        }
        return total;
    }
}
