using Microsoft.CodeAnalysis;
using Pardec.Dsl;
using Pardec.Dsl.Binding;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;

namespace Pardec.Generators.Tests;

/// <summary>
/// A primitive is its descriptor and its class: this toy is neither in the binder, nor in the emitter, nor in the
/// interpreter, and the emitter still specialises a strategy that names it (the interpreter side is in
/// Pardec.Strategies.Tests' PrimitiveDescriptorTests, which runs the same toy).
/// </summary>
public sealed class ToyPrimitiveTests
{
    private static readonly PrimitiveDescriptor Repeat = new(
        "repeat", PrimitiveRole.Proposer, "the last token, repeated", new[] { CanvasKind.Causal },
        new[] { new ParameterSignature("length", ArgKind.Int, Required: true, Description: "tokens proposed", Min: 1) },
        new[]
        {
            new PrimitiveForm("Toys.RepeatLastProposer", new[] { new ConstructorArgument("length", ArgumentSource.Param("length")) },
                Width: WidthRule.Of("length")),
        },
        Preserves: Preserves.Both); // a proposer: only what is verified changes

    private const string Class = """
        namespace Toys;

        public sealed class RepeatLastProposer(int length) : Pardec.Runtime.Primitives.Proposers.IProposer
        {
            private readonly int[] _draft = new int[length];
            public bool NeedsHidden => false;
            public bool HasDistributions => false;
            public void Reset(Pardec.Runtime.Primitives.CausalContext context) { }
            public void Propose(Pardec.Runtime.Primitives.CausalContext context, Pardec.Runtime.Primitives.CandidateTree tree, int source)
            {
                System.Array.Fill(_draft, context.Root);
                tree.AddChain(0, _draft, source);
            }
            public void Observe(Pardec.Runtime.Primitives.CausalContext context, Pardec.Runtime.Primitives.CandidateTree tree, Pardec.Runtime.Primitives.StepOutcome outcome) { }
            public void Dispose() { }
        }
        """;

    [Fact]
    public void A_toy_primitive_is_specialised_from_its_descriptor_and_its_class_alone()
    {
        var result = PdecCompiler.Compile("""
            strategy Toy
              guarantee lossless
              canvas causal
              model target: causal
              param length: int = 3 in 1..8
              step
                propose repeat(length: length)
                verify target
                accept greedy
            end
            """, "toy.pdec", PrimitiveLibrary.Default.With(Repeat));
        Assert.Empty(result.Diagnostics);

        var emitted = PdecGenerator.Emit(result.Plans.Single(), "Toys");
        Assert.Null(emitted.FallbackReason);
        Assert.Contains("_repeat = new global::Toys.RepeatLastProposer(length: 3);", emitted.Source);
        Assert.Contains("_repeat.Propose(s.Context, s.Tree, 0);", emitted.Source);
        Assert.Contains("CausalSession(target, maxLength, 4)", emitted.Source); // the width rule: length + the root

        var compilation = GeneratorHarness.Compilation(Class, emitted.Source);
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()));
    }

    [Fact]
    public void Without_its_descriptor_the_toy_is_an_unknown_proposer()
    {
        var result = PdecCompiler.Compile("strategy Toy\n  canvas causal\n  model target: causal\n  step\n    propose repeat(length: 3)\n    verify target\n    accept greedy\nend\n");
        Assert.Equal("PDEC1001", Assert.Single(result.Diagnostics).Id);
    }
}
