using System.Diagnostics.Metrics;

namespace StepDistill.Inference;

/// <summary>
/// Names of what a <see cref="DistilledModel"/> reports through <see cref="System.Diagnostics.Metrics"/>: one
/// <see cref="Meter"/> named <see cref="MeterName"/> per loaded model, each measurement tagged with
/// <see cref="ModelTag"/>. An exporter (OpenTelemetry's <c>AddMeter(InferenceMetrics.MeterName)</c>, or
/// <c>dotnet-counters</c>) picks them up; the library itself depends on no exporter.
/// </summary>
public static class InferenceMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "StepDistill.Inference";
    /// <summary>Tag holding <see cref="DistilledModel.ModelId"/>.</summary>
    public const string ModelTag = "model";
    /// <summary>Histogram: inputs decoded together, per decoding step (greedy, continuous batching) or per micro-batch (beam search).</summary>
    public const string BatchSize = "stepdistill.inference.batch_size";
    /// <summary>Histogram: seconds a decoding step (greedy) or a micro-batch (beam search) ran.</summary>
    public const string BatchDuration = "stepdistill.inference.batch_duration";
    /// <summary>Histogram: seconds an input waited in the queue before it started decoding.</summary>
    public const string QueueWait = "stepdistill.inference.queue_wait";
    /// <summary>Gauge: inputs waiting in the queue.</summary>
    public const string QueueDepth = "stepdistill.inference.queue_depth";
    /// <summary>Counter: inputs processed.</summary>
    public const string Inputs = "stepdistill.inference.inputs";
    /// <summary>Counter: tokens generated.</summary>
    public const string OutputTokens = "stepdistill.inference.output_tokens";
    /// <summary>Counter: inputs refused because the queue was full.</summary>
    public const string Rejected = "stepdistill.inference.rejected";
}

/// <summary>The instruments of one model.</summary>
internal sealed class ModelMetrics : IDisposable
{
    readonly Meter _meter;
    readonly KeyValuePair<string, object?> _tag;
    readonly Histogram<int> _batchSize;
    readonly Histogram<double> _batchDuration;
    readonly Histogram<double> _queueWait;
    readonly Counter<long> _inputs;
    readonly Counter<long> _outputTokens;
    readonly Counter<long> _rejected;

    public ModelMetrics(string modelId, Func<int> queueDepth)
    {
        _meter = new Meter(InferenceMetrics.MeterName, typeof(ModelMetrics).Assembly.GetName().Version?.ToString());
        _tag = new(InferenceMetrics.ModelTag, modelId);
        _batchSize = _meter.CreateHistogram<int>(InferenceMetrics.BatchSize, "{input}", "Inputs decoded together per step (beam search: per micro-batch)");
        _batchDuration = _meter.CreateHistogram<double>(InferenceMetrics.BatchDuration, "s", "Time a decoding step (beam search: a micro-batch) ran");
        _queueWait = _meter.CreateHistogram<double>(InferenceMetrics.QueueWait, "s", "Time an input waited before it started decoding");
        _inputs = _meter.CreateCounter<long>(InferenceMetrics.Inputs, "{input}", "Inputs processed");
        _outputTokens = _meter.CreateCounter<long>(InferenceMetrics.OutputTokens, "{token}", "Tokens generated");
        _rejected = _meter.CreateCounter<long>(InferenceMetrics.Rejected, "{input}", "Inputs refused because the queue was full");
        var tag = _tag;
        _meter.CreateObservableGauge(InferenceMetrics.QueueDepth, () => new Measurement<int>(queueDepth(), tag), "{input}", "Inputs waiting");
    }

    public void Step(int size, TimeSpan duration)
    {
        if (size == 0) return;
        _batchSize.Record(size, _tag);
        _batchDuration.Record(duration.TotalSeconds, _tag);
    }

    public void Completed(long tokens)
    {
        _inputs.Add(1, _tag);
        _outputTokens.Add(tokens, _tag);
    }

    public void QueueWait(TimeSpan wait) => _queueWait.Record(wait.TotalSeconds, _tag);

    public void Rejected(int inputs) => _rejected.Add(inputs, _tag);

    public void Dispose() => _meter.Dispose();
}
