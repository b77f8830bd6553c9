namespace StepDistill.Inference.Batching;

/// <summary>One queued input: its row, its batch key, and how its caller is answered.</summary>
internal sealed class WorkItem
{
    public WorkItem(DecodeRow row, int paddedLength, int beamKey, CancellationToken ct)
    {
        Row = row;
        PaddedLength = paddedLength;
        BeamKey = beamKey;
        CancellationToken = ct;
        row.Abandoned = () => Abandoned;
    }

    public DecodeRow Row { get; }
    public int PaddedLength { get; }
    /// <summary>0 for greedy (rows with different limits share a batch); the token limit for beam search.</summary>
    public int BeamKey { get; }
    public CancellationToken CancellationToken { get; }
    public long EnqueuedAt { get; set; }
    public CancellationTokenRegistration Registration { get; set; }

    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when the caller gave up (cancelled) or the item failed; the decoder stops the row.</summary>
    public volatile bool Abandoned;

    public bool SameBatch(WorkItem other) => PaddedLength == other.PaddedLength && BeamKey == other.BeamKey;
}
