namespace StepDistill;

/// <summary>A failure caused by the user's input (bad file, bad option): the CLI prints its message alone.</summary>
public class StepDistillException(string message, Exception? inner = null) : Exception(message, inner);
