namespace StepDistill.Cli;

/// <summary>
/// Turns a <c>--model</c> value into a local folder. The one place that knows what a model reference can be:
/// for now only a folder (Hub ids may be added here later).
/// </summary>
internal static class ModelLocation
{
    public static string Resolve(string? model, string option = "--model")
    {
        if (string.IsNullOrWhiteSpace(model))
            throw new StepDistillException($"{option} is required: a model or tokenizer folder");
        if (Directory.Exists(model)) return Path.GetFullPath(model);
        if (File.Exists(model))
            throw new StepDistillException($"{option} {model}: is a file; give the folder that contains it");
        throw new StepDistillException($"{option} {model}: folder not found");
    }
}
