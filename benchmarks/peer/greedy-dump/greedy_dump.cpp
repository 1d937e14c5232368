// greedy_dump: llama.cpp's own tokenizer and greedy decoding, dumped as JSON lines, for the real-layout cross-check
// (benchmarks/peer/make-peer-fixtures.py; tests/fixtures/peer-models). Links the libllama built by
// build-llama-cpp.sh; built by build-greedy-dump.sh.
//
//   greedy_dump tokenize MODEL.gguf PROMPTS        PROMPTS: prompts separated by NUL bytes. Prints one line per
//                                                  prompt: {"ids":[...]} (llama_tokenize, add_special=true,
//                                                  parse_special=false: BOS as the model's GGUF asks).
//   greedy_dump generate MODEL.gguf IDS N [TOPK]   IDS: one prompt per line, ids separated by spaces. For each prompt,
//                                                  in a fresh KV cache: prefill, then N greedy steps (argmax; ties go
//                                                  to the lowest id) one token per llama_decode. Prints one line per
//                                                  prompt: {"tokens":[N ids],"top":[[[id,logit] x TOPK] x N]} where
//                                                  top[i] are the logits that chose tokens[i].
//
//   greedy_dump grammar MODEL.gguf IDS N GBNF      As generate, under the GBNF grammar in the file GBNF (root rule
//                                                  "root"): each step the logits go through llama.cpp's grammar
//                                                  sampler (llama_sampler_init_grammar: -inf for every token the
//                                                  grammar rejects, end-of-generation tokens only where it accepts),
//                                                  then argmax (ties to the lowest id), then llama_sampler_accept. The
//                                                  decode ends after an end-of-generation token, or when every logit is
//                                                  -inf ("stop":"unsatisfiable"). Prints {"tokens":[...],"stop":"eog"
//                                                  |"unsatisfiable"|"max","allowed":[...],"allowed_text":[...],
//                                                  "top":[...]} (allowed: how many tokens the grammar allowed at each
//                                                  step; allowed_text: of those, the ones that are UTF-8 text, not
//                                                  control tokens or bytes 0xF5-0xFF; top: masked logits).
//
// The context is as exact as llama.cpp allows on CPU: f32 K/V cache (the default is f16), no flash attention, one
// thread, n_ctx = the longest prompt + N, rounded up.
#include "llama.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

