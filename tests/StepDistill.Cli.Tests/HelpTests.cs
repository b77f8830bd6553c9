using System.Text.RegularExpressions;

namespace StepDistill.Cli.Tests;

/// <summary>
/// <c>--help</c> renders for the root and for every verb. Spectre.Console reads option descriptions as markup, so
/// an unescaped <c>[</c> in one ends help in an exception; the verbs are read from the root help, which the app's
/// own configuration writes, so a new verb is covered without touching this test.
/// </summary>
public sealed partial class HelpTests
{
    [GeneratedRegex(@"^ {2,6}([a-z][a-z0-9-]*)(?: {2,}|\r?$)", RegexOptions.Multiline)]
    private static partial Regex CommandLine();

    static IReadOnlyList<string> Verbs(string rootHelp)
    {
        var at = rootHelp.IndexOf("COMMANDS:", StringComparison.Ordinal);
        Assert.True(at >= 0, "root help has no COMMANDS section:\n" + rootHelp);
        return CommandLine().Matches(rootHelp[at..]).Select(m => m.Groups[1].Value).ToList();
    }

    static async Task<string> Help(params string[] args)
    {
        (int rc, string stdout, string stderr) result;
        try
        {
            result = await CliHarness.Run(args);
        }
        catch (Exception e)
        {
            Assert.Fail($"stepdistill {string.Join(' ', args)} threw {e.GetType().Name}: {e.Message}");
            throw;
        }
        var (rc, stdout, stderr) = result;
        Assert.True(rc == 0, $"stepdistill {string.Join(' ', args)} exited {rc}: {stderr}");
        Assert.DoesNotMatch(@"\w+Exception\b|\n\s+at [\w.`<>]+\.[\w`<>]+\(", stdout + stderr); // no exception, no stack frame
        Assert.Contains("USAGE:", stdout);
        return stdout;
    }

    [Fact]
    public async Task Root_and_every_verb_render_their_help()
    {
        var root = await Help("--help");
        var verbs = Verbs(root);
        // The pipeline's verbs at least; more may come.
        string[] pipeline = ["demo", "annotate", "train", "experiment", "evaluate", "predict", "generate", "tokenize"];
        Assert.True(pipeline.All(verbs.Contains), $"verbs read from the root help: {string.Join(", ", verbs)}\n{root}");
        foreach (var verb in verbs)
        {
            var help = await Help(verb, "--help");
            Assert.Contains("OPTIONS:", help);
            Assert.Contains(verb, help);
        }
    }

    [Fact]
    public async Task Bracketed_text_in_descriptions_is_shown_literally()
    {
        Assert.Contains("google/flan-t5-small[@revision]", await Help("generate", "--help"));
        Assert.Contains("method[:labels]", await Help("experiment", "--help"));
    }
}
