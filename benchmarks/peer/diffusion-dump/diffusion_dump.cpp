// diffusion_dump: llama.cpp's own diffusion sampler (examples/diffusion/diffusion.cpp, diffusion_generate, unmodified,
// linked from its llama-diffusion static library) run on token ids and dumped as JSON lines, for the diffusion
// cross-check (benchmarks/peer/make-diffusion-fixtures.py; tests/fixtures/peer-diffusion). llama-diffusion-cli itself
// takes text and prints text; this is the same call with the same parameters, on ids, printing ids and the canvas after
// every step (through diffusion_generate's step callback).
//
//   diffusion_dump MODEL.gguf IDS GEN BLOCK STEPS     IDS: one prompt per line, ids separated by spaces. For each prompt:
//                                                     max_length = prompt + GEN, block schedule (BLOCK), STEPS steps in
//                                                     all, confidence-based unmasking (algorithm 4), greedy sampling as
//                                                     llama-diffusion-cli gets it from `--top-k 1 --temp 0` (top_k 1,
//                                                     top_p 1, temperature 0, seed 0), shift_logits from the GGUF's
//                                                     diffusion.shift_logits (true when absent), exactly as the CLI does.
//                                                     Prints {"tokens":[GEN ids],"steps":[[GEN ids] per step]} per prompt;
//                                                     steps[i] is the generated part of the canvas after step i + 1.
//                                                     The schedule needs (prompt + GEN) % BLOCK == 0 and STEPS a multiple
//                                                     of (prompt + GEN) / BLOCK (its block count, empty blocks included).
//
// One thread, no flash attention, a fresh context per prompt (n_ctx = n_batch = n_ubatch = max_length, as the CLI's
// -ub sets max_length).
#include "llama.h"
#include "diffusion.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static void quiet_log(ggml_log_level level, const char * text, void *) {
    if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static void die(const char * what) {
    fprintf(stderr, "diffusion_dump: %s\n", what);
    exit(1);
}

struct trace {
    int32_t n_input;
    std::vector<llama_token> last;
    std::vector<std::vector<llama_token>> steps;

    void add(const llama_token * from, const llama_token * to) {
        std::vector<llama_token> now(from, to);
        if (now != last) steps.push_back(now);
        last = now;
    }
};

// Called before every step with the canvas as it is. The blocks past the canvas (the schedule counts
// max_length / block_length blocks from the prompt's end) commit nothing, so only canvases that changed are kept; the
// canvas after the last step is diffusion_generate's output.
static bool record(int32_t step, int32_t, const llama_token * tokens, int32_t n_tokens, void * user_data) {
    auto * t = static_cast<trace *>(user_data);
    if (step == 0) t->last.assign(tokens + t->n_input, tokens + n_tokens);
    else t->add(tokens + t->n_input, tokens + n_tokens);
    return true;
}

int main(int argc, char ** argv) {
    if (argc != 6) die("usage: diffusion_dump MODEL.gguf IDS GEN BLOCK STEPS");
    const int gen = atoi(argv[3]), block = atoi(argv[4]), steps = atoi(argv[5]);
    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) die("cannot load model");
    if (!llama_model_is_diffusion(model)) die("not a diffusion model");
    const llama_vocab * vocab = llama_model_get_vocab(model);

    bool shift = true; // llama-diffusion-cli's default when the key is absent
    char value[8];
    if (llama_model_meta_val_str(model, "diffusion.shift_logits", value, sizeof(value)) >= 0) shift = strcmp(value, "true") == 0;

    std::ifstream in(argv[2]);
    if (!in) die("cannot read ids");
    std::string line;
    while (std::getline(in, line)) {
        std::vector<llama_token> ids;
        std::istringstream ls(line);
        for (long id; ls >> id;) ids.push_back((llama_token) id);
        if (ids.empty()) continue;
        const int max_length = (int) ids.size() + gen;

        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = cp.n_batch = cp.n_ubatch = max_length;
        cp.n_threads = cp.n_threads_batch = 1;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
        cp.type_k = cp.type_v = GGML_TYPE_F32;
        llama_context * ctx = llama_init_from_model(model, cp);
        if (!ctx) die("cannot create context");

        // The parameters llama-diffusion-cli sets (diffusion-cli.cpp) for
        //   -ub max_length --diffusion-block-length BLOCK --diffusion-steps STEPS --diffusion-algorithm 4 --top-k 1 --temp 0 --seed 0
        diffusion_params dp;
        dp.mask_token_id = llama_vocab_mask(vocab);
        if (dp.mask_token_id == LLAMA_TOKEN_NULL) die("the GGUF has no mask token");
        dp.shift_logits = shift;
        dp.schedule = DIFFUSION_TRANSFER_SCHEDULE_BLOCK_BASED;
        dp.block_length = block;
        dp.steps = steps;
        dp.algorithm = DIFFUSION_ALGORITHM_CONFIDENCE_BASED;
        dp.max_length = max_length;
        dp.seed = 0;
        dp.temperature = 0.0f;
        dp.top_k = 1;
        dp.top_p = 1.0f;
        trace t{ (int32_t) ids.size(), {}, {} };
        dp.step_callback = record;
        dp.step_callback_user_data = &t;

        std::vector<llama_token> out(max_length);
        int32_t n_generated = 0;
        diffusion_generate(ctx, ids.data(), out.data(), (int32_t) ids.size(), dp, n_generated);
        if (n_generated != max_length) die("diffusion_generate failed");
        t.add(out.data() + ids.size(), out.data() + max_length);

        auto print_ids = [](const llama_token * p, size_t n) {
            printf("[");
            for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", p[i]);
            printf("]");
        };
        printf("{\"tokens\":");
        print_ids(out.data() + ids.size(), gen);
        printf(",\"steps\":[");
        for (size_t s = 0; s < t.steps.size(); s++) {
            if (s) printf(",");
            print_ids(t.steps[s].data(), t.steps[s].size());
        }
        printf("]}\n");
        fflush(stdout);
        llama_free(ctx);
    }
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
