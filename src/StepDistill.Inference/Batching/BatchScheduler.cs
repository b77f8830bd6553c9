using System.Diagnostics;
using StepDistill.Student.Model;
using static TorchSharp.torch;

namespace StepDistill.Inference.Batching;

/// <summary>
/// The background loop of a <see cref="DistilledModel"/>: callers on any thread queue inputs; one dedicated thread
/// decodes them. Greedy decoding batches continuously (<see cref="StepDecoder"/>): between two decoding steps, waiting
/// inputs join the rows being decoded, up to the batch size, and every row leaves as soon as it ends. Beam search runs
/// micro-batches of one padded length to the end. When nothing runs, the oldest waiting input waits at most the max
/// wait for company. The queue is bounded: a call that does not fit is refused whole.
/// </summary>
internal sealed class BatchScheduler : IDisposable
{
    readonly T5ForConditionalGeneration _model;
    readonly DistilledModelOptions _o;
    readonly ModelMetrics _metrics;
    readonly LinkedList<WorkItem> _pending = new();
    readonly object _gate = new();
    readonly Thread _thread;
    bool _stopping;
    bool _stopped;

    public BatchScheduler(T5ForConditionalGeneration model, DistilledModelOptions options, ModelMetrics metrics)
    {
        _model = model;
        _o = options;
        _metrics = metrics;
        _thread = new Thread(Loop) { IsBackground = true, Name = "StepDistill.Inference batch loop" };
        _thread.Start();
    }

    /// <summary>Inputs waiting to run (not those running).</summary>
    public int Pending { get { lock (_gate) return _pending.Count; } }

