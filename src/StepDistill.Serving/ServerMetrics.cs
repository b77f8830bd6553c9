using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace StepDistill.Serving;

/// <summary>
/// The server's own instruments (meter <see cref="MeterName"/>); batch sizes and queue depth come from the
/// inference library's meter. <c>/metrics</c> exports both in Prometheus text through OpenTelemetry.
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    /// <summary>The meter name of the server's instruments.</summary>
    public const string MeterName = "StepDistill.Serving";

    readonly Meter _meter;
    readonly Counter<long> _requests;
    readonly Histogram<double> _duration;
    readonly UpDownCounter<long> _active;
    readonly Counter<long> _tokens;

    // Seconds: a tiny student answers in milliseconds, a long rationale under load takes tens of seconds.
    static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    public ServerMetrics(IMeterFactory factory)
    {
        _meter = factory.Create(MeterName);
        _requests = _meter.CreateCounter<long>("stepdistill.server.requests", "{request}", "HTTP requests answered, by model, route and status");
        _duration = _meter.CreateHistogram("stepdistill.server.request.duration", "s", "Time from request start to the last byte of the answer",
                                           advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _active = _meter.CreateUpDownCounter<long>("stepdistill.server.active_requests", "{request}", "Requests being handled now");
        _tokens = _meter.CreateCounter<long>("stepdistill.server.tokens", "{token}", "Tokens read (input) and generated (output)");
    }

    public void Started() => _active.Add(1);

    public void Finished(string model, string route, int status, double seconds)
    {
        _active.Add(-1);
        var tags = new TagList { { "model", model }, { "route", route }, { "status", status } };
        _requests.Add(1, tags);
        _duration.Record(seconds, tags);
    }

    public void Tokens(int input, int output)
    {
        _tokens.Add(input, new KeyValuePair<string, object?>("direction", "input"));
        _tokens.Add(output, new KeyValuePair<string, object?>("direction", "output"));
    }

    public void Dispose() => _meter.Dispose();
}
