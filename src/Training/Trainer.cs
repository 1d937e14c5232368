using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Pardec.Training;

/// <summary>Hyper-parameters of the optimisation loop (the model's shape lives in its config).</summary>
public sealed record LoopSettings
{
    public int Seed { get; init; }
    public int Batch { get; init; } = 16;
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Fixed (not a fraction of the total) so the first steps are identical whether the run is sized by
    /// --steps or by --minutes: the --minutes estimate happens inside the warmup.</summary>
    public int Warmup { get; init; } = 50;
    /// <summary>Cosine decays to this fraction of the peak learning rate.</summary>
    public double MinLrRatio { get; init; } = 0.1;
    public double Clip { get; init; } = 1.0;
    public double WeightDecay { get; init; } = 0.01;
    public int CheckpointEvery { get; init; } = 200;
    public int? Steps { get; init; }
    public double? Minutes { get; init; }
    public bool Resume { get; init; }
    /// <summary>Stop (with a checkpoint) once this step is reached: splits a long run across sessions, and lets the
    /// tests prove that an interrupted + resumed run equals an uninterrupted one.</summary>
    public int? StopAfter { get; init; }
}

/// <summary>What the loop did, for training.json.</summary>
public sealed record LoopResult(long Steps, long TokensSeen, double WallSeconds, double FinalTrainLoss, bool Interrupted);

/// <summary>
/// AdamW with linear warmup and cosine decay, gradient clipping, seeded data order, periodic checkpoints that
/// <c>--resume</c> continues from bit-for-bit, and a progress line (step, loss, tokens/s, ETA).
/// </summary>
/// <param name="exportTo">Called with <c>checkpoint/model</c> at every checkpoint: writes a loadable model there.</param>
public sealed class Trainer(IObjective objective, int[] stream, LoopSettings settings, string outDir, Action<string>? exportTo = null)
{
    /// <summary>Steps timed before a --minutes run fixes its total (must be inside the warmup; see LoopSettings.Warmup).</summary>
    private const int TimingSteps = 10;

    private string CheckpointDir => Path.Combine(outDir, "checkpoint");

