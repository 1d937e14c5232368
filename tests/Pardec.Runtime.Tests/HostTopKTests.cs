using Pardec.Runtime.Primitives;
using Xunit;

namespace Pardec.Runtime.Tests;

/// <summary>The vectorised range offer must select exactly what offering every candidate one by one selects.</summary>
public sealed class HostTopKTests
{
    [Theory]
    [InlineData(1, 4096, 1)]
    [InlineData(4, 4096, 2)]
    [InlineData(8, 97, 3)]
    [InlineData(5, 13, 4)]   // shorter than two vector blocks: the scalar tail does it all
    [InlineData(3, 3, 5)]    // exactly k candidates
    [InlineData(6, 4, 6)]    // fewer candidates than k
    public void Range_offer_equals_one_by_one(int k, int length, int seed)
    {
        var random = new Random(seed);
        for (int trial = 0; trial < 20; trial++)
        {
            var values = new float[length];
            for (int i = 0; i < length; i++)
                values[i] = trial % 4 == 0 ? random.Next(4) : (float)(random.NextDouble() * 20 - 10); // every 4th trial: many ties
            if (trial % 5 == 1) values[random.Next(length)] = float.NaN;
            if (trial % 5 == 2) values[random.Next(length)] = float.NegativeInfinity;
            if (trial % 5 == 3) values[random.Next(length)] = float.PositiveInfinity;
            float shift = trial % 3 == 0 ? 0f : (float)(random.NextDouble() * 6 - 3);

            // Two rows offered into one list (a beam's flat ids), as the tree proposer does.
            var (expectedIds, expectedScores, expectedCount) = (new long[k], new float[k], 0);
            var (ids, scores, count) = (new long[k], new float[k], 0);
            for (int row = 0; row < 2; row++)
            {
                long first = (long)row * length;
                for (int v = 0; v < length; v++)
                    HostTopK.Offer(expectedIds, expectedScores, ref expectedCount, first + v, values[v] + shift * (row + 1));
                HostTopK.OfferRange(values, first, shift * (row + 1), ids, scores, ref count);
            }
            Assert.Equal(expectedCount, count);
            Assert.Equal(expectedIds, ids);
            Assert.Equal(expectedScores, scores);
        }
    }

    [Fact]
    public void Select_returns_the_largest_in_descending_order_keeping_the_earlier_of_equals()
    {
        float[] values = [1, 5, 3, 5, 9, 0, 9, 2, 7, 1, 1, 1, 1, 1, 1, 1, 1, 8];
        var ids = new long[4];
        var scores = new float[4];
        Assert.Equal(4, HostTopK.Select(values, ids, scores, shift: 1));
        Assert.Equal([4L, 6, 17, 8], ids);
        Assert.Equal([10f, 10, 9, 8], scores);
    }
}
