namespace Pardec.Strategies.Tests;

/// <summary>
/// Pearson's chi-square goodness-of-fit test with its exact p-value: the chi-square survival function is the
/// regularised upper incomplete gamma Q(dof/2, x/2), computed by its series / continued fraction (Numerical Recipes
/// §6.2) with a Lanczos log-gamma. Validated against table quantiles in <see cref="SpeculativeSamplingDistributionTests"/>.
/// </summary>
internal static class ChiSquare
{
    /// <summary>
    /// Statistic Σ (O − E)² / E over bins, after pooling every cell whose expected count is below
    /// <paramref name="minExpected"/> into one extra bin (the usual validity rule); dof = bins − 1.
    /// </summary>
    public static (double Statistic, int Dof) GoodnessOfFit(ReadOnlySpan<long> observed, ReadOnlySpan<double> probabilities, long samples, double minExpected = 5)
    {
        double statistic = 0, pooledObserved = 0, pooledExpected = 0;
        int bins = 0;
        for (int i = 0; i < observed.Length; i++)
        {
            double expected = probabilities[i] * samples;
            if (expected < minExpected) { pooledObserved += observed[i]; pooledExpected += expected; continue; }
            statistic += (observed[i] - expected) * (observed[i] - expected) / expected;
            bins++;
        }
        if (pooledExpected > 0)
        {
            statistic += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected;
            bins++;
        }
        return (statistic, bins - 1);
    }

    /// <summary>P(X ≥ x) for X ~ χ²(dof).</summary>
    public static double SurvivalFunction(double x, int dof) => x <= 0 ? 1 : UpperRegularizedGamma(dof / 2.0, x / 2.0);

    /// <summary>The x with P(X ≥ x) = <paramref name="alpha"/> (bisection on the survival function).</summary>
    public static double CriticalValue(int dof, double alpha)
    {
        double lo = 0, hi = dof + 100 * Math.Sqrt(2.0 * dof) + 100;
        for (int i = 0; i < 200; i++)
        {
            double mid = (lo + hi) / 2;
            if (SurvivalFunction(mid, dof) > alpha) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    private static double UpperRegularizedGamma(double a, double x)
    {
        if (x < a + 1)
        {
            // Series for P(a, x).
            double sum = 1 / a, term = sum;
            for (int n = 1; n < 10_000; n++)
            {
                term *= x / (a + n);
                sum += term;
                if (Math.Abs(term) < Math.Abs(sum) * 1e-16) break;
            }
            return 1 - sum * Math.Exp(-x + a * Math.Log(x) - LogGamma(a));
        }
        // Lentz continued fraction for Q(a, x).
        const double tiny = 1e-300;
        double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
        for (int i = 1; i < 10_000; i++)
        {
            double an = -i * (i - a);
            b += 2;
            d = an * d + b; if (Math.Abs(d) < tiny) d = tiny;
            c = b + an / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return Math.Exp(-x + a * Math.Log(x) - LogGamma(a)) * h;
    }

    // Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for a > 0.
    private static double LogGamma(double z)
    {
        ReadOnlySpan<double> c =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        if (z < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * z))) - LogGamma(1 - z);
        z -= 1;
        double x = c[0];
        for (int i = 1; i < 9; i++) x += c[i] / (z + i);
        double t = z + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (z + 0.5) * Math.Log(t) - t + Math.Log(x);
    }
}
