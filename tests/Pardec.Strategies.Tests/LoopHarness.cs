using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Acceptance;
using Pardec.Runtime.Primitives.Proposers;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>The greedy loop as a generated decoder writes it, and the full re-forward greedy reference it must equal.</summary>
internal static class LoopHarness
{
    public static int[] RunGreedy(ICausalLM target, int[] prompt, int maxNew, int width, out CausalSession stats, params IProposer[] proposers)
    {
        using var _ = torch.no_grad();
        var session = new CausalSession(target, 256, width);
        session.Start(prompt, new GenerationOptions { MaxNewTokens = maxNew });
        foreach (var p in proposers) p.Reset(session.Context);
        while (!session.Done)
        {
            session.BeginStep();
            for (int i = 0; i < proposers.Length; i++) proposers[i].Propose(session.Context, session.Tree, i);
            using (var verified = session.Verify(returnHidden: false))
            {
                GreedyAcceptance.Accept(session.Tree, verified.Logits, session.Sampler, session.Outcome);
                session.Commit(verified);
            }
            foreach (var p in proposers) p.Observe(session.Context, session.Tree, session.Outcome);
        }
        stats = session;
        return session.Context.Generated.ToArray();
    }

    /// <summary>Plain greedy decoding by full re-forwarding — the slowest, most obviously right reference.</summary>
    public static int[] Reference(ICausalLM model, int[] prompt, int maxNew, IReadOnlyList<int>? eos = null)
    {
        using var _ = torch.no_grad();
        var tokens = prompt.ToList();
        eos ??= model.Config.EosTokenIds;
        for (int i = 0; i < maxNew; i++)
        {
            using var scope = NewDisposeScope();
            int n = tokens.Count;
            var input = tensor(tokens.Select(t => (long)t).ToArray()).view(1, n);
            var positions = arange(n, dtype: ScalarType.Int64).view(1, n);
            var mask = ones(n, n, ScalarType.Bool).tril().view(1, 1, n, n);
            using var output = model.Forward(input, positions, mask, null);
            int next = (int)output.Logits[0, n - 1].argmax().item<long>();
            tokens.Add(next);
            if (eos.Contains(next)) break;
        }
        return tokens.Skip(prompt.Length).ToArray();
    }
}
