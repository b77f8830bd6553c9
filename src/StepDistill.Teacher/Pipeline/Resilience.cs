using System.ClientModel;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.Extensions.AI;
using Polly;
using Polly.RateLimiting;
using Polly.Retry;
using Polly.Timeout;

namespace StepDistill.Teacher.Pipeline;

/// <summary>The server answered, but with no choice to read (e.g. a content filter). Retrying will not help.</summary>
internal sealed class EmptyResponseException(string message) : Exception(message);

/// <summary>
/// Retry (exponential back-off with jitter, honouring Retry-After) around a client-side rate limiter
/// (requests and tokens per minute) around a per-attempt timeout: each attempt is limited and timed alone.
/// </summary>
internal static class Resilience
{
    public static readonly ResiliencePropertyKey<int> EstimatedTokens = new("stepdistill.tokens");
    public static readonly ResiliencePropertyKey<RetryLog> Log = new("stepdistill.retrylog");

    /// <summary>Per-call notes from the retry strategy (for the failure reason and statistics).</summary>
    internal sealed class RetryLog { public int Retries; }

    public static ResiliencePipeline<ChatResponse> Build(AnnotateOptions o, Action onRetry, out IDisposable limiters)
    {
        var b = new ResiliencePipelineBuilder<ChatResponse>();
        // Polly refuses MaxRetryAttempts = 0, so "no retries" means no retry strategy at all.
        if (o.MaxRetries > 0)
        {
            b.AddRetry(new RetryStrategyOptions<ChatResponse>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && IsTransient(e)),
                MaxRetryAttempts = o.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = o.RetryBaseDelay,
                MaxDelay = o.MaxRetryDelay,
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Exception)),
                OnRetry = args =>
                {
                    if (args.Context.Properties.TryGetValue(Log, out var log)) log.Retries++;
                    onRetry();
                    return default;
                },
            });
        }
        var owned = new List<IDisposable>();
        RateLimiter? requests = null, tokens = null;
        int tokenBurst = 0;
        if (o.RequestsPerMinute is int rpm and > 0) owned.Add(requests = PerMinute(rpm, out _));
        if (o.TokensPerMinute is int tpm and > 0) owned.Add(tokens = PerMinute(tpm, out tokenBurst));
        if (requests != null || tokens != null)
        {
            b.AddRateLimiter(new RateLimiterStrategyOptions
            {
                RateLimiter = async args =>
                {
                    var leases = new List<RateLimitLease>();
                    if (requests != null) leases.Add(await requests.AcquireAsync(1, args.Context.CancellationToken));
                    if (tokens != null && leases.All(l => l.IsAcquired))
                    {
                        // A request larger than the bucket takes it in several helpings, so every token is counted.
                        var want = Math.Max(1, args.Context.Properties.GetValue(EstimatedTokens, 1));
                        while (want > 0 && leases.All(l => l.IsAcquired))
                        {
                            var take = Math.Min(want, tokenBurst);
                            leases.Add(await tokens.AcquireAsync(take, args.Context.CancellationToken));
                            want -= take;
                        }
                    }
                    return new CombinedLease(leases);
                },
            });
        }
        b.AddTimeout(o.Timeout);
        limiters = new Disposables(owned);
        return b.Build();
    }

    /// <summary>
    /// A token bucket refilled smoothly at <paramref name="perMinute"/> per minute (every 100 ms or slower) that
    /// holds at most five seconds' worth (<paramref name="burst"/>): providers enforce per-minute limits over
    /// short periods, so a minute's quota sent at once would be refused.
    /// </summary>
    internal static TokenBucketRateLimiter PerMinute(int perMinute, out int burst)
    {
        int perPeriod = Math.Max(1, (int)Math.Ceiling(perMinute / 600.0));
        burst = Math.Max(perPeriod, (int)Math.Ceiling(perMinute / 12.0));
        return new(new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = perPeriod,
            ReplenishmentPeriod = TimeSpan.FromMinutes((double)perPeriod / perMinute),
            QueueLimit = int.MaxValue,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            AutoReplenishment = true,
        });
    }

    /// <summary>Worth another try: throttling, server errors, timeouts, broken connections, garbled bodies.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        EmptyResponseException => false,
        ClientResultException c => c.Status is 0 or 408 or 409 or 429 or >= 500,
        HttpRequestException h => h.StatusCode is null or HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
                                  or >= HttpStatusCode.InternalServerError,
        TimeoutRejectedException or IOException or JsonException => true,
        _ => false,
    };

    /// <summary>The server's Retry-After (seconds or a date) or retry-after-ms, if it sent one.</summary>
    public static TimeSpan? RetryAfter(Exception? e)
    {
        if (e is not ClientResultException c || c.GetRawResponse() is not { } resp) return null;
        if (resp.Headers.TryGetValue("retry-after-ms", out var ms) && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture,
            out var msv) && msv >= 0)
            return TimeSpan.FromMilliseconds(msv);
        if (!resp.Headers.TryGetValue("Retry-After", out var ra) || ra is null) return null;
        if (double.TryParse(ra, NumberStyles.Float, CultureInfo.InvariantCulture, out var secs) && secs >= 0)
            return TimeSpan.FromSeconds(Math.Min(secs, 600));
        if (DateTimeOffset.TryParse(ra, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var when))
        {
            var wait = when - DateTimeOffset.UtcNow;
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > TimeSpan.FromMinutes(10) ? TimeSpan.FromMinutes(10) : wait;
        }
        return null;
    }

    /// <summary>A one-line reason for a failed call, without request bodies or credentials.</summary>
    public static string Describe(Exception e, TimeSpan timeout) => e switch
    {
        TimeoutRejectedException => $"timed out after {timeout.TotalSeconds:0.###} s",
        ClientResultException c => $"HTTP {c.Status}: {FirstLine(c.Message)}",
        HttpRequestException h => h.StatusCode is { } sc ? $"HTTP {(int)sc}: {FirstLine(h.Message)}" : $"connection error: {FirstLine(h.Message)}",
        JsonException or FormatException => $"malformed response: {FirstLine(e.Message)}",
        EmptyResponseException => e.Message,
        _ => $"{e.GetType().Name}: {FirstLine(e.Message)}",
    };

    static string FirstLine(string s)
    {
        var nl = s.IndexOf('\n');
        var line = (nl >= 0 ? s[..nl] : s).Trim();
        return line.Length > 300 ? line[..300] + "..." : line;
    }

    sealed class CombinedLease(List<RateLimitLease> leases) : RateLimitLease
    {
        public override bool IsAcquired => leases.All(l => l.IsAcquired);
        public override IEnumerable<string> MetadataNames => leases.SelectMany(l => l.MetadataNames).Distinct();
        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            foreach (var l in leases) if (l.TryGetMetadata(metadataName, out metadata)) return true;
            metadata = null;
            return false;
        }
        protected override void Dispose(bool disposing) { foreach (var l in leases) l.Dispose(); }
    }

    sealed class Disposables(List<IDisposable> items) : IDisposable
    {
        public void Dispose() { foreach (var d in items) d.Dispose(); }
    }
}
