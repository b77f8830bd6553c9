using StepDistill.Experiments.DemoTask;

namespace StepDistill.Experiments.Tests;

public sealed class LegsTaskTests
{
    static readonly LegsTaskOptions Small = new() { Seed = 3, TrainSize = 300, DevSize = 50, TestSize = 100, MinAnimals = 2, MaxAnimals = 4 };

    [Fact]
    public void Same_seed_gives_same_data_and_another_seed_differs()
    {
        var a = LegsTask.Generate(Small);
        var b = LegsTask.Generate(Small);
        var c = LegsTask.Generate(Small with { Seed = 4 });
        Assert.Equal(a.Train.Select(q => q.Input), b.Train.Select(q => q.Input));
        Assert.Equal(a.Test.Select(q => q.Input), b.Test.Select(q => q.Input));
        Assert.NotEqual(a.Test.Select(q => q.Input), c.Test.Select(q => q.Input));
    }

    [Fact]
    public void Splits_have_the_requested_sizes_and_share_no_question()
    {
        var s = LegsTask.Generate(Small);
        Assert.Equal(300, s.Train.Count);
        Assert.Equal(50, s.Dev.Count);
        Assert.Equal(100, s.Test.Count);
        var all = s.Train.Concat(s.Dev).Concat(s.Test).Select(q => q.Input).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        var ids = s.Train.Concat(s.Dev).Concat(s.Test).Select(q => q.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public void Growing_the_training_set_keeps_test_and_dev()
    {
        var small = LegsTask.Generate(Small);
        var big = LegsTask.Generate(Small with { TrainSize = 900 });
        Assert.Equal(small.Test.Select(q => q.Input), big.Test.Select(q => q.Input));
        Assert.Equal(small.Dev.Select(q => q.Input), big.Dev.Select(q => q.Input));
    }

    [Fact]
    public void Questions_carry_their_steps_and_the_label_is_their_sum()
    {
        var s = LegsTask.Generate(Small);
        foreach (var q in s.Train)
        {
            Assert.InRange(q.Animals.Count, 2, 4);
            Assert.Equal(q.Animals.Count, q.Animals.Distinct().Count());
            Assert.Equal(q.Animals.Select(a => LegsTask.Animals[a]), q.Legs);
            Assert.Equal(q.Legs.Sum().ToString(System.Globalization.CultureInfo.InvariantCulture), q.Label);
            var e = q.ToExample();
            Assert.Equal((q.Id, q.Input, q.Label), (e.Id, e.Input, e.Label));
            Assert.Null(e.Rationale);
        }
        // Every animal count between min and max occurs.
        Assert.Equal([2, 3, 4], s.Train.Select(q => q.Animals.Count).Distinct().Order());
    }

    [Fact]
    public void Question_text_parses_back_also_inside_a_prompt()
    {
        var q = LegsTask.Generate(Small).Test[0];
        Assert.True(LegsTask.TryParseQuestion(q.Input, out var animals));
        Assert.Equal(q.Animals, animals);
        Assert.True(LegsTask.TryParseQuestion(LegsPrompt.RenderText(q.Input), out var fromPrompt));
        Assert.Equal(q.Animals, fromPrompt); // the last question wins over the exemplars'
        Assert.False(LegsTask.TryParseQuestion("How many legs in total: spider, unicorn?", out _));
        Assert.False(LegsTask.TryParseQuestion("What is 2 + 2?", out _));
    }

    [Fact]
    public void Data_set_view_uses_exact_match_and_names_the_split()
    {
        var ds = LegsTask.Generate(Small).ToDataset("test");
        Assert.Equal("test", ds.Split);
        Assert.Equal(100, ds.Count);
        Assert.Equal(StepDistill.Evaluation.MetricKind.Exact, ds.Metric);
        Assert.Throws<ArgumentException>(() => LegsTask.Generate(Small).ToDataset("validation"));
    }

    [Fact]
    public void Defaults_are_the_recommended_demo_design()
    {
        var s = LegsTask.Generate(new LegsTaskOptions());
        Assert.Equal((32000, 200, 1000), (s.Train.Count, s.Dev.Count, s.Test.Count));
        Assert.All(s.Train, q => Assert.Equal(2, q.Animals.Count));
        // Most questions name an invented creature: 300 invented kinds beside the real animals.
        var invented = LegsTask.Invented.Take(300).ToHashSet();
        Assert.InRange(s.Train.Count(q => q.Animals.Any(invented.Contains)) / (double)s.Train.Count, 0.85, 1.0);
        // A smaller pool from the same seed is a prefix of the larger one, so fractions nest across pool sizes.
        var small = LegsTask.Generate(new LegsTaskOptions { TrainSize = 2000 });
        Assert.Equal(small.Train.Select(q => q.Input), s.Train.Take(2000).Select(q => q.Input));
    }

    [Fact]
    public void Impossible_requests_fail_with_a_message()
    {
        var e = Assert.Throws<StepDistillException>(() => LegsTask.Generate(new LegsTaskOptions { MinAnimals = 1, MaxAnimals = 1, TrainSize = 1000 }));
        Assert.Contains("distinct", e.Message);
        Assert.Throws<StepDistillException>(() => LegsTask.Generate(new LegsTaskOptions { InventedKinds = LegsTask.MaxInvented + 1 }));
        Assert.Throws<StepDistillException>(() => LegsTask.Generate(new LegsTaskOptions { MinAnimals = 3, MaxAnimals = 2 }));
        Assert.Throws<StepDistillException>(() => LegsTask.Generate(new LegsTaskOptions { TrainSize = -1 }));
    }

    [Fact]
    public void Invented_creatures_are_fixed_distinct_words_with_even_legs_up_to_ten()
    {
        Assert.Equal(LegsTask.MaxInvented, LegsTask.Invented.Count);
        Assert.Equal(LegsTask.Invented.Count, LegsTask.Invented.Distinct().Count());
        Assert.All(LegsTask.Invented, n =>
        {
            Assert.Matches("^[a-z]{4,}$", n);
            Assert.Contains(LegsTask.Animals[n], new[] { 0, 2, 4, 6, 8, 10 });
        });
        // Fixed, not derived from the task's seed or the process: cached teacher answers and saved students stay valid.
        Assert.Equal(("naivo", 8), (LegsTask.Invented[0], LegsTask.Animals[LegsTask.Invented[0]]));
        Assert.DoesNotContain("legs", LegsTask.Invented);
        // Every leg count is used, so no count can be guessed from the set alone.
        Assert.Equal([0, 2, 4, 6, 8, 10], LegsTask.Invented.Select(n => LegsTask.Animals[n]).Distinct().Order());
        // A real LLM teacher gets them with the instructions.
        var prompt = LegsPrompt.FileText();
        Assert.Contains($"{LegsTask.Invented[^1]} {LegsTask.Animals[LegsTask.Invented[^1]]}", prompt);
        Assert.True(LegsTask.TryParseQuestion($"How many legs in total: {LegsTask.Invented[0]}, cat?", out var parsed));
        Assert.Equal([LegsTask.Invented[0], "cat"], parsed);
    }

    [Fact]
    public void Prompt_file_has_instructions_and_exemplars_whose_answers_are_right()
    {
        var text = LegsPrompt.FileText();
        Assert.Contains("answer_phrase: So the answer is", text);
        Assert.Contains("[instructions]", text);
        Assert.Equal(LegsPrompt.Exemplars.Count, text.Split("[input]").Length - 1);
        foreach (var e in LegsPrompt.Exemplars)
        {
            Assert.True(LegsTask.TryParseQuestion(e.Input, out var animals));
            Assert.Equal(animals.Sum(a => LegsTask.Animals[a]).ToString(System.Globalization.CultureInfo.InvariantCulture), e.Answer);
            Assert.Contains($"= {e.Answer}", e.Rationale);
        }
    }

    [Fact]
    public void Every_rationale_phrasing_states_each_count_in_order_and_the_total()
    {
        string[] animals = ["owl", "spider", "ant"];
        int[] legs = [2, 8, 6];
        var texts = Enumerable.Range(0, LegsRationale.Variants).Select(v => LegsRationale.Write(animals, legs, 16, v)).ToList();
        Assert.Equal(texts.Count, texts.Distinct().Count());
        foreach (var t in texts)
        {
            Assert.Contains("2 + 8 + 6 = 16", t);
            int owl = t.IndexOf("owl", StringComparison.Ordinal), spider = t.IndexOf("spider", StringComparison.Ordinal), ant = t.IndexOf(" ant",
                StringComparison.Ordinal);
            Assert.True(owl >= 0 && owl < spider && spider < ant, t);
        }
        Assert.StartsWith("An owl has 2 legs", texts[0]);
    }
}
