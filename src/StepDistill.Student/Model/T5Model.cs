using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace StepDistill.Student.Model;

// T5 (v1.0, v1.1, flan-t5) as Hugging Face transformers' modeling_t5.py defines it, read top to bottom.
// Module and parameter names are the checkpoint's state-dict keys (encoder.block.0.layer.0.SelfAttention.q.weight),
// so checkpoints load by name. Parity notes: RMS layer norm computed in float32, no 1/sqrt(d_kv) scaling of
// attention scores, one relative-position bias per stack (from block 0), softmax in float32.

/// <summary>T5's layer norm: RMS only, no mean subtraction, no bias.</summary>
public sealed class T5LayerNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;

    /// <summary>A layer norm over <paramref name="dModel"/> features with epsilon <paramref name="eps"/>.</summary>
    public T5LayerNorm(int dModel, double eps) : base("T5LayerNorm")
    {
        this.eps = eps;
        weight = nn.Parameter(ones(dModel));
        register_parameter("weight", weight);
    }

    /// <summary>Normalised <paramref name="x"/>, scaled by <c>weight</c>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var variance = x.to(ScalarType.Float32).pow(2).mean([-1L], keepdim: true);
        var y = x * rsqrt(variance + eps);
        return (weight * y.to(weight.dtype)).MoveToOuterDisposeScope();
    }
}

/// <summary>Feed-forward: <c>wo(act(wi(x)))</c>, or gated <c>wo(act(wi_0(x)) * wi_1(x))</c> for v1.1.</summary>
public sealed class T5DenseActDense : nn.Module<Tensor, Tensor>
{
    private readonly Linear? wi, wi_0, wi_1;
    private readonly Linear wo;
    private readonly string act;
    private readonly double dropout;

    /// <summary>The feed-forward layer of config <paramref name="c"/> (<c>wi</c> or <c>wi_0</c>/<c>wi_1</c>, then <c>wo</c>).</summary>
    public T5DenseActDense(T5Config c) : base("DenseReluDense")
    {
        act = c.DenseActFn;
        dropout = c.DropoutRate;
        if (c.IsGatedAct)
        {
            wi_0 = nn.Linear(c.DModel, c.DFf, hasBias: false);
            wi_1 = nn.Linear(c.DModel, c.DFf, hasBias: false);
            register_module("wi_0", wi_0);
            register_module("wi_1", wi_1);
        }
        else
        {
            wi = nn.Linear(c.DModel, c.DFf, hasBias: false);
            register_module("wi", wi);
        }
        wo = nn.Linear(c.DFf, c.DModel, hasBias: false);
        register_module("wo", wo);
    }

    private Tensor Act(Tensor x) => act switch
    {
        "relu" => F.relu(x),
        "gelu_new" => F.gelu(x, GELU.Approximate.tanh), // HF's NewGELUActivation is the tanh approximation
        _ => F.gelu(x),
    };

    /// <summary>The feed-forward output for <paramref name="x"/>.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = wi_0 is not null ? Act(wi_0.forward(x)) * wi_1!.forward(x) : Act(wi!.forward(x));
        h = F.dropout(h, dropout, training);
        return wo.forward(h).MoveToOuterDisposeScope();
    }
}

/// <summary>Multi-head attention without score scaling; optionally owns the stack's relative-position table.</summary>
public sealed class T5Attention : nn.Module
{
    private readonly Linear q, k, v, o;
    private readonly Embedding? relative_attention_bias;
    private readonly int nHeads, dKv, numBuckets, maxDistance;
    private readonly bool isDecoder;
    private readonly double dropout;

    /// <summary>An attention layer of config <paramref name="c"/>; block 0 of each stack owns the relative-position table.</summary>
    public T5Attention(T5Config c, bool isDecoder, bool hasRelativeAttentionBias) : base("T5Attention")
    {
        this.isDecoder = isDecoder;
        nHeads = c.NumHeads;
        dKv = c.DKv;
        numBuckets = c.RelativeAttentionNumBuckets;
        maxDistance = c.RelativeAttentionMaxDistance;
        dropout = c.DropoutRate;
        var inner = nHeads * dKv;
        q = nn.Linear(c.DModel, inner, hasBias: false);
        k = nn.Linear(c.DModel, inner, hasBias: false);
        v = nn.Linear(c.DModel, inner, hasBias: false);
        o = nn.Linear(inner, c.DModel, hasBias: false);
        register_module("q", q);
        register_module("k", k);
        register_module("v", v);
        register_module("o", o);
        if (hasRelativeAttentionBias)
        {
            relative_attention_bias = nn.Embedding(numBuckets, nHeads);
            register_module("relative_attention_bias", relative_attention_bias);
        }
    }

