namespace StepDistill.Data;

/// <summary>
/// One training or evaluation example. <see cref="Label"/> is the gold label, <see cref="Rationale"/> and
/// <see cref="TeacherLabel"/> come from a teacher LLM; each is optional. The JSONL form uses the keys
/// <c>id</c>, <c>input</c>, <c>label</c>, <c>rationale</c>, <c>teacher_label</c>.
/// </summary>
public sealed record Example(string Id, string Input, string? Label = null, string? Rationale = null, string? TeacherLabel = null);

/// <summary>
/// The <c>status</c> of an annotated record, written by the teacher's pipeline and read by the data loader (which
/// trains only on <see cref="Ok"/> records). The one place these values are spelled.
/// </summary>
public static class AnnotationStatus
{
    /// <summary>The teacher answered and the answer parsed (and, when asked, matched the gold label).</summary>
    public const string Ok = "ok";
    /// <summary>Every request for the record failed (network, server, timeout).</summary>
    public const string Failed = "failed";
    /// <summary>The teacher answered, but no answer could be parsed.</summary>
    public const string Unparseable = "unparseable";
    /// <summary>The answer parsed but did not match the gold label (with gold matching required).</summary>
    public const string Mismatch = "mismatch";
}
