using System.ComponentModel;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Cli;
using StepDistill.Tokenization;

namespace StepDistill.Cli.Commands;

/// <summary><c>stepdistill tokenize --model DIR [--json] [--] TEXT</c>: shows the input ids of a text.</summary>
internal sealed class TokenizeCommand(IAnsiConsole console) : Command<TokenizeCommand.Settings>
{
    // --model may also be a tokenizer-only folder (spiece.model, or a ByT5 tokenizer_config.json); --device and
    // --threads, inherited with it, change nothing here (tokenizing runs no libtorch).
    public sealed class Settings : ModelSettings
    {
        [CommandArgument(0, "[TEXT]")]
        [Description("Text to tokenize. Put it after -- when it starts with '-'. May be empty (\"\").")]
        public string? Text { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var text = ResolveText(settings.Text, CliRunner.ArgumentsAfterSeparator ?? context.Remaining.Raw);
        var tokenizer = TokenizerLoader.Load(ModelLocation.Resolve(settings.Model));
        var ids = tokenizer.Encode(text);

        // Parsed by scripts and tests: raw writer, no markup, wrapping or colour.
        var output = console.Profile.Out.Writer;
        if (settings.Json)
        {
            output.WriteLine(JsonSerializer.Serialize(ids));
            return 0;
        }

        var table = new Table().Border(TableBorder.Simple)
            .AddColumn(new TableColumn("#").RightAligned())
            .AddColumn(new TableColumn("id").RightAligned())
            .AddColumn("token");
        for (int i = 0; i < ids.Length; i++)
            table.AddRow(i.ToString(), ids[i].ToString(), Markup.Escape(Visible(tokenizer.IdToToken(ids[i]))));
        console.Write(table);
        console.WriteLine($"{ids.Length} tokens (vocabulary {tokenizer.VocabSize}, {tokenizer.GetType().Name})");
        return 0;
    }

    /// <summary>
    /// The text is the positional argument, or what follows <c>--</c> (kept verbatim by <see cref="CliRunner"/>;
    /// Spectre's own remaining arguments are a fallback when run without it). Several arguments after
    /// <c>--</c> are joined with spaces, like echo.
    /// </summary>
    internal static string ResolveText(string? positional, IReadOnlyList<string> remaining)
    {
        if (positional is not null && remaining.Count > 0)
            throw new StepDistillException("give TEXT once: either before or after --, not both (quote text with spaces)");
        if (positional is not null) return positional;
        if (remaining.Count > 0) return string.Join(' ', remaining);
        throw new StepDistillException("TEXT is missing: stepdistill tokenize --model DIR [--json] [--] TEXT");
    }

    // Control characters would break the table's layout; show them escaped.
    static string Visible(string token)
        => token.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");
}