    /// <summary>
    /// HF's <c>_relative_position_bucket</c>: maps <c>key_pos - query_pos</c> to a bucket; exact for small
    /// distances, logarithmic up to <paramref name="maxDistance"/>, capped at the last bucket.
    /// </summary>
    public static Tensor RelativePositionBucket(Tensor relativePosition, bool bidirectional, int numBuckets, int maxDistance)
    {
        using var scope = NewDisposeScope();
        if (bidirectional) numBuckets /= 2;
        var maxExact = numBuckets / 2;
        // Every scalar operand held in a variable until the end: an implicit conversion's temporary Scalar is only
        // a raw handle to libtorch, and the GC may finalize it while the native call still reads it (this function,
        // run at every forward pass, failed twice in tests with "Unknown scalar type").
        using Scalar zero = 0, offset = numBuckets, exact = maxExact, logRange = Math.Log((double)maxDistance / maxExact),
                     largeBuckets = numBuckets - maxExact, lastBucket = numBuckets - 1;
        var buckets = zeros_like(relativePosition);
        Tensor rel;
        if (bidirectional)
        {
            buckets = buckets + relativePosition.gt(zero).to(ScalarType.Int64) * offset;
            rel = relativePosition.abs();
        }
        else
        {
            rel = -minimum(relativePosition, zeros_like(relativePosition));
        }
        var isSmall = rel.lt(exact);
        var large = (log(rel.to(ScalarType.Float32) / exact) / logRange * largeBuckets).to(ScalarType.Int64) + exact;
        large = minimum(large, full_like(large, lastBucket));
        return (buckets + where(isSmall, rel, large)).MoveToOuterDisposeScope();
    }

    /// <summary>Position bias <c>[1, heads, qLen, kLen]</c> for queries at positions <c>pastLength..pastLength+qLen-1</c>.</summary>
    public Tensor ComputeBias(long qLen, long kLen, long pastLength = 0)
    {
        if (relative_attention_bias is null) throw new InvalidOperationException("this attention layer has no relative_attention_bias");
        using var scope = NewDisposeScope();
        var device = relative_attention_bias.weight!.device;
        var context = arange(pastLength, pastLength + qLen, ScalarType.Int64, device).unsqueeze(1);
        var memory = arange(0, kLen, ScalarType.Int64, device).unsqueeze(0);
        var buckets = RelativePositionBucket(memory - context, !isDecoder, numBuckets, maxDistance);
        var values = relative_attention_bias.forward(buckets); // [q, k, heads]
        return values.permute(2, 0, 1).unsqueeze(0).MoveToOuterDisposeScope();
    }

    /// <summary>Position bias <c>[rows, heads, 1, kLen]</c> for one query per row, <paramref name="relativePosition"/> <c>[rows, kLen]</c> = key − query.</summary>
    internal Tensor ComputeBias(Tensor relativePosition)
    {
        if (relative_attention_bias is null) throw new InvalidOperationException("this attention layer has no relative_attention_bias");
        using var scope = NewDisposeScope();
        var buckets = RelativePositionBucket(relativePosition, !isDecoder, numBuckets, maxDistance);
        return relative_attention_bias.forward(buckets).permute(0, 2, 1).unsqueeze(2).MoveToOuterDisposeScope(); // [rows, heads, 1, k]
    }

    private Tensor Shape(Tensor x, long batch) => x.view(batch, -1, nHeads, dKv).transpose(1, 2);

    /// <summary>
    /// Attention of <paramref name="hidden"/> over itself (<paramref name="keyValueStates"/> null) or over the encoder
    /// output. <paramref name="cache"/> holds this layer's keys and values across generation steps: self-attention
    /// appends the new positions, cross-attention computes them once.
    /// </summary>
    public Tensor Forward(Tensor hidden, Tensor? keyValueStates, Tensor positionBias, LayerCache? cache = null, List<Tensor>? attentions = null)
    {
        using var scope = NewDisposeScope();
        var batch = hidden.shape[0];
        var query = Shape(q.forward(hidden), batch);
        Tensor key, value;
        if (keyValueStates is null)
        {
            key = Shape(k.forward(hidden), batch);
            value = Shape(v.forward(hidden), batch);
            if (cache is not null)
            {
                if (cache.Key is not null)
                {
                    key = cat([cache.Key, key], 2);
                    value = cat([cache.Value!, value], 2);
                }
                cache.Set(key, value);
            }
        }
        else if (cache?.Key is not null)
        {
            key = cache.Key;
            value = cache.Value!;
        }
        else
        {
            key = Shape(k.forward(keyValueStates), batch);
            value = Shape(v.forward(keyValueStates), batch);
            cache?.Set(key, value);
        }
        var scores = matmul(query, key.transpose(3, 2)) + positionBias;
        var weights = F.softmax(scores.to(ScalarType.Float32), -1).to(scores.dtype);
        attentions?.Add(weights.detach().DetachFromDisposeScope());
        weights = F.dropout(weights, dropout, training);
        var output = matmul(weights, value).transpose(1, 2).contiguous().view(batch, -1, nHeads * dKv);
        return o.forward(output).MoveToOuterDisposeScope();
    }

