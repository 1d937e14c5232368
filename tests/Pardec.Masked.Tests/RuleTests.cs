using Pardec.Runtime.Masked;
using Pardec.Runtime.Masked.Commit;
using Xunit;

namespace Pardec.Masked.Tests;

/// <summary>Commit rules on hand-made confidence vectors: each picks what its formula says.</summary>
public sealed class RuleTests
{
    private static MaskedBlock Block(double[] c, bool[]? masked = null, double[]? margin = null) =>
        new(10, c, c.Select((_, i) => (long)(100 + i)).ToArray(), margin ?? new double[c.Length],
            masked ?? c.Select(_ => true).ToArray());

    private static int[] Picked(MaskedSelection s) => s.Offsets.ToArray().Order().ToArray();

    [Fact]
    public void OneCommit_picks_the_most_confident_masked_position_and_the_lowest_offset_on_ties()
    {
        var s = new MaskedSelection(8);
        new OneCommit().Select(Block([0.2, 0.9, 0.9, 0.95], [true, true, true, false]), s);
        Assert.Equal([1], Picked(s));
        Assert.Equal(101, s.Tokens[0]);
    }

    [Fact]
    public void Confidence_rule_takes_everything_at_or_above_the_threshold_and_at_least_one()
    {
        var s = new MaskedSelection(8);
        new ConfidenceCommit(0.9).Select(Block([0.95, 0.5, 0.9, 0.99], [true, true, true, false]), s);
        Assert.Equal([0, 2], Picked(s));
        s.Clear();
        new ConfidenceCommit(0.99, atLeast: 2).Select(Block([0.3, 0.5, 0.4]), s);
        Assert.Equal([1, 2], Picked(s));
    }

    [Fact]
    public void Factor_rule_commits_the_largest_n_with_n_plus_one_times_one_minus_c_n_below_the_factor()
    {
        // Sorted: 0.99 (n=1: 2*0.01=0.02), 0.9 (n=2: 3*0.1=0.3), 0.8 (n=3: 4*0.2=0.8), 0.7 (n=4: 5*0.3=1.5).
        var c = new[] { 0.7, 0.99, 0.8, 0.9 };
        var s = new MaskedSelection(8);
        new FactorCommit(1.0).Select(Block(c), s);
        Assert.Equal([1, 2, 3], Picked(s));
        s.Clear();
        new FactorCommit(0.25).Select(Block(c), s); // n = 2 needs 0.3 < f: n = 1
        Assert.Equal([1], Picked(s));
        s.Clear();
        new FactorCommit(0.01).Select(Block(c), s); // nothing qualifies: the at-least-one rule
        Assert.Equal([1], Picked(s));
        s.Clear();
        new FactorCommit(2.0).Select(Block(c), s);
        Assert.Equal([0, 1, 2, 3], Picked(s));
    }

    [Fact]
    public void Margin_rule_takes_positions_whose_top1_minus_top2_gap_reaches_the_margin_else_the_widest_gap()
    {
        var s = new MaskedSelection(8);
        var c = new[] { 0.6, 0.5, 0.9 };
        new MarginCommit(0.3).Select(Block(c, margin: [0.35, 0.1, 0.3]), s);
        Assert.Equal([0, 2], Picked(s));
        s.Clear();
        new MarginCommit(0.5).Select(Block(c, margin: [0.2, 0.4, 0.3]), s);
        Assert.Equal([1], Picked(s));
    }

    [Fact]
    public void TopK_takes_the_k_most_confident_masked_positions()
    {
        var s = new MaskedSelection(8);
        new TopKCommit(2).Select(Block([0.1, 0.7, 0.3, 0.9, 0.8], [true, true, true, false, true]), s);
        Assert.Equal([1, 4], Picked(s));
    }

    [Fact]
    public void Local_rule_commits_anchors_and_their_neighbours_under_the_relaxed_bar()
    {
        var s = new MaskedSelection(16);
        //            0    1    2     3    4    5    6    7
        var c = new[] { 0.6, 0.3, 0.95, 0.6, 0.6, 0.6, 0.2, 0.6 };
        new LocalCommit(anchor: 0.9, radius: 2, relaxed: 0.5).Select(Block(c), s);
        Assert.Equal([0, 2, 3, 4], Picked(s)); // 1 is too unsure, 5 and 7 too far from the anchor
    }

    [Fact]
    public void End_of_text_needs_every_masked_prediction_to_be_a_confident_eos()
    {
        var eot = new EotStop(0.8);
        bool IsEos(long t) => t == 7;
        var yes = new MaskedBlock(0, [0.9, 0.1, 0.85], [7, 3, 7], new double[3], [true, false, true]);
        var unsure = new MaskedBlock(0, [0.9, 0.1, 0.7], [7, 3, 7], new double[3], [true, false, true]);
        var notEos = new MaskedBlock(0, [0.9, 0.9], [7, 3], new double[2], [true, true]);
        Assert.True(eot.IsEndOfText(yes, IsEos));
        Assert.False(eot.IsEndOfText(unsure, IsEos));
        Assert.False(eot.IsEndOfText(notEos, IsEos));
    }
}
