using Pardec.Dsl.Trees;

namespace Pardec.Dsl.Tests;

public class TokenTreeShapeTests
{
    // Medusa-style choice list, deliberately out of canonical order.
    private static readonly int[][] Choices = { new[] { 0, 0 }, new[] { 1 }, new[] { 0 }, new[] { 0, 1 }, new[] { 0, 0, 0 } };

    private static TokenTreeShape Shape => TokenTreeShape.Create(Choices);

    [Fact]
    public void Paths_are_sorted_by_depth_then_lexicographically()
    {
        Assert.Equal("[[0], [1], [0, 0], [0, 1], [0, 0, 0]]", Shape.ToString());
        Assert.Equal(6, Shape.NodeCount);
        Assert.Equal(5, Shape.Width);
        Assert.Equal(3, Shape.MaxDepth);
    }

    [Fact]
    public void Parents_depths_and_positions_follow_the_paths()
    {
        // nodes: 0 root, 1 [0], 2 [1], 3 [0,0], 4 [0,1], 5 [0,0,0]
        Assert.Equal(new[] { -1, 0, 0, 1, 1, 3 }, Shape.Parents.ToArray());
        Assert.Equal(new[] { 0, 1, 1, 2, 2, 3 }, Shape.Depths.ToArray());
        Assert.Equal(new[] { 0, 1, 1, 2, 2, 3 }, Shape.PositionOffsets.ToArray());
        Assert.Equal(new[] { -1, 0, 1, 0, 1, 0 }, Shape.Choices.ToArray());
        Assert.Equal(new[] { 2, 2, 1 }, Shape.TopKPerDepth.ToArray());
    }

    [Fact]
    public void The_attention_mask_lets_a_node_see_exactly_its_ancestors_and_itself()
    {
        string rows = string.Join("\n", Enumerable.Range(0, 6).Select(q =>
            new string(Enumerable.Range(0, 6).Select(k => Shape.Attends(q, k) ? '1' : '.').ToArray())));
        Assert.Equal("""
            1.....
            11....
            1.1...
            11.1..
            11..1.
            11.1.1
            """.Replace("\r\n", "\n"), rows);
    }

    [Fact]
    public void Retrieval_paths_run_root_to_leaf_padded_to_the_deepest()
    {
        Assert.Equal(
            new[] { "0,2,-1,-1", "0,1,4,-1", "0,1,3,5" },
            Shape.RetrievalPaths.Select(p => string.Join(",", p)).ToArray());
    }

    [Fact]
    public void Candidate_indices_match_medusa_tree_indices()
    {
        Assert.Equal(new[] { 0, 1, 2, 11, 12, 21 }, Shape.GetCandidateIndices(topK: 10));
    }

    [Fact]
    public void A_list_with_a_missing_prefix_is_rejected_with_the_path()
    {
        Assert.Null(TokenTreeShape.TryCreate(new[] { new[] { 0 }, new[] { 1, 0 } }, out TokenTreeError? error));
        Assert.Equal(1, error!.PathIndex);
        Assert.Contains("[1, 0] has no parent path [1]", error.Message);
    }

    [Fact]
    public void Duplicate_and_empty_paths_are_rejected()
    {
        Assert.Null(TokenTreeShape.TryCreate(new[] { new[] { 0 }, new[] { 0 } }, out TokenTreeError? duplicate));
        Assert.Contains("more than once", duplicate!.Message);
        Assert.Null(TokenTreeShape.TryCreate(new[] { Array.Empty<int>() }, out TokenTreeError? empty));
        Assert.Contains("empty", empty!.Message);
    }

    [Fact]
    public void Shapes_from_the_same_paths_in_any_order_are_equal()
    {
        TokenTreeShape other = TokenTreeShape.Create(Choices.Reverse().ToArray());
        Assert.Equal(Shape, other);
        Assert.Equal(Shape.GetHashCode(), other.GetHashCode());
    }
}
