namespace StepDistill.Capture;

/// <summary>
/// One captured call, one JSONL line in StepDistill's data format (docs/data.md): <c>id</c>, <c>input</c>, and the
/// LLM's answer as <c>teacher_label</c>, plus <c>model</c> and <c>time</c> (extra keys the loaders ignore).
/// Nothing else is recorded: no options, headers or keys.
/// </summary>
/// <param name="Id">Unique across processes and restarts (a version 7 GUID: time-ordered).</param>
/// <param name="Input">The student's input (the last user message).</param>
/// <param name="TeacherLabel">The LLM's answer text.</param>
/// <param name="Model">The model that answered, as the response (or the client's metadata) names it; null if unknown.</param>
/// <param name="Time">When the call completed (UTC).</param>
public sealed record CaptureRecord(string Id, string Input, string TeacherLabel, string? Model, DateTimeOffset Time)
{
    /// <summary>JSON keys of a record, as StepDistill's data loader reads them.</summary>
    public static class Keys
    {
        /// <summary>The record id.</summary>
        public const string Id = "id";
        /// <summary>The input.</summary>
        public const string Input = "input";
        /// <summary>The LLM's answer (a teacher label for training).</summary>
        public const string TeacherLabel = "teacher_label";
        /// <summary>The answering model.</summary>
        public const string Model = "model";
        /// <summary>The completion time, ISO 8601 UTC.</summary>
        public const string Time = "time";
    }
}