static void quiet_log(ggml_log_level level, const char * text, void *) {
    if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static void die(const char * what) {
    fprintf(stderr, "greedy_dump: %s\n", what);
    exit(1);
}

static std::string read_file(const char * path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) die("cannot read input file");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

static llama_model * load(const char * path) {
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(path, mp);
    if (!model) die("cannot load model");
    return model;
}

static int tokenize(const char * model_path, const char * prompts_path) {
    llama_model * model = load(model_path);
    const llama_vocab * vocab = llama_model_get_vocab(model);
    std::string all = read_file(prompts_path);
    size_t start = 0;
    while (start <= all.size()) {
        size_t end = all.find('\0', start);
        if (end == std::string::npos) end = all.size();
        std::string text = all.substr(start, end - start);
        start = end + 1;
        if (text.empty() && end == all.size()) break;
        int n = -llama_tokenize(vocab, text.data(), (int)text.size(), nullptr, 0, true, false);
        std::vector<llama_token> ids(std::max(n, 1));
        n = llama_tokenize(vocab, text.data(), (int)text.size(), ids.data(), (int)ids.size(), true, false);
        if (n < 0) die("tokenize failed");
        printf("{\"ids\":[");
        for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        printf("]}\n");
    }
    llama_model_free(model);
    return 0;
}

static int generate(const char * model_path, const char * ids_path, int n_new, int top_k, const char * grammar_path) {
    std::vector<std::vector<llama_token>> prompts;
    {
        std::istringstream lines(read_file(ids_path));
        std::string line;
        while (std::getline(lines, line)) {
            std::istringstream ids(line);
            std::vector<llama_token> p;
            long v;
            while (ids >> v) p.push_back((llama_token)v);
            if (!p.empty()) prompts.push_back(p);
        }
    }
    size_t longest = 0;
    for (auto & p : prompts) longest = std::max(longest, p.size());

    llama_model * model = load(model_path);
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    std::string grammar = grammar_path ? read_file(grammar_path) : std::string();
    // Tokens llama.cpp's grammar sampler treats as text but that are not: control and unknown tokens other than the
    // end-of-generation ones (<s>, <pad>, <unk>: their piece, rendered with special=true, is matched as characters), and
    // single bytes that never occur in UTF-8 (0xF5-0xFF: llama.cpp's decode_utf8 reads them as the lead of a 4-byte
    // sequence). Greedy decoding is unaffected where the model prefers a text token; the mask sizes are compared over
    // text tokens (allowed_text).
    std::vector<bool> not_text(n_vocab);
    for (int i = 0; i < n_vocab; i++) {
        char piece[16];
        int n = llama_token_to_piece(vocab, i, piece, sizeof piece, 0, true);
        bool control = (llama_vocab_get_attr(vocab, i) & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_UNKNOWN)) != 0;
        not_text[i] = (control && !llama_vocab_is_eog(vocab, i)) || (n == 1 && (unsigned char)piece[0] >= 0xF5);
    }

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)((longest + n_new + 255) / 256 * 256);
    cp.n_batch = cp.n_ctx;
    cp.n_ubatch = cp.n_ctx;
    cp.n_seq_max = 1;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.swa_full = true;
    cp.no_perf = true;

    for (auto & prompt : prompts) {
        // A fresh context per prompt: nothing of the previous prompt can leak through the cache.
        llama_context * ctx = llama_init_from_model(model, cp);
        if (!ctx) die("cannot create context");
        std::vector<llama_token> tokens;
        std::vector<std::vector<std::pair<int, float>>> tops;
        std::vector<llama_token> input = prompt;
        llama_sampler * sampler = nullptr;
        if (grammar_path) {
            sampler = llama_sampler_init_grammar(vocab, grammar.c_str(), "root");
            if (!sampler) die("llama.cpp rejected the grammar");
        }
        std::vector<llama_token_data> candidates(n_vocab);
        std::vector<float> masked(n_vocab);
        std::vector<int> allowed;      // tokens the grammar allows at each step
        std::vector<int> allowed_text; // of those, tokens that are text in UTF-8 (see not_text)
        const char * stop = "max";
        for (int step = 0; step < n_new; step++) {
            llama_batch batch = llama_batch_get_one(input.data(), (int)input.size());
            if (llama_decode(ctx, batch) != 0) die("llama_decode failed");
            const float * logits = llama_get_logits_ith(ctx, -1);
            if (sampler) {
                for (int i = 0; i < n_vocab; i++) candidates[i] = llama_token_data{ i, logits[i], 0.0f };
                llama_token_data_array array = { candidates.data(), candidates.size(), -1, false };
                llama_sampler_apply(sampler, &array);
                // apply() only writes -inf into the logits it rejects; it keeps the order of the array.
                for (size_t i = 0; i < array.size; i++) masked[array.data[i].id] = array.data[i].logit;
                logits = masked.data();
                int count = 0, text = 0;
                for (int i = 0; i < n_vocab; i++) {
                    if (logits[i] == -INFINITY) continue;
                    count++;
                    text += !not_text[i];
                }
                allowed.push_back(count);
                allowed_text.push_back(text);
                // PARDEC_DUMP_ALLOWED=STEP: the ids the grammar allows at that step, on stderr (to find where masks differ).
                if (const char * at = getenv("PARDEC_DUMP_ALLOWED"); at && atoi(at) == step) {
                    for (int i = 0; i < n_vocab; i++) if (logits[i] != -INFINITY) fprintf(stderr, "%d ", i);
                    fprintf(stderr, "\n");
                }
                if (count == 0) { stop = "unsatisfiable"; break; }
            }
            std::vector<int> order(n_vocab);
            for (int i = 0; i < n_vocab; i++) order[i] = i;
            std::partial_sort(order.begin(), order.begin() + top_k, order.end(), [&](int a, int b) {
                return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
            });
            std::vector<std::pair<int, float>> top;
            for (int i = 0; i < top_k; i++) top.emplace_back(order[i], logits[order[i]]);
            tops.push_back(top);
            llama_token next = order[0];
            tokens.push_back(next);
            input.assign(1, next);
            if (sampler) {
                llama_sampler_accept(sampler, next);
                if (llama_vocab_is_eog(vocab, next)) { stop = "eog"; break; }
            }
        }
        if (sampler) llama_sampler_free(sampler);
        printf("{\"tokens\":[");
        for (size_t i = 0; i < tokens.size(); i++) printf(i ? ",%d" : "%d", tokens[i]);
        if (grammar_path) {
            printf("],\"stop\":\"%s\",\"allowed\":[", stop);
            for (size_t i = 0; i < allowed.size(); i++) printf(i ? ",%d" : "%d", allowed[i]);
            printf("],\"allowed_text\":[");
            for (size_t i = 0; i < allowed_text.size(); i++) printf(i ? ",%d" : "%d", allowed_text[i]);
        }
        printf("],\"top\":[");
        for (size_t s = 0; s < tops.size(); s++) {
            printf(s ? ",[" : "[");
            for (size_t i = 0; i < tops[s].size(); i++) {
                // A logit the grammar masked is -inf, which JSON has no number for: null.
                if (std::isinf(tops[s][i].second)) printf(i ? ",[%d,null]" : "[%d,null]", tops[s][i].first);
                else printf(i ? ",[%d,%.9g]" : "[%d,%.9g]", tops[s][i].first, tops[s][i].second);
            }
            printf("]");
        }
        printf("]}\n");
        fflush(stdout);
        llama_free(ctx);
    }
    llama_model_free(model);
    return 0;
}

int main(int argc, char ** argv) {
    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
    int rc;
    if (argc >= 4 && strcmp(argv[1], "tokenize") == 0) {
        rc = tokenize(argv[2], argv[3]);
    } else if (argc >= 5 && strcmp(argv[1], "generate") == 0) {
        rc = generate(argv[2], argv[3], atoi(argv[4]), argc >= 6 ? atoi(argv[5]) : 5, nullptr);
    } else if (argc >= 6 && strcmp(argv[1], "grammar") == 0) {
        rc = generate(argv[2], argv[3], atoi(argv[4]), 5, argv[5]);
    } else {
        fprintf(stderr, "usage: greedy_dump tokenize MODEL.gguf PROMPTS | generate MODEL.gguf IDS N [TOPK] | grammar MODEL.gguf IDS N GBNF\n");
        rc = 2;
    }
    llama_backend_free();
    return rc;
}