    /// <summary>Queues every item or none; completes each item's <see cref="WorkItem.Done"/> when it has run.</summary>
    /// <exception cref="QueueFullException">They do not all fit.</exception>
    /// <exception cref="ObjectDisposedException">The model is being disposed.</exception>
    public void Enqueue(IReadOnlyList<WorkItem> items)
    {
        var now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping, typeof(DistilledModel));
            if (_pending.Count + items.Count > _o.MaxQueueLength)
            {
                _metrics.Rejected(items.Count);
                throw new QueueFullException(_pending.Count, items.Count, _o.MaxQueueLength);
            }
            foreach (var item in items)
            {
                item.EnqueuedAt = now;
                _pending.AddLast(item);
            }
            Monitor.PulseAll(_gate);
        }
        foreach (var item in items)
            if (item.CancellationToken.CanBeCanceled)
                item.Registration = item.CancellationToken.Register(static s =>
                {
                    var (me, it) = ((BatchScheduler, WorkItem))s!;
                    me.Cancel(it);
                }, (this, item));
    }

    void Cancel(WorkItem item)
    {
        item.Abandoned = true;
        lock (_gate) _pending.Remove(item);
        item.Done.TrySetCanceled(item.CancellationToken);
    }

    /// <summary>Stops taking calls, lets the queued ones run, then ends the loop.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopped) return;
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        if (Thread.CurrentThread != _thread) _thread.Join();
        lock (_gate) _stopped = true;
    }

    void Loop()
    {
        // Grad mode and dispose scopes are per thread: this thread owns every inference tensor.
        using var noGrad = no_grad();
        if (_o.NumBeams == 1) LoopGreedy();
        else LoopBeam();
    }

    /// <summary>
    /// Continuous batching: before every decoding step, waiting inputs join the rows being decoded (up to the batch
    /// size), and each row leaves, its caller answered, as soon as it ends.
    /// </summary>
    void LoopGreedy()
    {
        using var decoder = new StepDecoder(_model, _o.MaxInputLength);
        var items = new Dictionary<DecodeRow, WorkItem>(ReferenceEqualityComparer.Instance);
        while (true)
        {
            var joining = Take(decoder.Count);
            if (joining is null) return;
            var started = Stopwatch.GetTimestamp();
            foreach (var item in joining)
            {
                _metrics.QueueWait(Stopwatch.GetElapsedTime(item.EnqueuedAt, started));
                items[item.Row] = item;
            }
            try
            {
                decoder.Admit(joining.Where(i => !i.Abandoned).Select(i => i.Row).ToList());
                var rows = decoder.Count;
                var ended = decoder.Step();
                _metrics.Step(rows, Stopwatch.GetElapsedTime(started));
                foreach (var row in ended) Finish(items, row, null);
            }
            catch (Exception e)
            {
                foreach (var row in decoder.Clear()) Finish(items, row, e);
            }
            foreach (var item in joining.Where(i => i.Abandoned && items.ContainsKey(i.Row))) Finish(items, item.Row, null);
        }
    }

    void Finish(Dictionary<DecodeRow, WorkItem> items, DecodeRow row, Exception? error)
    {
        if (!items.Remove(row, out var item)) return;
        item.Registration.Dispose();
        if (item.Abandoned) { item.Done.TrySetCanceled(item.CancellationToken); return; }
        _metrics.Completed(row.Output.Count);
        if (error is null) item.Done.TrySetResult();
        else item.Done.TrySetException(error);
    }

    /// <summary>
    /// Blocks until there is something to do; returns the waiting inputs that join the rows being decoded
    /// (<paramref name="running"/> of them), or null once stopping with nothing left. With nothing running, the oldest
    /// input waits up to the max wait for company; with rows running, joiners are taken without waiting.
    /// </summary>
    List<WorkItem>? Take(int running)
    {
        lock (_gate)
        {
            if (running == 0)
            {
                while (true)
                {
                    while (_pending.Count == 0)
                    {
                        if (_stopping) return null;
                        Monitor.Wait(_gate);
                    }
                    var deadline = _pending.First!.Value.EnqueuedAt + (long)(_o.MaxWait.TotalSeconds * Stopwatch.Frequency);
                    while (!_stopping && _pending.Count is > 0 && _pending.Count < _o.MaxBatchSize)
                    {
                        var left = deadline - Stopwatch.GetTimestamp();
                        if (left <= 0) break;
                        Monitor.Wait(_gate, TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
                    }
                    if (_pending.Count > 0) break; // else every waiting input was cancelled meanwhile
                }
            }
            var joining = new List<WorkItem>();
            while (running + joining.Count < _o.MaxBatchSize && _pending.First is { } node)
            {
                joining.Add(node.Value);
                _pending.RemoveFirst();
            }
            return joining;
        }
    }

    /// <summary>Beam search: micro-batches of inputs with one padded length and token limit, each run to the end.</summary>
    void LoopBeam()
    {
        while (true)
        {
            var batch = NextBatch();
            if (batch is null) return;
            Run(batch);
        }
    }

    /// <summary>Blocks until a batch is ready (null once stopping with nothing left).</summary>
    List<WorkItem>? NextBatch()
    {
        lock (_gate)
        {
            while (true)
            {
                while (_pending.Count == 0)
                {
                    if (_stopping) return null;
                    Monitor.Wait(_gate);
                }
                var head = _pending.First!.Value;
                var deadline = head.EnqueuedAt + (long)(_o.MaxWait.TotalSeconds * Stopwatch.Frequency);
                while (!_stopping && CountLike(head) < _o.MaxBatchSize)
                {
                    var left = deadline - Stopwatch.GetTimestamp();
                    if (left <= 0) break;
                    Monitor.Wait(_gate, TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
                    if (_pending.First?.Value != head) break; // the head was cancelled: start over
                }
                if (_pending.First?.Value != head) continue;
                var batch = new List<WorkItem>(_o.MaxBatchSize);
                for (var node = _pending.First; node is not null && batch.Count < _o.MaxBatchSize;)
                {
                    var next = node.Next;
                    if (node.Value.SameBatch(head)) { batch.Add(node.Value); _pending.Remove(node); }
                    node = next;
                }
                return batch;
            }
        }
    }

    int CountLike(WorkItem head)
    {
        var n = 0;
        foreach (var item in _pending) if (item.SameBatch(head) && ++n >= _o.MaxBatchSize) break;
        return n;
    }

    void Run(List<WorkItem> batch)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var item in batch) _metrics.QueueWait(Stopwatch.GetElapsedTime(item.EnqueuedAt, started));
        var live = batch.Where(i => !i.Abandoned).ToList();
        try
        {
            BeamDecoder.Run(_model, live.Select(i => i.Row).ToList(), batch[0].PaddedLength, _o.NumBeams);
            foreach (var item in live) item.Done.TrySetResult();
        }
        catch (Exception e)
        {
            foreach (var item in live) item.Done.TrySetException(e);
        }
        foreach (var item in batch) item.Registration.Dispose();
        _metrics.Step(live.Count, Stopwatch.GetElapsedTime(started));
        foreach (var item in live) _metrics.Completed(item.Row.Output.Count);
    }
}
