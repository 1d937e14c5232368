namespace Pardec.Runtime.Primitives.State;

/// <summary>
/// A state whose current value a proposer's int argument takes before every step (a draft length, a Jacobi window, a
/// guess count, a tree budget), updated from the step's outcome: <c>update length from accept</c>.
/// </summary>
public interface ILengthState
{
    /// <summary>The value the bound arguments take for the next step.</summary>
    int Current { get; }

    /// <summary>Called before each decode.</summary>
    void Reset();

    /// <param name="proposed">The step's candidates seen as a chain: those accepted, plus the first rejected one if the
    /// accepted path stopped at a rejection (a chain's length when all were accepted); 0 when nothing was proposed.</param>
    /// <param name="accepted">Candidate tokens accepted this step.</param>
    void Update(int proposed, int accepted);
}