    /// <summary>Keys and values <c>[batch, heads, len, d_kv]</c> of <paramref name="states"/> (cross-attention over the encoder output).</summary>
    internal (Tensor Key, Tensor Value) KeysAndValues(Tensor states)
    {
        using var scope = NewDisposeScope();
        var batch = states.shape[0];
        return (Shape(k.forward(states), batch).MoveToOuterDisposeScope(), Shape(v.forward(states), batch).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// One new position per row of <paramref name="batch"/> (<paramref name="hidden"/> <c>[rows, 1, d_model]</c>).
    /// Self-attention (<paramref name="self"/>) first writes each row's new key and value at the row's step, then attends
    /// over the batch's fixed-length buffer; cross-attention runs part by part, each over its own encoder length. So
    /// each row reduces over exactly the keys it would have alone, while the projections run over all rows at once.
    /// </summary>
    internal Tensor Step(Tensor hidden, StepBatch batch, int layer, bool self)
    {
        using var scope = NewDisposeScope();
        var rows = hidden.shape[0];
        var query = Shape(q.forward(hidden), rows);
        Tensor output;
        if (self)
        {
            var (key, value, bias) = batch.WriteSelf(layer, Shape(k.forward(hidden), rows), Shape(v.forward(hidden), rows));
            output = Attend(query, key, value, bias);
        }
        else
        {
            output = cat(batch.CrossParts(layer).Select(p => Attend(query.narrow(0, p.Start, p.Rows), p.Key, p.Value, p.Bias)).ToList(), 0);
        }
        return o.forward(output.transpose(1, 2).contiguous().view(rows, -1, nHeads * dKv)).MoveToOuterDisposeScope();
    }

    private static Tensor Attend(Tensor query, Tensor key, Tensor value, Tensor bias)
    {
        var scores = matmul(query, key.transpose(3, 2)) + bias;
        var weights = F.softmax(scores.to(ScalarType.Float32), -1).to(scores.dtype);
        return matmul(weights, value);
    }
}

/// <summary>Keys and values of one attention layer, kept across generation steps. Owns its tensors.</summary>
public sealed class LayerCache : IDisposable
{
    /// <summary>Keys <c>[batch, heads, len, d_kv]</c>, or null before the first step.</summary>
    public Tensor? Key { get; private set; }
    /// <summary>Values <c>[batch, heads, len, d_kv]</c>, or null before the first step.</summary>
    public Tensor? Value { get; private set; }

    internal void Set(Tensor key, Tensor value)
    {
        if (!ReferenceEquals(key, Key)) { Key?.Dispose(); Key = key.DetachFromDisposeScope(); }
        if (!ReferenceEquals(value, Value)) { Value?.Dispose(); Value = value.DetachFromDisposeScope(); }
    }

    /// <summary>Keeps the rows named by <paramref name="index"/> (beam search reordering).</summary>
    internal void Select(Tensor index)
    {
        if (Key is null) return;
        using var scope = NewDisposeScope();
        Set(Key.index_select(0, index), Value!.index_select(0, index));
    }

    /// <summary>Frees the keys and values.</summary>
    public void Dispose()
    {
        Key?.Dispose();
        Value?.Dispose();
        Key = Value = null;
    }
}

/// <summary>The decoder's keys and values for every layer (self- and cross-attention).</summary>
public sealed class DecoderCache : IDisposable
{
    /// <summary>Self-attention keys and values, one per decoder layer.</summary>
    public LayerCache[] Self { get; }
    /// <summary>Cross-attention keys and values, one per decoder layer.</summary>
    public LayerCache[] Cross { get; }
    /// <summary>Positions already decoded.</summary>
    public long PastLength { get; internal set; }

    /// <summary>An empty cache for a decoder of <paramref name="layers"/> layers.</summary>
    public DecoderCache(int layers)
    {
        Self = Enumerable.Range(0, layers).Select(_ => new LayerCache()).ToArray();
        Cross = Enumerable.Range(0, layers).Select(_ => new LayerCache()).ToArray();
    }

    internal void Select(Tensor index)
    {
        foreach (var c in Self) c.Select(index);
        foreach (var c in Cross) c.Select(index);
    }

    /// <summary>Frees every layer's tensors.</summary>
    public void Dispose()
    {
        foreach (var c in Self) c.Dispose();
        foreach (var c in Cross) c.Dispose();
    }
}

/// <summary>
/// Rows decoded together one token at a time while other rows join and leave (the inference library's continuous
/// batching). Every reduction over keys (softmax sums, attention-weighted sums) runs over exactly as many keys as when
/// the row runs alone, whatever its batch-mates and whenever it joined: the self-attention buffer has one fixed length
/// for every row of the batch (positions after a row's step are masked) instead of growing with the step, and rows
/// sit in consecutive parts of one encoder length, cross-attention running part by part. Owns its tensors.
/// </summary>
public sealed class StepBatch : IDisposable
{
    /// <summary>Consecutive rows whose inputs have one padded length, with their cross-attention keys and values.</summary>
    internal sealed record CrossPart(int Start, int Rows, Tensor Key, Tensor Value, Tensor Bias);

    sealed class Part(Tensor[] key, Tensor[] value, Tensor bias)
    {
        public Tensor[] Key = key, Value = value; // per decoder layer: [rows, heads, encoder len, d_kv]
        public Tensor Bias = bias;                // [rows, 1, 1, encoder len]: 0 or the most negative float
        public long Rows => Bias.shape[0];
        public long Length => Bias.shape[3];
    }

    Tensor[] _selfKey, _selfValue;  // per decoder layer: [rows, heads, self len, d_kv]
    readonly List<Part> _parts = new();
    long[] _steps = [];             // per row: the position of its next token
    Tensor? _selfBias, _writeAt;    // this step's

    internal StepBatch(int layers, int heads, int dKv, int selfLength, ScalarType dtype, Device device)
    {
        SelfLength = selfLength;
        _selfKey = Enumerable.Range(0, layers).Select(_ => zeros([0, heads, selfLength, dKv], dtype, device).DetachFromDisposeScope()).ToArray();
        _selfValue = Enumerable.Range(0, layers).Select(_ => zeros([0, heads, selfLength, dKv], dtype, device).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>Rows in the batch.</summary>
    public int Rows => _steps.Length;

    /// <summary>Positions in every row's self-attention buffer: the most tokens a row of this batch can generate.</summary>
    public int SelfLength { get; }

    /// <summary>Tokens each row has been given so far.</summary>
    public IReadOnlyList<long> Steps => _steps;

    /// <summary>Adds encoded rows of one padded length at the end of that length's part; returns the first new row's index.</summary>
    internal int Add(Tensor[] crossKey, Tensor[] crossValue, Tensor bias)
    {
        using var scope = NewDisposeScope();
        var (added, length) = (bias.shape[0], bias.shape[3]);
        var at = 0L;
        var part = _parts.FirstOrDefault(p => p.Length == length);
        if (part is null)
        {
            at = Rows;
            _parts.Add(new Part(Own(crossKey), Own(crossValue), bias.DetachFromDisposeScope()));
        }
        else
        {
            foreach (var p in _parts) { at += p.Rows; if (p == part) break; }
            part.Key = Swap(part.Key, i => cat([part.Key[i], crossKey[i]], 0));
            part.Value = Swap(part.Value, i => cat([part.Value[i], crossValue[i]], 0));
            part.Bias = Swap([part.Bias], _ => cat([part.Bias, bias], 0))[0];
        }
        Tensor Insert(Tensor t) =>
            cat([t.narrow(0, 0, at), zeros([added, .. t.shape[1..]], t.dtype, t.device), t.narrow(0, at, t.shape[0] - at)], 0);
        _selfKey = Swap(_selfKey, i => Insert(_selfKey[i]));
        _selfValue = Swap(_selfValue, i => Insert(_selfValue[i]));
        _steps = [.. _steps[..(int)at], .. new long[added], .. _steps[(int)at..]];
        return (int)at;
    }

    /// <summary>Keeps only the rows at <paramref name="rows"/> (ascending indexes), e.g. after the others ended.</summary>
    public void Keep(IReadOnlyList<int> rows)
    {
        using var scope = NewDisposeScope();
        var device = _selfKey[0].device;
        Tensor Index(IEnumerable<int> ix) => tensor(ix.Select(i => (long)i).ToArray(), ScalarType.Int64).to(device);
        var all = Index(rows);
        _selfKey = Swap(_selfKey, i => _selfKey[i].index_select(0, all));
        _selfValue = Swap(_selfValue, i => _selfValue[i].index_select(0, all));
        var start = 0;
        foreach (var part in _parts.ToList())
        {
            var (from, n) = (start, (int)part.Rows);
            start += n;
            var mine = rows.Where(r => r >= from && r < from + n).Select(r => r - from).ToList();
            if (mine.Count == n) continue;
            if (mine.Count == 0) { Dispose(part); _parts.Remove(part); continue; }
            var ix = Index(mine);
            part.Key = Swap(part.Key, i => part.Key[i].index_select(0, ix));
            part.Value = Swap(part.Value, i => part.Value[i].index_select(0, ix));
            part.Bias = Swap([part.Bias], _ => part.Bias.index_select(0, ix))[0];
        }
        _steps = rows.Select(r => _steps[r]).ToArray();
    }

    /// <summary>Before a step: each row's self-attention bias (the relative-position bias of its query position, masked after it).</summary>
    internal void BeginStep(T5Attention positions, ScalarType dtype, double minValue)
    {
        using var scope = NewDisposeScope();
        var device = _selfKey[0].device;
        var step = tensor(_steps, ScalarType.Int64).to(device).view(-1, 1);        // [rows, 1]
        var key = arange(0, SelfLength, ScalarType.Int64, device).view(1, -1);     // [1, self len]
        var bias = positions.ComputeBias(key - step).to(dtype);                    // [rows, heads, 1, self len]
        var masked = key.gt(step).unsqueeze(1).unsqueeze(1).to(dtype) * minValue;  // keys after the query
        _selfBias?.Dispose();
        _selfBias = (bias + masked).DetachFromDisposeScope();
        _writeAt?.Dispose();
        var k = _selfKey[0];
        _writeAt = step.view(-1, 1, 1, 1).expand(k.shape[0], k.shape[1], 1, k.shape[3]).DetachFromDisposeScope();
    }

    /// <summary>Writes each row's new key and value at its step; returns the layer's keys, values and this step's bias.</summary>
    internal (Tensor Key, Tensor Value, Tensor Bias) WriteSelf(int layer, Tensor key, Tensor value)
    {
        _selfKey[layer].scatter_(2, _writeAt!, key);
        _selfValue[layer].scatter_(2, _writeAt!, value);
        return (_selfKey[layer], _selfValue[layer], _selfBias!);
    }

    /// <summary>The parts of consecutive rows with one encoder length, with this layer's keys and values.</summary>
    internal IEnumerable<CrossPart> CrossParts(int layer)
    {
        var start = 0;
        foreach (var p in _parts)
        {
            yield return new CrossPart(start, (int)p.Rows, p.Key[layer], p.Value[layer], p.Bias);
            start += (int)p.Rows;
        }
    }

    internal void EndStep()
    {
        for (var i = 0; i < _steps.Length; i++)
            if (++_steps[i] > SelfLength)
                throw new InvalidOperationException($"row {i} took more than {SelfLength} decoding steps, the length of its batch's buffer");
    }

    static Tensor[] Own(Tensor[] ts) => ts.Select(t => t.DetachFromDisposeScope()).ToArray();

    /// <summary>New tensors from <paramref name="make"/> (detached from scopes), the old ones disposed.</summary>
    static Tensor[] Swap(Tensor[] old, Func<int, Tensor> make)
    {
        var fresh = old.Select((_, i) => make(i).DetachFromDisposeScope()).ToArray();
        foreach (var t in old) t.Dispose();
        return fresh;
    }

    static void Dispose(Part p)
    {
        foreach (var t in p.Key.Concat(p.Value)) t.Dispose();
        p.Bias.Dispose();
    }

    /// <summary>Frees every tensor.</summary>
    public void Dispose()
    {
        foreach (var t in _selfKey.Concat(_selfValue)) t.Dispose();
        foreach (var p in _parts) Dispose(p);
        _parts.Clear();
        _selfBias?.Dispose();
        _writeAt?.Dispose();
        (_selfBias, _writeAt) = (null, null);
    }
}

/// <summary>layer.0 of a block: pre-norm self-attention with a residual connection.</summary>
public sealed class T5LayerSelfAttention : nn.Module
{
    private readonly T5Attention SelfAttention;
    private readonly T5LayerNorm layer_norm;
    private readonly double dropout;

    /// <summary>Self-attention of config <paramref name="c"/> with its layer norm.</summary>
    public T5LayerSelfAttention(T5Config c, bool isDecoder, bool hasRelativeAttentionBias) : base("T5LayerSelfAttention")
    {
        SelfAttention = new T5Attention(c, isDecoder, hasRelativeAttentionBias);
        layer_norm = new T5LayerNorm(c.DModel, c.LayerNormEpsilon);
        dropout = c.DropoutRate;
        register_module("SelfAttention", SelfAttention);
        register_module("layer_norm", layer_norm);
    }

    /// <summary>The attention module (<c>SelfAttention</c> in the checkpoint).</summary>
    public T5Attention Attention => SelfAttention;

    /// <summary><paramref name="hidden"/> plus its self-attention; <paramref name="cache"/> keeps keys and values across generation steps.</summary>
    public Tensor Forward(Tensor hidden, Tensor positionBias, LayerCache? cache, List<Tensor>? attentions)
    {
        using var scope = NewDisposeScope();
        var y = SelfAttention.Forward(layer_norm.forward(hidden), null, positionBias, cache, attentions);
        return (hidden + F.dropout(y, dropout, training)).MoveToOuterDisposeScope();
    }

    internal Tensor Step(Tensor hidden, StepBatch batch, int layer)
    {
        using var scope = NewDisposeScope();
        return (hidden + SelfAttention.Step(layer_norm.forward(hidden), batch, layer, self: true)).MoveToOuterDisposeScope();
    }
}

/// <summary>layer.1 of a decoder block: pre-norm cross-attention over the encoder output.</summary>
public sealed class T5LayerCrossAttention : nn.Module
{
    private readonly T5Attention EncDecAttention;
    private readonly T5LayerNorm layer_norm;
    private readonly double dropout;

    /// <summary>Cross-attention of config <paramref name="c"/> with its layer norm.</summary>
    public T5LayerCrossAttention(T5Config c) : base("T5LayerCrossAttention")
    {
        EncDecAttention = new T5Attention(c, isDecoder: true, hasRelativeAttentionBias: false);
        layer_norm = new T5LayerNorm(c.DModel, c.LayerNormEpsilon);
        dropout = c.DropoutRate;
        register_module("EncDecAttention", EncDecAttention);
        register_module("layer_norm", layer_norm);
    }

    /// <summary><paramref name="hidden"/> plus its attention over <paramref name="encoderHidden"/>; <paramref name="cache"/> keeps the encoder's keys and values.</summary>
    public Tensor Forward(Tensor hidden, Tensor encoderHidden, Tensor encoderBias, LayerCache? cache, List<Tensor>? attentions)
    {
        using var scope = NewDisposeScope();
        var y = EncDecAttention.Forward(layer_norm.forward(hidden), encoderHidden, encoderBias, cache, attentions);
        return (hidden + F.dropout(y, dropout, training)).MoveToOuterDisposeScope();
    }

    internal T5Attention Attention => EncDecAttention;

    internal Tensor Step(Tensor hidden, StepBatch batch, int layer)
    {
        using var scope = NewDisposeScope();
        return (hidden + EncDecAttention.Step(layer_norm.forward(hidden), batch, layer, self: false)).MoveToOuterDisposeScope();
    }
}

/// <summary>The last layer of a block: pre-norm feed-forward with a residual connection.</summary>
public sealed class T5LayerFF : nn.Module<Tensor, Tensor>
{
    private readonly T5DenseActDense DenseReluDense;
    private readonly T5LayerNorm layer_norm;
    private readonly double dropout;

    /// <summary>The feed-forward layer of config <paramref name="c"/> with its layer norm.</summary>
    public T5LayerFF(T5Config c) : base("T5LayerFF")
    {
        DenseReluDense = new T5DenseActDense(c);
        layer_norm = new T5LayerNorm(c.DModel, c.LayerNormEpsilon);
        dropout = c.DropoutRate;
        register_module("DenseReluDense", DenseReluDense);
        register_module("layer_norm", layer_norm);
    }

    /// <summary><paramref name="hidden"/> plus its feed-forward output.</summary>
    public override Tensor forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var y = DenseReluDense.forward(layer_norm.forward(hidden));
        return (hidden + F.dropout(y, dropout, training)).MoveToOuterDisposeScope();
    }
}

/// <summary>One encoder block (self-attention, FF) or decoder block (self-attention, cross-attention, FF).</summary>
public sealed class T5Block : nn.Module
{
    private readonly ModuleList<nn.Module> layer = new();
    private readonly T5LayerSelfAttention self;
    private readonly T5LayerCrossAttention? cross;
    private readonly T5LayerFF ff;

    /// <summary>A block of config <paramref name="c"/>; decoder blocks add cross-attention.</summary>
    public T5Block(T5Config c, bool isDecoder, bool hasRelativeAttentionBias) : base("T5Block")
    {
        self = new T5LayerSelfAttention(c, isDecoder, hasRelativeAttentionBias);
        layer.Add(self);
        if (isDecoder)
        {
            cross = new T5LayerCrossAttention(c);
            layer.Add(cross);
        }
        ff = new T5LayerFF(c);
        layer.Add(ff);
        register_module("layer", layer);
    }

    /// <summary>The block's self-attention module.</summary>
    public T5Attention SelfAttention => self.Attention;

    /// <summary>Runs the block; <paramref name="encoderHidden"/>, <paramref name="encoderBias"/> and <paramref name="crossCache"/> are for decoder blocks.</summary>
    public Tensor Forward(Tensor hidden, Tensor selfBias, Tensor? encoderHidden, Tensor? encoderBias,
                          LayerCache? selfCache, LayerCache? crossCache, Collectors? collect)
    {
        using var scope = NewDisposeScope();
        hidden = self.Forward(hidden, selfBias, selfCache, collect?.SelfAttentions);
        if (cross is not null)
            hidden = cross.Forward(hidden, encoderHidden!, encoderBias!, crossCache, collect?.CrossAttentions);
        return ff.forward(hidden).MoveToOuterDisposeScope();
    }

    internal T5Attention CrossAttention => cross!.Attention;

    /// <summary>One decoding step of a decoder block for the rows of <paramref name="batch"/>.</summary>
    internal Tensor Step(Tensor hidden, StepBatch batch, int layer)
    {
        using var scope = NewDisposeScope();
        hidden = self.Step(hidden, batch, layer);
        hidden = cross!.Step(hidden, batch, layer);
        return ff.forward(hidden).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Optional outputs for inspection and parity tests (HF's output_hidden_states / output_attentions).
/// The tensors are detached from every dispose scope: the collector owns them until disposed.
/// </summary>
public sealed class Collectors : IDisposable
{
    /// <summary>Frees every collected tensor.</summary>
    public void Dispose()
    {
        foreach (var t in HiddenStates.Concat(SelfAttentions).Concat(CrossAttentions)) t.Dispose();
        HiddenStates.Clear(); SelfAttentions.Clear(); CrossAttentions.Clear();
    }

    /// <summary>The input of every block, then the stack's output.</summary>
    public List<Tensor> HiddenStates { get; } = new();
    /// <summary>Self-attention weights of every block.</summary>
    public List<Tensor> SelfAttentions { get; } = new();
    /// <summary>Cross-attention weights of every decoder block.</summary>
    public List<Tensor> CrossAttentions { get; } = new();
}

/// <summary>The encoder or the decoder: embeddings (shared, not owned), blocks, final layer norm.</summary>
public sealed class T5Stack : nn.Module
{
    private readonly ModuleList<T5Block> block = new();
    private readonly T5LayerNorm final_layer_norm;
    private readonly Embedding embedTokens; // the model's `shared`; registered there, not here (HF ties them)
    private readonly bool isDecoder;
    private readonly double dropout;

    /// <summary>The <paramref name="name"/> stack (<c>encoder</c> or <c>decoder</c>) of config <paramref name="c"/>, embedding tokens with <paramref name="sharedEmbedding"/>.</summary>
    public T5Stack(string name, T5Config c, bool isDecoder, Embedding sharedEmbedding) : base(name)
    {
        this.isDecoder = isDecoder;
        embedTokens = sharedEmbedding;
        dropout = c.DropoutRate;
        var layers = isDecoder ? c.NumDecoderLayers : c.NumLayers;
        for (var i = 0; i < layers; i++) block.Add(new T5Block(c, isDecoder, hasRelativeAttentionBias: i == 0));
        final_layer_norm = new T5LayerNorm(c.DModel, c.LayerNormEpsilon);
        register_module("block", block);
        register_module("final_layer_norm", final_layer_norm);
    }

    /// <summary>Blocks in the stack.</summary>
    public int Layers => block.Count;

    /// <summary>The stack's relative-position bias (computed by block 0, shared by all blocks).</summary>
    public Tensor ComputeBias(long qLen, long kLen, long pastLength = 0) => block[0].SelfAttention.ComputeBias(qLen, kLen, pastLength);

    /// <summary>
    /// Runs the stack. Encoder: <paramref name="mask"/> is the input's attention mask. Decoder: the self-attention
    /// is causal; <paramref name="encoderHidden"/> and <paramref name="encoderMask"/> feed cross-attention.
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor? mask, Tensor? encoderHidden = null, Tensor? encoderMask = null,
                          DecoderCache? cache = null, Collectors? collect = null)
    {
        using var scope = NewDisposeScope();
        var (batch, len) = (inputIds.shape[0], inputIds.shape[1]);
        var hidden = F.dropout(embedTokens.forward(inputIds), dropout, training);
        var past = cache?.PastLength ?? 0;
        var total = past + len;
        var minValue = torch.finfo(hidden.dtype).min;

        // Mask and position bias, computed once and reused by every block (as HF does).
        Tensor extended;
        if (isDecoder)
        {
            var causal = ones(len, total, ScalarType.Float32, hidden.device).tril(past); // query i sees keys <= past + i
            extended = causal.unsqueeze(0).unsqueeze(0);
        }
        else
        {
            var m = mask ?? ones(batch, len, ScalarType.Int64, hidden.device);
            extended = m.unsqueeze(1).unsqueeze(1).to(hidden.dtype);
        }
        var selfBias = ComputeBias(len, total, past).to(hidden.dtype) + (1.0 - extended.to(hidden.dtype)) * minValue;

        Tensor? encoderBias = null;
        if (isDecoder)
        {
            var em = encoderMask ?? ones(encoderHidden!.shape[0], encoderHidden.shape[1], ScalarType.Int64, hidden.device);
            encoderBias = (1.0 - em.unsqueeze(1).unsqueeze(1).to(hidden.dtype)) * minValue;
        }

        for (var i = 0; i < block.Count; i++)
        {
            collect?.HiddenStates.Add(hidden.detach().DetachFromDisposeScope());
            hidden = block[i].Forward(hidden, selfBias, encoderHidden, encoderBias, cache?.Self[i], cache?.Cross[i], collect);
        }
        hidden = F.dropout(final_layer_norm.forward(hidden), dropout, training);
        collect?.HiddenStates.Add(hidden.detach().DetachFromDisposeScope());
        if (cache is not null) cache.PastLength = total;
        return hidden.MoveToOuterDisposeScope();
    }

    internal T5Block Block(int i) => block[i];

    /// <summary>
    /// Decoder only: one token per row of <paramref name="batch"/> (rows at different steps, inputs of different padded
    /// lengths). Returns the final hidden state <c>[rows, 1, d_model]</c> and advances every row's step.
    /// </summary>
    internal Tensor Step(Tensor inputIds, StepBatch batch)
    {
        using var scope = NewDisposeScope();
        var hidden = embedTokens.forward(inputIds);
        batch.BeginStep(block[0].SelfAttention, hidden.dtype, torch.finfo(hidden.dtype).min);
        for (var i = 0; i < block.Count; i++) hidden = block[i].Step(hidden, batch, i);
        batch.EndStep();
        return final_layer_norm.forward(hidden).MoveToOuterDisposeScope();
    }
}

/// <summary>HF's <c>T5ForConditionalGeneration</c>: shared embedding, encoder, decoder, LM head.</summary>
public sealed class T5ForConditionalGeneration : nn.Module
{
    /// <summary>The label value the loss ignores (Hugging Face's -100).</summary>
    public const long IgnoreIndex = -100;

    private readonly Embedding shared;
    private readonly T5Stack encoder;
    private readonly T5Stack decoder;
    private readonly Linear? lm_head;

    /// <summary>The configuration the model was built from.</summary>
    public T5Config Config { get; }

    /// <summary>A model of <paramref name="config"/>, initialised as Hugging Face initialises T5.</summary>
    public T5ForConditionalGeneration(T5Config config) : base("T5ForConditionalGeneration")
    {
        config.Validate("config");
        Config = config;
        shared = nn.Embedding(config.VocabSize, config.DModel);
        encoder = new T5Stack("encoder", config, isDecoder: false, shared);
        decoder = new T5Stack("decoder", config, isDecoder: true, shared);
        register_module("shared", shared);
        register_module("encoder", encoder);
        register_module("decoder", decoder);
        if (!config.TieWordEmbeddings)
        {
            lm_head = nn.Linear(config.DModel, config.VocabSize, hasBias: false);
            register_module("lm_head", lm_head);
        }
        InitWeights();
    }

    /// <summary>The encoder stack.</summary>
    public T5Stack Encoder => encoder;
    /// <summary>The decoder stack.</summary>
    public T5Stack Decoder => decoder;

    /// <summary>HF's <c>_init_weights</c> for T5, so a model trained from scratch starts as Python's would.</summary>
    private void InitWeights()
    {
        using var noGrad = no_grad();
        var f = Config.InitializerFactor;
        var (d, dkv, h, dff) = (Config.DModel, Config.DKv, Config.NumHeads, Config.DFf);
        foreach (var (name, p) in named_parameters())
        {
            double std;
            if (name.EndsWith("layer_norm.weight", StringComparison.Ordinal)) { p.fill_(f); continue; }
            if (name == "shared.weight" || name == "lm_head.weight") std = f;
            else if (name.EndsWith(".q.weight", StringComparison.Ordinal)) std = f * Math.Pow(d * dkv, -0.5);
            else if (name.EndsWith(".k.weight", StringComparison.Ordinal) || name.EndsWith(".v.weight", StringComparison.Ordinal)) std = f * Math.Pow(d, -0.5);
            else if (name.EndsWith(".o.weight", StringComparison.Ordinal)) std = f * Math.Pow(h * dkv, -0.5);
            else if (name.EndsWith("relative_attention_bias.weight", StringComparison.Ordinal)) std = f * Math.Pow(d, -0.5);
            else if (name.EndsWith(".wo.weight", StringComparison.Ordinal)) std = f * Math.Pow(dff, -0.5);
            else if (name.Contains(".wi", StringComparison.Ordinal)) std = f * Math.Pow(d, -0.5);
            else throw new InvalidOperationException($"no initialisation rule for {name}");
            nn.init.normal_(p, 0.0, std);
        }
    }

    /// <summary>Encoder output <c>[batch, len, d_model]</c>.</summary>
    public Tensor Encode(Tensor inputIds, Tensor? attentionMask, Collectors? collect = null) =>
        encoder.Forward(inputIds, attentionMask, collect: collect);

    /// <summary>Decoder output after its final layer norm.</summary>
    public Tensor Decode(Tensor decoderInputIds, Tensor encoderHidden, Tensor? encoderMask, DecoderCache? cache = null, Collectors? collect = null) =>
        decoder.Forward(decoderInputIds, null, encoderHidden, encoderMask, cache, collect);

    /// <summary>An empty <see cref="StepBatch"/> whose rows can generate up to <paramref name="selfLength"/> tokens.</summary>
    public StepBatch NewStepBatch(int selfLength)
    {
        using var scope = NewDisposeScope(); // the weight's handle
        var p = shared.weight!;
        return new StepBatch(decoder.Layers, Config.NumHeads, Config.DKv, selfLength, p.dtype, p.device);
    }

    /// <summary>
    /// Encodes <paramref name="inputIds"/> (rows padded to one length, <paramref name="attentionMask"/> marking real
    /// tokens) and adds them to <paramref name="batch"/>; returns the index of the first added row (they are consecutive).
    /// </summary>
    public int AddRows(StepBatch batch, Tensor inputIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var encoded = Encode(inputIds, attentionMask);
        var layers = Enumerable.Range(0, decoder.Layers).Select(i => decoder.Block(i).CrossAttention.KeysAndValues(encoded)).ToList();
        var bias = (1.0 - attentionMask.unsqueeze(1).unsqueeze(1).to(encoded.dtype)) * torch.finfo(encoded.dtype).min;
        return batch.Add(layers.Select(l => l.Key).ToArray(), layers.Select(l => l.Value).ToArray(), bias);
    }

    /// <summary>
    /// Logits <c>[rows, vocab]</c> for the next token of every row of <paramref name="batch"/>, given each row's last
    /// token (<paramref name="lastTokens"/> <c>[rows, 1]</c>); advances the rows one step.
    /// </summary>
    public Tensor DecodeStep(Tensor lastTokens, StepBatch batch)
    {
        using var scope = NewDisposeScope();
        return LmHead(decoder.Step(lastTokens, batch)).select(1, -1).MoveToOuterDisposeScope();
    }

    /// <summary>Logits from decoder output; v1.0 (tied) rescales by <c>d_model^-0.5</c> and reuses <c>shared.weight</c>.</summary>
    public Tensor LmHead(Tensor decoderHidden)
    {
        if (lm_head is not null) return lm_head.forward(decoderHidden);
        using var scope = NewDisposeScope();
        return F.linear(decoderHidden * Math.Pow(Config.DModel, -0.5), shared.weight!).MoveToOuterDisposeScope();
    }

    /// <summary>HF's <c>_shift_right</c>: decoder start token in front, -100 replaced by pad.</summary>
    public Tensor ShiftRight(Tensor labels)
    {
        using var scope = NewDisposeScope();
        var start = full(labels.shape[0], 1, Config.DecoderStartTokenId, ScalarType.Int64, labels.device);
        var shifted = cat([start, labels.narrow(1, 0, labels.shape[1] - 1)], 1);
        return shifted.masked_fill(shifted.eq(IgnoreIndex), Config.PadTokenId).MoveToOuterDisposeScope();
    }

    /// <summary>Logits for teacher-forced <paramref name="labels"/> and the mean cross-entropy over non -100 positions.</summary>
    public (Tensor Logits, Tensor Loss) Forward(Tensor inputIds, Tensor attentionMask, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var encoded = Encode(inputIds, attentionMask);
        var logits = LmHead(Decode(ShiftRight(labels), encoded, attentionMask));
        var loss = Loss(logits, labels);
        return (logits.MoveToOuterDisposeScope(), loss.MoveToOuterDisposeScope());
    }

    /// <summary>Mean cross-entropy over the positions whose label is not -100.</summary>
    public static Tensor Loss(Tensor logits, Tensor labels) =>
        F.cross_entropy(logits.view(-1, logits.shape[^1]).to(ScalarType.Float32), labels.view(-1), ignore_index: IgnoreIndex);
}
