using System.Text;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Primitives;
using Pardec.Strategies;
using Xunit;

namespace Pardec.Masked.Tests;

/// <summary>
/// A masked canvas runs one algorithm on every device: its canvas is staged on the host and uploaded, and DINGO reads the
/// block logits as host rows. <see cref="HostRows.SimulateDevice"/> sends both down the path a CUDA device takes with
/// CPU tensors; the decode must be the same, token for token and step for step, as on the in-place path.
/// </summary>
public sealed class MaskedDevicePathTests(ShippedDiffusion shipped) : IClassFixture<ShippedDiffusion>
{
    [Theory]
    [InlineData("FastDllmThreshold")]
    [InlineData("CreditDecoding")]
    public void A_constrained_masked_decode_is_the_same_on_the_simulated_device_path(string name)
    {
        var expected = Decode(name, simulateDevice: false);
        Assert.True(expected.Steps > 1, "the decode should take several steps");
        Assert.Equal(expected, Decode(name, simulateDevice: true));
    }

    private (string Text, int Steps, StopReason Reason) Decode(string name, bool simulateDevice)
    {
        HostRows.SimulateDevice = simulateDevice; // read when the decoder's buffers are made, and at every row read
        try
        {
            var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
            using var decoder = strategy.Create(shipped.Set, null, 128);
            var constraint = TokenConstraint.FromRegex(ConstrainedMaskedTests.Regex);
            var options = new GenerationOptions { MaxNewTokens = 40, Constraint = constraint.For(shipped.Vocabulary) };
            var result = decoder.Generate(shipped.Encode(shipped.Prompts[0]), options);
            string text = Encoding.UTF8.GetString(shipped.Vocabulary.Concatenate(result.Tokens));
            Assert.True(constraint.Dfa.Matches(text), text);
            return (text, result.Stats.Steps, result.StopReason);
        }
        finally { HostRows.SimulateDevice = false; }
    }
}
