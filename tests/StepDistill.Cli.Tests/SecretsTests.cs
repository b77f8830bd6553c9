using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using StepDistill.Teacher.Tests;

namespace StepDistill.Cli.Tests;

/// <summary>
/// An API key never leaves the request header: not in a log line, an output record, a cache row or an error,
/// whatever the server does (fails, throttles, times out, or echoes the key back in its error body).
/// </summary>
public sealed class SecretsTests : IDisposable
{
    const string Key = "sk-test-SECRETKEY-4f1c9a7e2b";
    const string KeyVariable = "STEPDISTILL_TEST_SECRET_KEY";
    readonly string _dir = Directory.CreateTempSubdirectory("stepdistill-secrets-").FullName;

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(KeyVariable, null);
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, true);
    }

    static int ItemOf(RecordedRequest r)
    {
        var text = r.LastUser;
        var at = text.IndexOf("Problem ", StringComparison.Ordinal) + 8;
        return int.Parse(text[at..text.IndexOf(':', at)]);
    }

    static Reply Answer(int i) => Reply.Completion($"{i} + 1 = {i + 1}. So the answer is ( {i} + 1 ).");

    [Fact]
    public async Task The_api_key_appears_in_no_log_output_cache_or_error()
    {
        var firstSeen = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        await using var server = new FakeOpenAIServer(r =>
        {
            var i = ItemOf(r);
            var attempt = firstSeen.AddOrUpdate(i, 1, (_, n) => n + 1);
            return i switch
            {
                0 => Reply.Error(500),                                                                   // fails every time
                1 when attempt == 1 => Reply.Error(429, new Dictionary<string, string> { ["Retry-After"] = "0.2" }), // throttled once
                2 => Reply.Completion("too late", delay: TimeSpan.FromSeconds(5)),                      // times out every time
                3 => new Reply(401, JsonSerializer.Serialize(new
                {
                    error = new
                    {
                        message = $"Incorrect API key provided: {Key}.",
                        type = "invalid_request_error", code = "invalid_api_key"
                    }
                })),
                4 => new Reply(500, $"{{\"error\":{{\"message\":\"upstream said: Authorization: Bearer {Key}\"}}}}"),
                _ => Answer(i),
            };
        });
        var input = Path.Combine(_dir, "in.jsonl");
        File.WriteAllLines(input, Enumerable.Range(0, 7).Select(i => JsonSerializer.Serialize(new
        {
            id = $"item-{i}", input = $"Problem {i}: Ann has " +
            $"{i} apples and gets 1 more. How many?", label = $"( {i}.0 + 1.0 )"
        })));
        var output = Path.Combine(_dir, "out.jsonl");
        Environment.SetEnvironmentVariable(KeyVariable, Key);

        var stdout = new StringWriter();
        var previousOut = Console.Out;
        Console.SetOut(stdout); // the summary is written to Console.Out, the harness captures Spectre's console
        (int Rc, string Stdout, string Stderr) run;
        Exception? thrown = null;
        try
        {
            run = await CliHarness.Run("annotate", "--teacher", "openai:teacher-model", "--endpoint", server.BaseUri.AbsoluteUri,
                "--api-key-env", KeyVariable, "--prompt", "svamp", "--input", input, "--output", output,
                "--timeout", "0.5", "--retries", "2", "--retry-delay", "0.01", "--concurrency", "4", "--progress-interval", "0.1");
        }
        catch (Exception e)
        {
            thrown = e;
            run = (-1, "", "");
        }
        finally
        {
            Console.SetOut(previousOut);
        }

        // The key was in play: the server got it, as a bearer token, on every request.
        Assert.NotEmpty(server.Requests);
        Assert.All(server.Requests, r => Assert.Equal("Bearer " + Key, r.Headers["Authorization"]));
        Assert.Null(thrown);
        Assert.Equal(0, run.Rc);
        var records = File.ReadAllLines(output).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToDictionary(e => e.GetProperty("id").GetString()!);
        Assert.Equal(7, records.Count);
        Assert.Equal("failed", records["item-0"].GetProperty("status").GetString());
        Assert.Equal("ok", records["item-1"].GetProperty("status").GetString());
        Assert.Contains("timed out", records["item-2"].GetProperty("error").GetString());
        Assert.StartsWith("HTTP 401", records["item-3"].GetProperty("error").GetString());
        Assert.Equal("ok", records["item-5"].GetProperty("status").GetString());

        var haystacks = new List<(string Where, string Text)>
        {
            ("stdout", stdout + run.Stdout), ("stderr", run.Stderr),
        };
        Assert.Contains("requests:", haystacks[0].Text); // the summary was captured
        // Every file the run left (output, cache, its journal), as bytes read as text ...
        foreach (var file in Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories))
            haystacks.Add((file, Encoding.UTF8.GetString(File.ReadAllBytes(file))));
        // ... and every row of every cache table, column by column.
        var cachePath = output + ".cache.sqlite";
        Assert.True(File.Exists(cachePath));
        int rows = 0;
        using (var db = new SqliteConnection($"Data Source={cachePath};Mode=ReadOnly;Pooling=False"))
        {
            db.Open();
            var tables = new List<string>();
            using (var cmd = db.CreateCommand())
            {
                cmd.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
                using var reader = cmd.ExecuteReader();
                while (reader.Read()) tables.Add(reader.GetString(0));
            }
            foreach (var table in tables)
            {
                using var cmd = db.CreateCommand();
                cmd.CommandText = $"SELECT * FROM \"{table}\"";
                using var reader = cmd.ExecuteReader();
                while (reader.Read())
                {
                    rows++;
                    for (int c = 0; c < reader.FieldCount; c++)
                        if (!reader.IsDBNull(c))
                            haystacks.Add(($"{table} row {rows} column {reader.GetName(c)}",
                                reader.GetValue(c) is byte[] b ? Encoding.UTF8.GetString(b) : Convert.ToString(reader.GetValue(c),
                                    System.Globalization.CultureInfo.InvariantCulture)!));
                }
            }
        }
        Assert.True(rows >= 3, $"{rows} cache rows"); // the successful calls were cached
        // The key, or any long piece of it (a masked echo keeps a prefix and suffix).
        var pieces = new[] { Key, Key[..16], Key[^12..] };
        var hits = haystacks.SelectMany(h => pieces.Where(p => h.Text.Contains(p, StringComparison.Ordinal)).Select(p => $"{h.Where}: '{p}'")).ToList();
        Assert.True(hits.Count == 0, "the key leaked into: " + string.Join("; ", hits));
    }
}
