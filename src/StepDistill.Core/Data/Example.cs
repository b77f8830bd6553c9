namespace StepDistill.Data;

/// <summary>
/// One training or evaluation example. <see cref="Label"/> is the gold label, <see cref="Rationale"/> and
/// <see cref="TeacherLabel"/> come from a teacher LLM; each is optional. The JSONL form uses the keys
/// <c>id</c>, <c>input</c>, <c>label</c>, <c>rationale</c>, <c>teacher_label</c>.
/// </summary>
public sealed record Example(string Id, string Input, string? Label = null, string? Rationale = null, string? TeacherLabel = null);
