// Runs an ONNX model in ONNX Runtime (onnxruntime-node) over a raw
// little-endian float32 file and writes the first output, raw float32.
//
//   node run.js MODEL IN OUT N BATCH D1,D2,... [THREADS]
//
// IN holds N samples of shape D1×D2×…; they go through the model BATCH at
// a time as the model's first input, with shape [batch, D1, D2, …].
// ORTRUN_OPT sets the graph optimization level (disabled, basic, extended,
// all; default all).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inPath, outPath, nArg, batchArg, dimsArg, threadsArg] = process.argv.slice(2);
  if (!dimsArg) {
    throw new Error('usage: node run.js MODEL IN OUT N BATCH D1,D2,... [THREADS]');
  }
  const n = Number(nArg), batch = Number(batchArg);
  const dims = dimsArg.split(',').map(Number);
  const per = dims.reduce((a, b) => a * b, 1);
  const buf = fs.readFileSync(inPath);
  if (buf.length !== 4 * n * per) {
    throw new Error(`${inPath}: ${buf.length} bytes, want ${4 * n * per}`);
  }
  const x = new Float32Array(buf.buffer, buf.byteOffset, n * per);
  const threads = Number(threadsArg || 1);
  const opts = { intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'] };
  if (process.env.ORTRUN_OPT) {
    opts.graphOptimizationLevel = process.env.ORTRUN_OPT;
  }
  const session = await ort.InferenceSession.create(model, opts);
  const parts = [];
  for (let i = 0; i < n; i += batch) {
    const b = Math.min(batch, n - i);
    const t = new ort.Tensor('float32', x.slice(i * per, (i + b) * per), [b, ...dims]);
    const res = await session.run({ [session.inputNames[0]]: t });
    const y = res[session.outputNames[0]];
    if (y.type !== 'float32') {
      throw new Error(`output ${session.outputNames[0]} has type ${y.type}, want float32`);
    }
    parts.push(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  }
  const tmp = outPath + '.tmp';
  fs.writeFileSync(tmp, Buffer.concat(parts));
  fs.renameSync(tmp, outPath);
}

main().catch((e) => {
  process.stderr.write(`ortrun: ${e.message}\n`);
  process.exit(1);
});
