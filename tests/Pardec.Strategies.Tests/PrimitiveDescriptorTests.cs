using System.Reflection;
using Pardec.Dsl;
using Pardec.Dsl.Binding;
using Pardec.Dsl.Plan;
using Pardec.Dsl.Primitives;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Proposers;
using Xunit;

namespace Pardec.Strategies.Tests;

/// <summary>
/// The descriptor contract: each primitive is described once, and the runtime must agree with the description —
/// constructors by parameter name and type, every parameter consumed, every lifecycle member present — and both
/// engines must build what lowering resolved.
/// </summary>
public sealed class PrimitiveDescriptorTests
{
    public static TheoryData<string, int> Forms()
    {
        var data = new TheoryData<string, int>();
        foreach (var d in PrimitiveLibrary.Default.All)
            for (int i = 0; i < d.Forms.Count; i++) data.Add(Key(d), i);
        return data;
    }

    private static string Key(PrimitiveDescriptor d) => d.Role + ":" + (d.Receiver is { } r ? r + "." : string.Empty) + d.Name;

    private static PrimitiveDescriptor Find(string key) => PrimitiveLibrary.Default.All.Single(d => Key(d) == key);

    [Theory]
    [MemberData(nameof(Forms))]
    public void Every_descriptor_form_has_a_runtime_constructor_with_its_parameter_names_and_types(string descriptor, int form)
    {
        var d = Find(descriptor);
        var f = d.Forms[form];
        var type = PrimitiveRegistry.Default.Resolve(f.RuntimeType);
        var names = f.Constructor.Select(c => c.Name).ToArray();
        var constructor = PrimitiveRegistry.Constructor(type, names);
        Assert.True(constructor is not null, $"{type.Name} has no public constructor taking ({string.Join(", ", names)}) with every other parameter optional");
        foreach (var argument in f.Constructor)
        {
            var parameter = constructor!.GetParameters().Single(p => p.Name == argument.Name);
            var expected = ExpectedType(d, argument.Source);
            Assert.True(parameter.ParameterType.IsAssignableFrom(expected),
                $"{type.Name}({argument.Name}) is a {parameter.ParameterType.Name}, but the descriptor passes a {expected.Name} ({argument.Source})");
        }
        var role = d.Role switch
        {
            PrimitiveRole.Proposer => typeof(IProposer),
            PrimitiveRole.Acceptance => typeof(Runtime.Primitives.Acceptance.IAcceptanceRule),
            PrimitiveRole.Constraint => typeof(Runtime.Constraints.IStrategyConstraint),
            _ => typeof(object),
        };
        Assert.True(role.IsAssignableFrom(type), $"{type.Name} is a {d.Role} but not an {role.Name}");
        if (f.CountsDraftForwards) Assert.True(typeof(IDraftCounter).IsAssignableFrom(type), $"{type.Name} counts draft forwards but is not an IDraftCounter");
        // Proposers and acceptance rules are disposed by role; states and commit rules when their form says so.
        if (d.Role is PrimitiveRole.State or PrimitiveRole.Commit)
            Assert.True(f.Disposable == typeof(IDisposable).IsAssignableFrom(type), $"{type.Name}: Disposable = {f.Disposable}, but it is{(f.Disposable ? " not" : string.Empty)} IDisposable");
        if (d.Role == PrimitiveRole.Commit)
        {
            var parameters = f.SelectsOnSession ? new[] { typeof(Runtime.Masked.MaskedSession) }
                : new[] { typeof(Runtime.Masked.MaskedBlock).MakeByRefType(), typeof(Runtime.Masked.MaskedSelection) };
            Assert.True(type.GetMethod("Select", parameters) is not null, $"{type.Name} has no Select({string.Join(", ", parameters.Select(p => p.Name))})");
        }
    }

