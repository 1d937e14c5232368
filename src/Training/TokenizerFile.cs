using Microsoft.ML.Tokenizers;

namespace Pardec.Training;

/// <summary>Loads the shared SentencePiece <c>tokenizer.model</c> and checks it against a model's vocabulary.</summary>
public static class TokenizerFile
{
    /// <summary>
    /// The tokenizer without automatic BOS/EOS: the corpus pipeline adds them per document itself, so that training,
    /// validation and the tests all frame text the same way.
    /// </summary>
    public static SentencePieceTokenizer Load(string path)
    {
        if (!File.Exists(path))
            throw new TrainingException($"{path}: tokenizer file not found");
        try
        {
            using var stream = File.OpenRead(path);
            return LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not TrainingException)
        {
            throw new TrainingException($"{path}: not a readable SentencePiece model ({e.Message})", e);
        }
    }

    /// <summary>Number of pieces: ids run 0..count-1, so this is the vocabulary size a model must have.</summary>
    public static int VocabularySize(SentencePieceTokenizer tokenizer) => tokenizer.Vocabulary.Count;

    /// <summary>A model whose embedding rows do not match the tokenizer's ids would silently read garbage; refuse it.</summary>
    public static void CheckMatches(SentencePieceTokenizer tokenizer, string tokenizerPath, int modelVocab, string configPath)
    {
        int n = VocabularySize(tokenizer);
        if (n != modelVocab)
            throw new TrainingException(
                $"{tokenizerPath}: tokenizer has {n} pieces but {configPath} says vocab_size = {modelVocab}; " +
                "they must come from the same tokenizer");
    }
}
