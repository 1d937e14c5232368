using System.Collections.Generic;

namespace Pardec.Dsl.Diagnostics;

/// <summary>
/// Every diagnostic the front end can report. Ids are stable and never reused:
/// PDEC0xxx syntax, PDEC1xxx binding, PDEC2xxx C# integration (reserved for the generator),
/// PDEC3xxx info. A retired id stays here, marked retired, so that it is never handed out again.
/// </summary>
public static class DiagnosticDescriptors
{
    private const DiagnosticSeverity Error = DiagnosticSeverity.Error;

    // ---- PDEC0xxx: syntax ----
    public static DiagnosticDescriptor UnexpectedCharacter { get; } = new(
        "PDEC0001", "Unexpected character", "Unexpected character '{0}'; expected a name, number, string, punctuation (: , = + . .. ( ) [ ] >=) or a # comment", Error);

    public static DiagnosticDescriptor UnterminatedString { get; } = new(
        "PDEC0002", "Unterminated string", "Unterminated string literal; expected a closing '\"' before the end of the line", Error);

    public static DiagnosticDescriptor ExpectedToken { get; } = new(
        "PDEC0003", "Expected token", "Expected {0} but found {1}", Error);

    public static DiagnosticDescriptor UnknownKeyword { get; } = new(
        "PDEC0004", "Unknown keyword", "Unknown {0} keyword '{1}'; expected one of: {2}{3}", Error);

    public static DiagnosticDescriptor InvalidNumber { get; } = new(
        "PDEC0005", "Invalid number", "'{0}' is not a valid number", Error);

    public static DiagnosticDescriptor ExpectedEndOfLine { get; } = new(
        "PDEC0006", "Expected end of line", "Unexpected {0} after {1}; expected the end of the line", Error);

    public static DiagnosticDescriptor ExpectedStrategy { get; } = new(
        "PDEC0007", "Expected a strategy", "Expected 'strategy <Name>' at the top level but found {0}", Error);

    public static DiagnosticDescriptor ExpectedExpression { get; } = new(
        "PDEC0008", "Expected an expression", "Expected {0} but found {1}", Error);

    // ---- PDEC1xxx: binding ----
    public static DiagnosticDescriptor UnknownPrimitive { get; } = new(
        "PDEC1001", "Unknown proposer", "Unknown proposer '{0}'; expected one of: {1}{2}", Error);

    public static DiagnosticDescriptor UnknownModelKind { get; } = new(
        "PDEC1002", "Unknown model kind", "Unknown model kind '{0}'; expected one of: {1}{2}", Error);

    public static DiagnosticDescriptor UnknownName { get; } = new(
        "PDEC1003", "Unknown name", "Unknown {0} '{1}'; {2}{3}", Error);

    public static DiagnosticDescriptor DuplicateName { get; } = new(
        "PDEC1004", "Duplicate name", "'{0}' is already declared as a {1} in strategy '{2}'; models, params and states share one namespace", Error);

    public static DiagnosticDescriptor DefaultOutsideRange { get; } = new(
        "PDEC1005", "Default outside range", "Default {0} of param '{1}' is outside its range {2}", Error);

    public static DiagnosticDescriptor EmptyRange { get; } = new(
        "PDEC1006", "Empty range", "Range {0} is empty; expected a lower bound below the upper bound (or equal, with both bounds inclusive)", Error);

    public static DiagnosticDescriptor TypeMismatch { get; } = new(
        "PDEC1007", "Wrong type", "{0} must be {1}, but {2} is {3}", Error);

    public static DiagnosticDescriptor LossyRuleUnderLossless { get; } = new(
        "PDEC1008", "Lossy rule under guarantee lossless", "'{0}' is lossy, but the strategy declares 'guarantee lossless'; use {1}, or declare 'guarantee none'", Error);

    public static DiagnosticDescriptor RejectionWithoutProbabilities { get; } = new(
        "PDEC1009", "Rejection sampling without draft probabilities", "'accept rejection' needs the draft probabilities q(x), but '{0}' proposes tokens without probabilities; use 'accept greedy', or a proposer that keeps q with 'sample' ({1})", Error);

    public static DiagnosticDescriptor TreeVerifyWithChain { get; } = new(
        "PDEC1010", "Tree verification of a chain", "'verify {0} tree' needs a tree-shaped proposal, but {1} proposes a single chain; use 'verify {0}' (chain), or a tree proposer ({2})", Error);

    public static DiagnosticDescriptor ChainVerifyWithTree { get; } = new(
        "PDEC1011", "Chain verification of a tree", "'verify {0} chain' can only check one chain, but '{1}' proposes a token tree; use 'verify {0} tree' or 'verify {0}'", Error);

    public static DiagnosticDescriptor ModelKindOnCanvas { get; } = new(
        "PDEC1012", "Model kind does not fit the canvas", "Model '{0}' is {1}, which cannot run on a {2} canvas; expected {3}", Error);

