using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// Caller-owned outputs for a decode loop's forwards, allocated once (gpt-fast preallocates its cache the same way):
/// float32 logits <c>[batch, capacity, vocab]</c> and, when asked for, final hidden states <c>[batch, capacity, hidden]</c>
/// in the model's dtype, on the model's device. <see cref="ICausalLM.ForwardInto"/> writes a forward's first
/// <c>n</c> rows into them and returns views of those rows, made on first use per width and kept, so a step's forward
/// creates no tensor handle at all. The views stay valid until the next forward into the same outputs.
/// </summary>
public sealed class ForwardOutputs : IDisposable
{
    private readonly Tensor?[] _logitViews, _hiddenViews, _logitRows, _hiddenRows;

    public ForwardOutputs(ICausalLM model, int batch, int capacity, bool hidden = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Batch = batch;
        Capacity = capacity;
        Vocab = model.Config.VocabSize;
        DeviceType = model.Device.type;
        DeviceIndex = model.Device.index;
        Logits = zeros(new long[] { batch, capacity, Vocab }, ScalarType.Float32, model.Device).DetachFromDisposeScope();
        Hidden = hidden ? zeros(new long[] { batch, capacity, model.Config.HiddenSize }, model.DType, model.Device).DetachFromDisposeScope() : null;
        _logitViews = new Tensor?[capacity + 1];
        _hiddenViews = new Tensor?[capacity + 1];
        _logitRows = new Tensor?[capacity + 1];
        _hiddenRows = new Tensor?[capacity + 1];
    }

    public int Batch { get; }
    public int Capacity { get; }
    public int Vocab { get; }
    public DeviceType DeviceType { get; }
    public long DeviceIndex { get; }
    public bool HasHidden => Hidden is not null;

    /// <summary>The whole logits buffer, <c>[batch, capacity, vocab]</c> float32.</summary>
    public Tensor Logits { get; }

    /// <summary>The whole hidden-state buffer, <c>[batch, capacity, hidden]</c>, or null when not asked for.</summary>
    public Tensor? Hidden { get; }

    /// <summary>Logits of the first <paramref name="n"/> rows, <c>[batch, n, vocab]</c> (a kept view).</summary>
    public Tensor LogitsView(int n) => _logitViews[Check(n)] ??= Logits.narrow(1, 0, n).DetachFromDisposeScope();

    /// <summary>Hidden states of the first <paramref name="n"/> rows, <c>[batch, n, hidden]</c> (a kept view).</summary>
    public Tensor HiddenView(int n) =>
        _hiddenViews[Check(n)] ??= (Hidden ?? throw new InvalidOperationException("these outputs hold no hidden states (made with hidden: false)"))
            .narrow(1, 0, n).DetachFromDisposeScope();

    /// <summary>Batch 1: the first <paramref name="n"/> logits rows as <c>[n, vocab]</c> (a kept view).</summary>
    public Tensor LogitRows(int n)
    {
        if (Batch != 1) throw new InvalidOperationException($"LogitRows is for batch 1; these outputs hold {Batch} rows");
        return _logitRows[Check(n)] ??= FirstRows(Logits, n);
    }

    /// <summary>Batch 1: the first <paramref name="n"/> hidden rows as <c>[n, hidden]</c> (a kept view).</summary>
    public Tensor HiddenRows(int n)
    {
        if (Batch != 1) throw new InvalidOperationException($"HiddenRows is for batch 1; these outputs hold {Batch} rows");
        return _hiddenRows[Check(n)] ??= FirstRows(Hidden ?? throw new InvalidOperationException("these outputs hold no hidden states (made with hidden: false)"), n);
    }

    /// <summary>Batch 1: the borrowed rows of a forward of <paramref name="n"/> tokens, <c>[n, vocab]</c> and <c>[n, hidden]</c>.</summary>
    public ModelOutput Rows(int n, bool hidden) => new(LogitRows(n), hidden ? HiddenRows(n) : null) { Borrowed = true };

    /// <summary>The borrowed output a forward of <paramref name="n"/> tokens returns: its views, which disposing leaves alone.</summary>
    public ModelOutput Output(int n, bool hidden) => new(LogitsView(n), hidden ? HiddenView(n) : null) { Borrowed = true };

    /// <summary>Whether a forward of <paramref name="batch"/> × <paramref name="n"/> tokens of <paramref name="model"/> fits.</summary>
    internal void Validate(ICausalLM model, long batch, long n, bool hidden)
    {
        if (Batch != batch)
            throw new ArgumentException($"the outputs hold {Batch} rows but tokens has {batch}", "into");
        if (n > Capacity)
            throw new ArgumentException($"the outputs hold {Capacity} positions per row; this forward has {n}", "into");
        if (Vocab != model.Config.VocabSize || DeviceType != model.Device.type || DeviceIndex != model.Device.index)
            throw new ArgumentException("the outputs were made for another model or device", "into");
        if (hidden && Hidden is null)
            throw new ArgumentException("hidden states were asked for but the outputs were made with hidden: false", "into");
    }

    // Batch row 0's first n rows as a kept 2-D view (the intermediate row handle is freed here).
    private static Tensor FirstRows(Tensor buffer, int n)
    {
        using var row = buffer.select(0, 0);
        return row.narrow(0, 0, n).DetachFromDisposeScope();
    }

    private int Check(int n)
    {
        if (n < 1 || n > Capacity) throw new ArgumentOutOfRangeException(nameof(n), n, $"must be in [1, {Capacity}]");
        return n;
    }

    public void Dispose()
    {
        foreach (var view in _logitViews.Concat(_hiddenViews).Concat(_logitRows).Concat(_hiddenRows)) view?.Dispose();
        Logits.Dispose();
        Hidden?.Dispose();
    }
}
