// Hugging Face's own tokenizers (the Rust library, npm `tokenizers`, its Node binding) behind a line protocol, for the
// `transformers.AutoTokenizer` shim beside this file (llama.cpp's converter needs encode/decode/get_vocab of BPE
// tokenizer.json vocabularies; PyPI, hence Python's `tokenizers`, is out of reach here).
//
//   node hf_tokenizer_server.js TOKENIZER.json        (NODE_PATH must reach the `tokenizers` package)
//
// Reads one JSON request per line on stdin, writes one JSON answer per line on stdout:
//   {"op":"info"}                                  -> {"vocab":{token:id, with added tokens},"base_size":n}
//   {"op":"encode","text":s,"special":bool}        -> {"ids":[...]}   (special = add_special_tokens)
//   {"op":"decode","ids":[...],"skip":bool}        -> {"text":s}      (skip = skip_special_tokens)
const { Tokenizer } = require('tokenizers');
const readline = require('readline');

const tokenizer = Tokenizer.fromFile(process.argv[2]);
const rl = readline.createInterface({ input: process.stdin, terminal: false });
const queue = [];
let busy = false;

async function handle(line) {
  const req = JSON.parse(line);
  if (req.op === 'info') {
    return { vocab: tokenizer.getVocab(true), base_size: tokenizer.getVocabSize(false) };
  } else if (req.op === 'encode') {
    const enc = await tokenizer.encode(req.text, null, { addSpecialTokens: !!req.special });
    return { ids: Array.from(enc.getIds()) };
  } else if (req.op === 'decode') {
    return { text: await tokenizer.decode(req.ids, !!req.skip) };
  }
  throw new Error('unknown op ' + req.op);
}

async function drain() {
  if (busy) return;
  busy = true;
  while (queue.length) {
    const line = queue.shift();
    let answer;
    try { answer = await handle(line); } catch (e) { answer = { error: String(e) }; }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
  busy = false;
}

rl.on('line', line => { if (line.trim()) { queue.push(line); drain(); } });