    public static DiagnosticDescriptor PrimitiveOnCanvas { get; } = new(
        "PDEC1013", "Primitive does not fit the canvas", "'{0}' is only valid on a {1} canvas, but strategy '{2}' has a {3} canvas", Error);

    public static DiagnosticDescriptor TreeNotPrefixClosed { get; } = new(
        "PDEC1014", "Token tree not prefix-closed", "Token tree is not prefix-closed: {0}", Error);

    public static DiagnosticDescriptor TreeTooWide { get; } = new(
        "PDEC1015", "Token tree wider than the verify budget", "Token tree has {0} candidate tokens, more than the verify budget max_width = {1}; remove paths or raise 'verify <target> tree(max_width: n)'", Error);

    /// <summary>
    /// Retired: it checked the paper's lookahead budget (W + G)(N - 1) for <c>jacobi(ngram: n)</c>, whose n never reached
    /// the runtime's one-level Jacobi window. <c>ngram</c> is gone from <c>jacobi</c>; the real width W + G(N - 1) is PDEC1027's.
    /// </summary>
    public static DiagnosticDescriptor LookaheadBudget { get; } = new(
        "PDEC1016", "Lookahead budget over the verify budget", "Lookahead budget (W + G)(N - 1) = ({0} + {1})({2} - 1) = {3} exceeds the verify budget max_width = {4}; lower window, guesses or ngram, or raise 'verify <target> tree(max_width: n)'", Error);

    public static DiagnosticDescriptor MaskedWithoutStop { get; } = new(
        "PDEC1017", "Masked canvas without a stop condition", "Strategy '{0}' has a masked canvas but no stop condition; add 'stop max_tokens' and/or 'stop eot(p)'", Error);

    public static DiagnosticDescriptor WrongRoleKind { get; } = new(
        "PDEC1018", "Reference of the wrong kind", "'{0}' is {1}, but {2} expects {3}", Error);

    public static DiagnosticDescriptor UnknownArgument { get; } = new(
        "PDEC1019", "Unknown argument", "'{0}' has no parameter '{1}'; valid parameters: {2}{3}", Error);

    public static DiagnosticDescriptor MissingArgument { get; } = new(
        "PDEC1020", "Missing argument", "'{0}' needs the parameter '{1}' ({2})", Error);

    public static DiagnosticDescriptor DuplicateStatement { get; } = new(
        "PDEC1021", "Duplicate statement", "'{0}' is already declared in strategy '{1}'; a strategy has at most one", Error);

    public static DiagnosticDescriptor MissingStatement { get; } = new(
        "PDEC1022", "Missing statement", "Strategy '{0}' needs {1}", Error);

    public static DiagnosticDescriptor UnknownChoice { get; } = new(
        "PDEC1023", "Unknown choice", "Unknown {0} '{1}'; expected one of: {2}{3}", Error);

    public static DiagnosticDescriptor InvalidUpdateSource { get; } = new(
        "PDEC1024", "Invalid update source", "State '{0}' ({1}) cannot be updated from '{2}'; valid sources: {3}", Error);

    public static DiagnosticDescriptor DistributionNeedsRejection { get; } = new(
        "PDEC1025", "Rule that does not preserve the distribution", "'guarantee distribution' promises the target's sampling distribution, but '{0}' does not preserve it; use {1}, or declare 'guarantee none'", Error);

    public static DiagnosticDescriptor ValueOutOfBounds { get; } = new(
        "PDEC1026", "Value out of bounds", "{0} = {1} is out of bounds; expected {2}", Error);

    public static DiagnosticDescriptor VerifyTooWide { get; } = new(
        "PDEC1027", "Proposal wider than the verify budget", "The proposal has up to {0} candidate tokens, more than the verify budget max_width = {1}; shorten it or raise 'verify <target> {2}(max_width: n)'", Error);

    public static DiagnosticDescriptor DuplicateArgument { get; } = new(
        "PDEC1028", "Duplicate argument", "Parameter '{0}' of '{1}' is given more than once", Error);

    public static DiagnosticDescriptor NotOnBatchedCanvas { get; } = new(
        "PDEC1029", "Not available on a batched canvas", "{0} is not available on a batched canvas: {1}", Error);

    public static DiagnosticDescriptor ParameterOrder { get; } = new(
        "PDEC1030", "Parameters out of order", "'{0}' = {1} of '{2}' must not exceed '{3}' = {4}", Error);

    public static DiagnosticDescriptor NotAMultiple { get; } = new(
        "PDEC1031", "Not a multiple", "'{0}' = {1} of '{2}' must be a multiple of '{3}' = {4}, {5}", Error);

    public static DiagnosticDescriptor RejectionNeedsChain { get; } = new(
        "PDEC1032", "Rejection sampling of a tree", "'accept rejection' verifies one chain of sampled drafts, but {0} makes the proposal a tree; propose one sampled chain, or use 'accept greedy'", Error);

    public static DiagnosticDescriptor DraftVerifyNeedsExactCache { get; } = new(
        "PDEC1033", "Draft-and-verify with an approximate cache", "'commit {0}' reproduces one-token-per-step decoding only with 'cache none', but strategy '{1}' declares 'cache {2}', which reuses stale keys and values", Error);

