namespace StepDistill;

/// <summary>A failure caused by the user's input (bad file, bad option): the CLI prints its message alone.</summary>
public class StepDistillException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>For an invalid option: the property's name in the options record (e.g. <c>MaxSteps</c>); front ends translate it into their spelling.</summary>
    public string? Property { get; private init; }
    /// <summary>For an invalid option: the rejected value.</summary>
    public object? Value { get; private init; }
    /// <summary>For an invalid option: what the value must satisfy.</summary>
    public string? Rule { get; private init; }

    /// <summary>An option or setting with an invalid value, in the library's terms: <c>MaxSteps = 0: must be positive</c>.</summary>
    public static StepDistillException InvalidOption(string property, object? value, string rule) =>
        new($"{property} = {Format(value)}: {rule}") { Property = property, Value = value, Rule = rule };

    /// <summary>A value as the messages print it (invariant culture).</summary>
    public static string Format(object? value) =>
        value is null ? "null" : Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
}

