using Pardec.Runtime.Constraints;
using Pardec.Runtime.Models;

namespace Pardec.Runtime.Interpretation;

/// <summary>The models a strategy's roles are bound to: causal or masked LMs by role name, and Medusa heads; and, for a
/// strategy that declares a constraint, the token bytes of the models' tokenizer (what the constraint reads).</summary>
public sealed class ModelSet
{
    private readonly Dictionary<string, ICausalLM> _lms = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MedusaHeads> _heads = new(StringComparer.Ordinal);

    public ModelSet Add(string role, ICausalLM model) { _lms[role] = model; return this; }
    public ModelSet Add(string role, MedusaHeads heads) { _heads[role] = heads; return this; }

    public ModelSet Add(TokenVocabulary vocabulary) { Vocabulary = vocabulary; return this; }

    public bool Has(string role) => _lms.ContainsKey(role) || _heads.ContainsKey(role);

    /// <summary>The tokenizer's vocabulary (<see cref="TokenVocabulary.From"/>), needed by strategies that declare a constraint.</summary>
    public TokenVocabulary? Vocabulary { get; private set; }

    /// <summary>The vocabulary, or an error naming the strategy that needs it.</summary>
    public TokenVocabulary VocabularyFor(string strategy) => Vocabulary ?? throw new ArgumentException(
        $"Strategy '{strategy}' declares a constraint, which reads the tokenizer's token bytes: add them with ModelSet.Add(TokenVocabulary.From(tokenizer)).");

    public ICausalLM Model(string role) => _lms.TryGetValue(role, out var m) ? m
        : throw new ArgumentException($"The strategy needs a model for role '{role}', and none was given. Given roles: {Describe()}.");

    public MedusaHeads Heads(string role) => _heads.TryGetValue(role, out var h) ? h
        : throw new ArgumentException($"The strategy needs Medusa heads for role '{role}', and none were given. Given roles: {Describe()}.");

    private string Describe() => _lms.Count + _heads.Count == 0 ? "none" : string.Join(", ", _lms.Keys.Concat(_heads.Keys));
}
