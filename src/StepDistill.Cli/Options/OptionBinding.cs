using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Spectre.Console.Cli;

namespace StepDistill.Cli.Options;

/// <summary>
/// A description that ends with the default of the same-named property of a library options record, read from a fresh
/// instance: the default is stated once, in the library.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class DefaultFromAttribute(Type record, string property, string description) : DescriptionAttribute(description)
{
    public override string Description =>
        OptionBinding.DefaultText(record, property) is { } d ? $"{base.Description} Default {d}." : base.Description;
}

/// <summary>Copies CLI settings onto library options records by property name, and names a property's flag.</summary>
internal static class OptionBinding
{
    /// <summary>The default of <paramref name="property"/> on a fresh <paramref name="record"/>, as the CLI spells it; null when it has none.</summary>
    public static string? DefaultText(Type record, string property)
    {
        var value = record.GetProperty(property)?.GetValue(Activator.CreateInstance(record));
        return value switch
        {
            null => null,
            Enum e => JsonNamingPolicy.KebabCaseLower.ConvertName(e.ToString()),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        };
    }

    /// <summary>
    /// Returns <paramref name="options"/> (a copy made with <c>with { }</c>) with every property that <paramref name="settings"/>
    /// has under the same name and a non-null value replaced by that value.
    /// </summary>
    public static T Overlay<T>(T copy, object settings) where T : class
    {
        foreach (var target in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var source = settings.GetType().GetProperty(target.Name, BindingFlags.Public | BindingFlags.Instance);
            if (source?.GetCustomAttribute<CommandOptionAttribute>() is null) continue;
            if (source.GetValue(settings) is not { } value) continue;
            if (value is string text && target.PropertyType != typeof(string)) OptionParsers.TryConvert(target.PropertyType, text, out value);
            target.SetValue(copy, value);
        }
        return copy;
    }

    /// <summary>The long flag (<c>--max-steps</c>) of the settings property named <paramref name="property"/>, or null.</summary>
    public static string? Flag(Type settings, string property) =>
        settings.GetProperty(property)?.GetCustomAttribute<CommandOptionAttribute>() is { } o
            ? o.LongNames.Count > 0 ? "--" + o.LongNames[0] : "-" + o.ShortNames[0]
            : null;

    /// <summary>Runs <paramref name="action"/>, rewording an invalid-option <see cref="StepDistillException"/> with the CLI's flag.</summary>
    public static T Translate<T>(Type settings, Func<T> action)
    {
        try { return action(); }
        catch (StepDistillException e) when (e.Property is not null && Flag(settings, e.Property) is { } flag)
        {
            throw new StepDistillException(e.Value is null ? $"{flag}: {e.Rule}" : $"{flag} {StepDistillException.Format(e.Value)}: {e.Rule}", e);
        }
    }
}

/// <summary>A description that states the learning-rate defaults from <see cref="Training.TrainingOptions"/>.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class LearningRateDescriptionAttribute() : DescriptionAttribute("Peak learning rate")
{
    public override string Description => string.Create(CultureInfo.InvariantCulture,
        $"{base.Description} (default: {Training.TrainingOptions.PretrainedLearningRate} for a pretrained student, " +
            $"{Training.TrainingOptions.ScratchLearningRate} from scratch).");
}

/// <summary>The CLI's spellings of library values, parsed by the library's own functions (errors name the property).</summary>
internal static class OptionParsers
{
    static readonly Dictionary<Type, Func<string, object>> ByType = new()
    {
        [typeof(Training.Method)] = s => Training.MethodNames.ParseMethod(s),
        [typeof(Training.LabelSource)] = s => Training.MethodNames.ParseLabels(s),
        [typeof(Evaluation.MetricKind)] = s => Metric(s),
    };

    /// <summary>Converts <paramref name="text"/> to <paramref name="type"/> when a parser is registered for it.</summary>
    public static bool TryConvert(Type type, string text, out object value)
    {
        var found = ByType.TryGetValue(type, out var parse);
        value = found ? parse!(text) : text;
        return found;
    }

    /// <summary>exact or equation (and their aliases).</summary>
    public static Evaluation.MetricKind Metric(string text) =>
        Evaluation.MetricKinds.TryParse(text, out var m) ? m : throw StepDistillException.InvalidOption("Metric", text, "expected exact or equation");
}
