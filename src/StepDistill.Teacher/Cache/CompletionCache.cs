using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.AI;

namespace StepDistill.Teacher.Cache;

/// <summary>A finished teacher call as stored in the cache.</summary>
public sealed record CachedCompletion(string Text, string? FinishReason, long? InputTokens, long? OutputTokens);

/// <summary>
/// The durable record of finished calls (SQLite, WAL). A call is stored as soon as its answer arrives, before
/// the output record is written, so a crash at any point never pays for the same call twice.
/// </summary>
internal sealed class CompletionCache : IDisposable
{
    readonly SqliteConnection _db;
    readonly Lock _lock = new();

    public string Path { get; }

    public CompletionCache(string path)
    {
        Path = path;
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir != null) FileOps.CreateDirectory(dir);
        FileOps.Operation(FileOp.Create, path);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            _db.Open();
            // WAL + NORMAL: a commit survives a killed process (not necessarily a power cut), at no fsync per call.
            Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;");
            FileOps.Operation(FileOp.Commit, path);
            Exec("""
                CREATE TABLE IF NOT EXISTS completions(
                  key TEXT PRIMARY KEY, input_id TEXT, sample INTEGER, teacher TEXT, model TEXT,
                  text TEXT NOT NULL, finish_reason TEXT, input_tokens INTEGER, output_tokens INTEGER, created TEXT NOT NULL)
                """);
        }
        catch (SqliteException e)
        {
            _db.Dispose();
            throw new StepDistillException($"cannot open the cache {path}: {e.Message}", e);
        }
    }

    void Exec(string sql)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    public CachedCompletion? TryGet(string key)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT text, finish_reason, input_tokens, output_tokens FROM completions WHERE key = $k";
            cmd.Parameters.AddWithValue("$k", key);
            using var r = cmd.ExecuteReader();
            if (!r.Read()) return null;
            return new CachedCompletion(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1),
                r.IsDBNull(2) ? null : r.GetInt64(2), r.IsDBNull(3) ? null : r.GetInt64(3));
        }
    }

    public void Put(string key, string inputId, int sample, string teacher, string model, CachedCompletion c)
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = """
                INSERT OR REPLACE INTO completions(key, input_id, sample, teacher, model, text, finish_reason, input_tokens, output_tokens, created)
                VALUES ($k, $id, $s, $t, $m, $text, $f, $in, $out, $c)
                """;
            cmd.Parameters.AddWithValue("$k", key);
            cmd.Parameters.AddWithValue("$id", inputId);
            cmd.Parameters.AddWithValue("$s", sample);
            cmd.Parameters.AddWithValue("$t", teacher);
            cmd.Parameters.AddWithValue("$m", model);
            cmd.Parameters.AddWithValue("$text", c.Text);
            cmd.Parameters.AddWithValue("$f", (object?)c.FinishReason ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$in", (object?)c.InputTokens ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$out", (object?)c.OutputTokens ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$c", DateTime.UtcNow.ToString("O"));
            FileOps.Operation(FileOp.Commit, Path);
            cmd.ExecuteNonQuery();
        }
    }

    public long Count()
    {
        lock (_lock)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT COUNT(*) FROM completions";
            return (long)cmd.ExecuteScalar()!;
        }
    }

    /// <summary>
    /// The cache key: SHA-256 over everything that determines the answer: teacher endpoint, model, the full
    /// prompt (roles and texts), sampling parameters and the sample index.
    /// </summary>
    public static string Key(string teacher, string model, IEnumerable<ChatMessage> messages, ChatOptions options, int sample)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("v", 1);
            w.WriteString("teacher", teacher);
            w.WriteString("model", model);
            w.WriteStartArray("messages");
            foreach (var m in messages) { w.WriteStartArray(); w.WriteStringValue(m.Role.Value); w.WriteStringValue(m.Text); w.WriteEndArray(); }
            w.WriteEndArray();
            if (options.Temperature is float t) w.WriteNumber("temperature", t);
            if (options.TopP is float p) w.WriteNumber("top_p", p);
            if (options.MaxOutputTokens is int mx) w.WriteNumber("max_tokens", mx);
            if (options.Seed is long s) w.WriteNumber("seed", s);
            if (options.StopSequences is { } stops) { w.WriteStartArray("stop"); foreach (var x in stops) w.WriteStringValue(x); w.WriteEndArray(); }
            w.WriteNumber("sample", sample);
            w.WriteEndObject();
        }
        return Convert.ToHexStringLower(SHA256.HashData(ms.ToArray()));
    }

    public void Dispose() => _db.Dispose();
}