    // PDEC1056..1059 are left to the block-diffusion work that lands beside this.
    public static DiagnosticDescriptor CommitRuleCache { get; } = new(
        "PDEC1060", "Commit rule with a cache mode it cannot run with", "'commit {0}' in strategy '{1}' cannot run with 'cache {2}': {4}; use {3}", Error);

    // PDEC1034..1039 are left to the constraint work that lands beside this; staged speculation starts at 1040.
    public static DiagnosticDescriptor EngineCycle { get; } = new(
        "PDEC1040", "Engine cycle", "Strategy '{0}' cannot run '{1}' as an engine: {2} is a cycle; an engine must not need the strategy it drafts for", Error);

    public static DiagnosticDescriptor ExclusiveArguments { get; } = new(
        "PDEC1041", "Arguments that exclude each other", "'{0}' and '{1}' of '{2}' cannot be given together: {3}", Error);

    public static DiagnosticDescriptor EngineNotUsable { get; } = new(
        "PDEC1042", "Not usable as an engine", "Strategy '{0}' cannot be the engine of '{1}': {2}", Error);

    // ---- PDEC105x: constraints (the constrain statement and how it composes) ----
    public static DiagnosticDescriptor InvalidPattern { get; } = new(
        "PDEC1050", "Invalid constraint", "Invalid {0}: {1}", Error);

    public static DiagnosticDescriptor ConstraintFileNotFound { get; } = new(
        "PDEC1051", "Constraint file not found", "{0}: file '{1}' not found (looked for {2}); the generator reads it as an AdditionalFile, so add it to the project's AdditionalFiles next to the .pdec files", Error);

    public static DiagnosticDescriptor ConstraintOnMaskedCanvas { get; } = new(
        "PDEC1052", "Constraint on a masked canvas", "'constrain {0}' cannot be followed on the masked canvas of strategy '{1}': {2}", Error);

    public static DiagnosticDescriptor ConstraintRequired { get; } = new(
        "PDEC1053", "Proposer needs a constraint", "'{0}' proposes what a constraint forces, but strategy '{1}' declares no constraint; add 'constrain …' ('constrain runtime' to follow each request's own)", Error);

    public static DiagnosticDescriptor UnmaskedDraftUnderConstraint { get; } = new(
        "PDEC1054", "Rejection sampling with an unmasked draft under a constraint", "'accept rejection' under 'constrain {0}' keeps the constrained sampling distribution only when q(x) is drawn under the constraint's mask, but '{1}' samples its draft unmasked (its forbidden tokens would be pruned, skewing the output); use a proposer that drafts under the mask ({2}) or 'accept greedy'", Error);

    public static DiagnosticDescriptor RecursiveGrammar { get; } = new(
        "PDEC1055", "Recursive grammar", "The GBNF rule '{0}' is recursive ({1}): {2}", Error);

    public static DiagnosticDescriptor DenoiserMismatch { get; } = new(
        "PDEC1070", "The strategy does not fit its denoiser", "'{0}' does not fit '{1}', {2}: {3}", Error);

    // ---- PDEC2xxx: C# integration — reserved, owned by src/Generators. ----

    // ---- PDEC3xxx: info ----
    public static DiagnosticDescriptor RuntimeParamSizesBuffers { get; } = new(
        "PDEC3001", "Runtime param sizes buffers", "Param '{0}' is runtime, so buffers are sized for its upper bound {1}", DiagnosticSeverity.Info);

    public static IReadOnlyList<DiagnosticDescriptor> All { get; } = new[]
    {
        UnexpectedCharacter, UnterminatedString, ExpectedToken, UnknownKeyword, InvalidNumber, ExpectedEndOfLine,
        ExpectedStrategy, ExpectedExpression,
        UnknownPrimitive, UnknownModelKind, UnknownName, DuplicateName, DefaultOutsideRange, EmptyRange, TypeMismatch,
        LossyRuleUnderLossless, RejectionWithoutProbabilities, TreeVerifyWithChain, ChainVerifyWithTree, ModelKindOnCanvas,
        PrimitiveOnCanvas, TreeNotPrefixClosed, TreeTooWide, LookaheadBudget, MaskedWithoutStop, WrongRoleKind,
        UnknownArgument, MissingArgument, DuplicateStatement, MissingStatement, UnknownChoice, InvalidUpdateSource,
        DistributionNeedsRejection, ValueOutOfBounds, VerifyTooWide, DuplicateArgument, NotOnBatchedCanvas, ParameterOrder,
        NotAMultiple, RejectionNeedsChain, DraftVerifyNeedsExactCache, CommitRuleCache, EngineCycle, ExclusiveArguments, EngineNotUsable,
        InvalidPattern, ConstraintFileNotFound, ConstraintOnMaskedCanvas, ConstraintRequired, UnmaskedDraftUnderConstraint, RecursiveGrammar,
        DenoiserMismatch,
        RuntimeParamSizesBuffers,
    };
}
