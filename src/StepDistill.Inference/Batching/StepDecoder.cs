using StepDistill.Student.Model;
using static TorchSharp.torch;

namespace StepDistill.Inference.Batching;

/// <summary>
/// Greedy decoding of a changing set of rows (continuous batching): rows join between steps (their inputs are encoded
/// then), every step gives each row one token, and a row leaves as soon as it ends, so a new input never waits for a
/// whole batch to finish and a short answer never waits for a long one. A row's padded input length
/// (<see cref="LengthBuckets"/>) and self-attention length (the bucket of its token limit) depend on the row alone, and
/// <see cref="StepBatch"/> never lets a reduction mix lengths: a row's tokens depend only on its own input and limit,
/// never on its batch-mates or on the step at which it joined. Rows of one self-attention length share a
/// <see cref="StepBatch"/>; a step decodes each batch once. Used from one thread; every tensor is owned by a batch or
/// freed by a dispose scope.
/// </summary>
internal sealed class StepDecoder(T5ForConditionalGeneration model, int maxInputLength) : IDisposable
{
    sealed class Slot(StepBatch batch)
    {
        public StepBatch Batch { get; } = batch;
        public List<DecodeRow> Rows { get; } = new(); // in the batch's row order
        public List<long> Last { get; } = new();      // each row's latest token, the next step's input
    }

    readonly Dictionary<int, Slot> _slots = new(); // by self-attention length

    /// <summary>Rows being decoded.</summary>
    public int Count => _slots.Values.Sum(s => s.Rows.Count);

    /// <summary>Encodes <paramref name="rows"/> (one encoder pass per padded length) and adds them to the rows being decoded.</summary>
    public void Admit(IReadOnlyList<DecodeRow> rows)
    {
        var c = model.Config;
        foreach (var same in rows.GroupBy(r => (Input: LengthBuckets.For(r.Input.Length, maxInputLength), Self: SelfLength(r))))
        {
            if (!_slots.TryGetValue(same.Key.Self, out var slot))
                _slots[same.Key.Self] = slot = new Slot(model.NewStepBatch(same.Key.Self));
            var list = same.ToList();
            using var scope = NewDisposeScope();
            var (ids, mask) = LengthBuckets.Pad(list, same.Key.Input, c.PadTokenId, model.parameters().First().device);
            var at = model.AddRows(slot.Batch, ids, mask);
            slot.Rows.InsertRange(at, list);
            slot.Last.InsertRange(at, Enumerable.Repeat((long)c.DecoderStartTokenId, list.Count));
        }
    }

    /// <summary>
    /// One token for every row; returns the rows that ended (end token, token limit, or abandoned by their caller)
    /// and are no longer decoded.
    /// </summary>
    public List<DecodeRow> Step()
    {
        var done = new List<DecodeRow>();
        Remove(r => r.Abandoned?.Invoke() == true, done);
        var c = model.Config;
        foreach (var slot in _slots.Values)
        {
            long[] next;
            using (var scope = NewDisposeScope())
            {
                var last = tensor(slot.Last.ToArray(), ScalarType.Int64).view(-1, 1).to(model.parameters().First().device);
                next = model.DecodeStep(last, slot.Batch).argmax(-1).cpu().data<long>().ToArray();
            }
            for (var r = 0; r < slot.Rows.Count; r++)
            {
                var row = slot.Rows[r];
                var token = (int)next[r];
                row.Output.Add(token);
                slot.Last[r] = token;
                if (token == c.EosTokenId) row.Finish = CompletionFinishReason.Stop;
                row.OnToken?.Invoke(token);
            }
        }
        Remove(r => r.Finish == CompletionFinishReason.Stop || r.Output.Count >= r.MaxNewTokens, done);
        return done;
    }

    /// <summary>Takes every row out (after a failure); returns them.</summary>
    public List<DecodeRow> Clear()
    {
        var all = _slots.Values.SelectMany(s => s.Rows).ToList();
        foreach (var s in _slots.Values) s.Batch.Dispose();
        _slots.Clear();
        return all;
    }

    void Remove(Func<DecodeRow, bool> ended, List<DecodeRow> done)
    {
        foreach (var (length, slot) in _slots.ToList())
        {
            var gone = slot.Rows.Select(ended).ToArray(); // once: a caller may abandon its row meanwhile
            var keep = Enumerable.Range(0, slot.Rows.Count).Where(r => !gone[r]).ToList();
            if (keep.Count == slot.Rows.Count) continue;
            done.AddRange(slot.Rows.Where((_, r) => gone[r]));
            if (keep.Count == 0)
            {
                slot.Batch.Dispose();
                _slots.Remove(length);
                continue;
            }
            slot.Batch.Keep(keep);
            var (rows, last) = (keep.Select(r => slot.Rows[r]).ToList(), keep.Select(r => slot.Last[r]).ToList());
            slot.Rows.Clear(); slot.Rows.AddRange(rows);
            slot.Last.Clear(); slot.Last.AddRange(last);
        }
    }

    /// <summary>The self-attention buffer of a row: the bucket of its token limit (a function of the row alone).</summary>
    static int SelfLength(DecodeRow row) => LengthBuckets.For(row.MaxNewTokens, int.MaxValue);

    public void Dispose() => Clear();
}
