using Xunit.Sdk;

namespace StepDistill.Student.Tests.Parity;

/// <summary>The near-tie rule on made-up rankings (the fixtures have no near-tie: HF's smallest greedy gap is 0.076).</summary>
public class NearTiesTests
{
    static readonly long[] RefIds = [10, 11, 12, 13, 14];
    static readonly double[] RefValues = [5.0, 4.0, 4.0 + 1e-6, 3.0, 2.0];
    static double OurValue(long id) => id == 99 ? 2.0 - 1e-6 : 0;

    [Fact]
    public void SameOrder_HasNoNotes() =>
        Assert.Empty(NearTies.CheckOrder(RefIds, RefValues, [10, 11, 12, 13, 14], OurValue, 1e-5, "t"));

    [Fact]
    public void SwapOfNearTiedCandidates_IsAccepted_AndReported()
    {
        var notes = NearTies.CheckOrder(RefIds, RefValues, [10, 12, 11, 13, 14], OurValue, 1e-5, "t");
        Assert.Equal(2, notes.Count);
        Assert.Contains("rank 1: our id 12, HF's id 11", notes[0]);
    }

    [Fact]
    public void SwapOfSeparatedCandidates_Fails()
    {
        var e = Assert.ThrowsAny<XunitException>(() => NearTies.CheckOrder(RefIds, RefValues, [11, 10, 12, 13, 14], OurValue, 1e-5, "t"));
        Assert.Contains("rank 0: our id 11, HF's id 10", e.Message);
    }

    [Fact]
    public void CandidateFromBeyondTheList_IsAccepted_OnlyWhenTiedWithTheLast()
    {
        Assert.Single(NearTies.CheckOrder(RefIds, RefValues, [10, 11, 12, 13, 99], OurValue, 1e-5, "t"));
        Assert.ThrowsAny<XunitException>(() => NearTies.CheckOrder(RefIds, RefValues, [10, 11, 12, 99, 14], OurValue, 1e-5, "t"));
    }

}