    /// <summary>The CLR type a source yields, from the descriptor alone (what the emitter prints and the registry converts).</summary>
    private static Type ExpectedType(PrimitiveDescriptor d, ArgumentSource source) => source switch
    {
        ParamSource p => d.Find(p.Name)!.Kind switch
        {
            ArgKind.Int => typeof(int),
            ArgKind.Float => typeof(double),
            ArgKind.Flag or ArgKind.Bool => typeof(bool),
            ArgKind.Model when d.Find(p.Name)!.ModelKinds!.Contains(Pardec.Dsl.Plan.ModelKind.Medusa) => typeof(MedusaHeads),
            ArgKind.Model => typeof(ICausalLM),
            ArgKind.String or ArgKind.File => typeof(string), // a pattern; a file's text, read at build time
            var kind => throw new InvalidOperationException($"a {kind} parameter is not passed to a constructor as it is"),
        },
        ReceiverArgSource or HeadsOfSource => typeof(int),
        TargetOfSource => typeof(ICausalLM),
        SkipOfSource => typeof(LayerSkip),
        TreeSource => typeof(int[]),
        DraftShapeSource => typeof(DraftTreeShape),
        UpdatedSource => typeof(bool),
        EngineSource { Value: EngineValue.Sampler } => typeof(NodeSampler),
        EngineSource { Value: EngineValue.MaskedSession } => typeof(Runtime.Masked.MaskedSession),
        EngineSource { Value: EngineValue.Vocabulary } => typeof(Runtime.Constraints.TokenVocabulary),
        FilePathSource => typeof(string),
        EngineSource { Value: EngineValue.Target } => typeof(Runtime.Models.ICausalLM),
        EngineSource => typeof(int),
        StateInstanceSource s => PrimitiveRegistry.Default.Resolve(PrimitiveLibrary.Default.Find(PrimitiveRole.State, StatePlan.KindName(d.Find(s.Parameter)!.StateKind!.Value))!.Forms[0].RuntimeType),
        ConstantSource { Value.Type: ParamType.Int } => typeof(int),
        ConstantSource { Value.Type: ParamType.Bool } => typeof(bool),
        ConstantSource => typeof(double),
        StageSource { Part: StagePart.Proposers } => typeof(IProposer[]),
        StageSource { Part: StagePart.Accept } => typeof(Runtime.Primitives.Acceptance.IAcceptanceRule),
        StageSource => typeof(int),
        _ => throw new InvalidOperationException("unknown source " + source),
    };

    [Fact]
    public void Every_descriptor_parameter_reaches_the_runtime_or_chooses_a_form()
    {
        var library = PrimitiveLibrary.Default;
        var unused = new List<string>();
        foreach (var d in library.All)
        {
            foreach (var p in d.Parameters)
            {
                bool used = d.Forms.Any(f => f.When == p.Name || (f.Requires?.Contains(p.Name) ?? false) || f.Constructor.Any(c => Reads(c.Source, p.Name)))
                    || (d.Options?.Any(o => o.Parameter == p.Name) ?? false)
                    // A state's parameters reach the runtime through the method primitives called on it (pool.match reads size).
                    || (d.Role == PrimitiveRole.State && library.All.Any(m => m.Receiver is { } r && StatePlan.KindName(r) == d.Name
                        && m.Forms.Any(f => f.Constructor.Any(c => c.Source is ReceiverArgSource ra && ra.Name == p.Name))));
                if (!used) unused.Add(d.Name + "(" + p.Name + ")");
            }
        }
        Assert.Empty(unused);
    }

    private static bool Reads(ArgumentSource source, string parameter) => source switch
    {
        ParamSource p => p.Name == parameter || p.Otherwise == parameter,
        TargetOfSource t => t.Parameter == parameter,
        SkipOfSource s => s.Parameter == parameter,
        HeadsOfSource h => h.Parameter == parameter,
        TreeSource t => t.Parameter == parameter,
        DraftShapeSource s => s.Parameter == parameter,
        StateInstanceSource s => s.Parameter == parameter,
        _ => false,
    };

    [Fact]
    public void Every_state_update_call_is_a_public_method_of_the_runtime_type_that_learns()
    {
        foreach (var d in PrimitiveLibrary.Default.All.Where(d => d.Updates is not null))
        {
            foreach (var update in d.Updates!.Where(u => u.Call is not null))
            {
                // The instance that learns: the state's own form, or the method primitive called on it (the pool's match).
                var learner = d.Forms.FirstOrDefault()?.RuntimeType
                    ?? PrimitiveLibrary.Default.All.FirstOrDefault(m => m.Receiver is { } r && StatePlan.KindName(r) == d.Name)?.Forms[0].RuntimeType;
                Assert.NotNull(learner);
                var type = PrimitiveRegistry.Default.Resolve(learner!);
                Assert.True(type.GetMethod(update.Call!, BindingFlags.Public | BindingFlags.Instance) is not null, $"{type.Name} has no public method {update.Call}");
            }
            foreach (var flag in d.Updates!.Where(u => u.Flag is not null))
                Assert.Contains(PrimitiveLibrary.Default.All.SelectMany(m => m.Forms).SelectMany(f => f.Constructor), c => c.Name == flag.Flag && c.Source is UpdatedSource u && u.Source == flag.Source);
        }
    }