    public LoopResult Run()
    {
        var parameters = objective.Trainable.parameters().Where(p => p.requires_grad).ToList();
        var optimizer = optim.AdamW(parameters, settings.LearningRate, weight_decay: settings.WeightDecay);
        long step = 0, total = settings.Steps ?? 0;
        double elapsedBefore = 0;

        if (settings.Resume && File.Exists(Path.Combine(CheckpointDir, "state.json")))
        {
            var state = JsonNode.Parse(File.ReadAllText(Path.Combine(CheckpointDir, "state.json")))!.AsObject();
            step = (long)state["step"]!;
            total = (long)state["total_steps"]!;
            elapsedBefore = (double)state["wall_seconds"]!;
            ModelIO.LoadInto(objective.Trainable.named_parameters(), Path.Combine(CheckpointDir, "trainable.safetensors"));
            optimizer.load_py(Path.Combine(CheckpointDir, "optimizer.bin"));
            Console.Error.WriteLine($"resumed from {CheckpointDir} at step {step}/{total}");
        }
        else if (settings.Resume)
        {
            Console.Error.WriteLine($"--resume: no checkpoint in {CheckpointDir}, starting from step 0");
        }

        objective.Trainable.train();
        var clock = Stopwatch.StartNew();
        long stepsThisRun = 0;
        int window = objective.WindowLength;
        double recentLoss = double.NaN;
        bool interactive = !Console.IsErrorRedirected;

        bool interrupted = false;
        while (total == 0 || step < total)
        {
            if (settings.StopAfter is int stop && step >= stop) { interrupted = true; break; }
            using (var scope = NewDisposeScope())
            {
                double lr = LearningRate(step, total == 0 ? long.MaxValue : total);
                foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;

                var batch = Batches.Sample(stream, settings.Batch, window, settings.Seed, step);
                optimizer.zero_grad();
                var loss = objective.Loss(batch, step);
                loss.backward();
                nn.utils.clip_grad_norm_(parameters, settings.Clip);
                optimizer.step();
                double l = loss.item<float>();
                if (double.IsNaN(l) || double.IsInfinity(l))
                    throw new TrainingException($"training diverged at step {step} (loss {l}); lower --lr");
                recentLoss = double.IsNaN(recentLoss) ? l : 0.95 * recentLoss + 0.05 * l;
            }
            step++; stepsThisRun++;

            if (total == 0 && stepsThisRun == TimingSteps)
            {
                // --minutes: size the cosine schedule from the measured pace. The remaining budget includes the
                // timing steps already spent; training.json records the result so --steps N reproduces the run.
                double perStep = clock.Elapsed.TotalSeconds / stepsThisRun;
                total = Math.Max(step + 1, (long)(settings.Minutes!.Value * 60 / perStep));
                Console.Error.WriteLine($"--minutes {settings.Minutes}: {perStep:F2} s/step, training {total} steps");
            }

            double secs = clock.Elapsed.TotalSeconds;
            if (step % 10 == 0 || step == total)
            {
                double tokPerSec = stepsThisRun * (double)settings.Batch * window / Math.Max(secs, 1e-9);
                double eta = total > 0 ? (total - step) * secs / stepsThisRun : double.NaN;
                string line = string.Create(CultureInfo.InvariantCulture,
                    $"step {step}/{(total > 0 ? total.ToString(CultureInfo.InvariantCulture) : "?")}  loss {recentLoss:F4}  " +
                    $"lr {LearningRate(step, total == 0 ? long.MaxValue : total):E2}  {tokPerSec:F0} tok/s  ETA {FormatTime(eta)}");
                if (interactive) Console.Error.Write("\r" + line.PadRight(100));
                else Console.Error.WriteLine(line);
            }
            if (settings.CheckpointEvery > 0 && step % settings.CheckpointEvery == 0 && step < total)
                SaveCheckpoint(optimizer, step, total, elapsedBefore + secs);
        }
        if (interactive) Console.Error.WriteLine();
        double wall = elapsedBefore + clock.Elapsed.TotalSeconds;
        SaveCheckpoint(optimizer, step, total, wall);
        objective.Trainable.eval();
        return new LoopResult(step, step * (long)settings.Batch * window, wall, recentLoss, interrupted);
    }

    /// <summary>Linear warmup to the peak, then cosine down to MinLrRatio of it at the last step.</summary>
    public double LearningRate(long step, long total)
    {
        double peak = settings.LearningRate;
        if (step < settings.Warmup) return peak * (step + 1) / settings.Warmup;
        if (total == long.MaxValue) return peak;
        double progress = Math.Clamp((double)(step - settings.Warmup) / Math.Max(1, total - settings.Warmup), 0, 1);
        double min = peak * settings.MinLrRatio;
        return min + (peak - min) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    private void SaveCheckpoint(TorchSharp.Modules.AdamW optimizer, long step, long total, double wall)
    {
        Directory.CreateDirectory(CheckpointDir);
        // f32 weights + AdamW moments: everything a resumed run needs to continue exactly (data order and masks are
        // functions of (seed, step), so no RNG state has to be stored).
        ModelIO.SaveSafetensors(objective.Trainable.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter),
                                Path.Combine(CheckpointDir, "trainable.safetensors"), ScalarType.Float32);
        var optPath = Path.Combine(CheckpointDir, "optimizer.bin");
        optimizer.save_py(optPath + ".tmp");
        File.Move(optPath + ".tmp", optPath, overwrite: true);
        var state = new JsonObject { ["step"] = step, ["total_steps"] = total, ["wall_seconds"] = wall };
        File.WriteAllText(Path.Combine(CheckpointDir, "state.json"), state.ToJsonString());
        exportTo?.Invoke(Path.Combine(CheckpointDir, "model"));
    }

    private static string FormatTime(double seconds) =>
        double.IsNaN(seconds) || double.IsInfinity(seconds) ? "?" : TimeSpan.FromSeconds(Math.Round(seconds)).ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture);
}