    public static TheoryData<string> SpecialisedStrategies()
    {
        var data = new TheoryData<string>();
        foreach (var s in GeneratedStrategies.All)
            if (EngineEquivalenceTests.Parse(s.Plan) is { Step: CausalStepPlan or MaskedStepPlan, Canvas.Batch: null }) data.Add(s.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(SpecialisedStrategies))]
    public void Generated_and_interpreted_decoders_are_built_from_the_same_resolved_instances(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        // The interpreter lowers the printed plan at run time; the generator lowered the file at build time.
        var instances = EngineEquivalenceTests.Parse(strategy.Plan).Step switch
        {
            CausalStepPlan causal => causal.Instances,
            MaskedStepPlan masked => masked.Instances,
            _ => throw new InvalidOperationException(),
        };
        var decoderType = typeof(GeneratedStrategies).Assembly.GetType("Pardec.Strategies." + name + "Decoder")!;
        Assert.Equal(string.Join("\n", instances), (string)decoderType.GetField("Primitives")!.GetRawConstantValue()!);
        foreach (var instance in instances)
        {
            var field = decoderType.GetField("_" + char.ToLowerInvariant(instance.Field[0]) + Pascal(instance.Field).Substring(1), BindingFlags.NonPublic | BindingFlags.Instance);
            Assert.True(field is not null, $"{name}Decoder has no field for '{instance.Field}'");
            Assert.Equal(PrimitiveRegistry.Default.Resolve(instance.RuntimeType), field!.FieldType);
        }
    }

    private static string Pascal(string snake) => string.Concat(snake.Split('_').Where(p => p.Length > 0).Select(p => char.ToUpperInvariant(p[0]) + p.Substring(1)));

    [Fact]
    public void A_toy_primitive_runs_on_the_interpreter_from_its_descriptor_and_its_class_alone()
    {
        var library = PrimitiveLibrary.Default.With(RepeatLastProposer.Descriptor);
        var plan = PdecCompiler.Compile(RepeatLastProposer.Strategy, "toy.pdec", library).Plans.Single();
        var instance = ((CausalStepPlan)plan.Step).Instances.Single(i => i.Primitive == "repeat");
        Assert.Equal("repeat = RepeatLastProposer(length: 3)", instance.ToString());

        using var target = TinyModels.Create(seed: 21);
        var models = new ModelSet().Add("target", target);
        using var toy = PlanInterpreter.Create(plan, models, null, 128, PrimitiveRegistry.Default.With(typeof(RepeatLastProposer)));
        using var greedy = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models, null, 128);
        var options = new GenerationOptions { MaxNewTokens = 24 };
        int[] prompt = [0, 5, 5, 5, 9];
        Assert.Equal(greedy.Generate(prompt, options).Tokens, toy.Generate(prompt, options).Tokens); // lossless: greedy acceptance
    }
}

/// <summary>A toy proposer for the descriptor test: the last token, repeated.</summary>
public sealed class RepeatLastProposer(int length) : IProposer
{
    public static PrimitiveDescriptor Descriptor { get; } = new(
        "repeat", PrimitiveRole.Proposer, "the last token, repeated", new[] { CanvasKind.Causal },
        new[] { new ParameterSignature("length", ArgKind.Int, Required: true, Description: "tokens proposed", Min: 1) },
        new[]
        {
            new PrimitiveForm(typeof(RepeatLastProposer).FullName!, new[] { new ConstructorArgument("length", ArgumentSource.Param("length")) },
                Width: WidthRule.Of("length")),
        },
        Preserves: Preserves.Both); // a proposer: only what is verified changes

    public const string Strategy = """
        strategy Toy
          guarantee lossless
          canvas causal
          model target: causal
          step
            propose repeat(length: 3)
            verify target
            accept greedy
          stop eos, max_tokens
        end
        """;

    private readonly int[] _draft = new int[length];

    public bool NeedsHidden => false;
    public bool HasDistributions => false;

    public void Reset(CausalContext context) { }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        Array.Fill(_draft, context.Root);
        tree.AddChain(0, _draft, source);
    }

    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome) { }

    public void Dispose() { }
}
