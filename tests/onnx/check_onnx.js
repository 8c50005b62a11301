// Runs an exported student in ONNX Runtime on IDX images (Fashion-MNIST's test set) or a CIFAR-10
// binary file, and compares it with the workbench's own predictions on the same images
// (`dfq eval --predictions`).
//
//   node check_onnx.js MODEL.onnx IMAGES PREDICTIONS.csv
//        [--optimization disabled|basic|all] [--min-agreement A] [--tie T]
//        [--max-logit-difference D] [--max-mean-logit-difference M]
//
// The images are normalized the way the model's metadata says (dfq.mean, dfq.std, read from the
// file's metadata_props here, not passed in), so the check also covers what a user would do.
// --optimization: ONNX Runtime's graph optimization level. `disabled` runs the file exactly as
// written; `basic` keeps the QuantizeLinear / DequantizeLinear pairs in float arithmetic but
// quantizes a convolution's float bias to int32; `all` (its default) fuses the pairs into integer
// kernels (QLinearConv), which round differently.
// Prints the agreement of the predicted classes and the mean and largest logit differences;
// exits 1 when the agreement is below A (default 0.999), the largest difference above D or the
// mean difference above M (defaults: not checked). With --tie T, a different prediction still
// agrees where ONNX Runtime's logit for the workbench's class is within T of its largest: a near
// tie, which the order in which each runtime sums decides (untrained test models have many).
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

function fail(message) {
    console.error('check_onnx: ' + message);
    process.exit(1);
}

// uint8 pixels N x C x H x W: an IDX image file (gzipped or not), or CIFAR-10 binary records
// (a label byte, then 3 x 32 x 32 pixels).
function readImages(path) {
    let bytes = fs.readFileSync(path);
    if (path.endsWith('.gz')) bytes = zlib.gunzipSync(bytes);
    if (path.endsWith('.bin')) {
        const record = 1 + 3 * 32 * 32, n = bytes.length / record;
        if (!Number.isInteger(n)) fail(path + ' is not a CIFAR-10 binary file');
        const pixels = Buffer.alloc(n * (record - 1));
        for (let i = 0; i < n; ++i)
            bytes.copy(pixels, i * (record - 1), i * record + 1, (i + 1) * record);
        return { n, channels: 3, rows: 32, cols: 32, pixels };
    }
    if (bytes.readUInt32BE(0) !== 0x803) fail(path + ' is not an IDX image file');
    const n = bytes.readUInt32BE(4), rows = bytes.readUInt32BE(8), cols = bytes.readUInt32BE(12);
    return { n, channels: 1, rows, cols, pixels: bytes.subarray(16) };
}

// metadata_props of an ONNX file, read from the protobuf directly (ONNX Runtime for Node does not
// expose them): ModelProto field 14, each a StringStringEntryProto {1: key, 2: value}.
function metadataProps(buffer) {
    const props = {};
    let pos = 0;
    const varint = () => {
        let v = 0, shift = 0, b;
        do {
            b = buffer[pos++];
            v += (b & 0x7f) * Math.pow(2, shift);
            shift += 7;
        } while (b & 0x80);
        return v;
    };
    while (pos < buffer.length) {
        const tag = varint(), field = Math.floor(tag / 8), wire = tag & 7;
        if (wire === 0) { varint(); continue; }
        if (wire === 1) { pos += 8; continue; }
        if (wire === 5) { pos += 4; continue; }
        if (wire !== 2) fail('unexpected protobuf wire type ' + wire);
        const len = varint(), end = pos + len;
        if (field === 14) {
            let key = '', value = '';
            const outer = pos;
            while (pos < end) {
                const t = varint(), l = varint();
                const s = buffer.toString('utf8', pos, pos + l);
                if (t >> 3 === 1) key = s; else value = s;
                pos += l;
            }
            pos = outer + len;
            props[key] = value;
        } else {
            pos = end;
        }
    }
    return props;
}

async function main() {
    const args = process.argv.slice(2);
    const option = (name, fallback) => {
        const i = args.indexOf(name);
        if (i < 0) return fallback;
        const value = args[i + 1];
        args.splice(i, 2);
        return value;
    };
    const optimization = option('--optimization', 'all');
    const minAgreement = Number(option('--min-agreement', '0.999'));
    const tie = Number(option('--tie', '0'));
    const maxLogitDifference = Number(option('--max-logit-difference', 'Infinity'));
    const maxMeanLogitDifference = Number(option('--max-mean-logit-difference', 'Infinity'));
    const [modelPath, imagesPath, predictionsPath] = args;
    if (!predictionsPath) fail('usage: node check_onnx.js MODEL.onnx IMAGES PREDICTIONS.csv [options]');
    const props = metadataProps(fs.readFileSync(modelPath));
    const mean = JSON.parse(props['dfq.mean'] || '[0]');
    const std = JSON.parse(props['dfq.std'] || '[1]');
    const shape = JSON.parse(props['dfq.input_shape'] || 'null');
    const images = readImages(imagesPath);
    if (!shape || shape[0] !== images.channels || shape[1] !== images.rows ||
        shape[2] !== images.cols)
        fail('the model takes ' + JSON.stringify(shape) + ', the images are ' + images.channels +
             'x' + images.rows + 'x' + images.cols);
    const rows = fs.readFileSync(predictionsPath, 'utf8').trim().split('\n').slice(1)
        .map((line) => line.split(',').map(Number));
    const n = Math.min(images.n, rows.length);
    const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: optimization });
    const plane = images.rows * images.cols, pixels = images.channels * plane;
    const batch = 500;
    let agree = 0, ties = 0, correct = 0, maxDiff = 0, sumDiff = 0;
    for (let start = 0; start < n; start += batch) {
        const count = Math.min(batch, n - start);
        const x = new Float32Array(count * pixels);
        // In float32 operations, step by step, as the workbench normalizes.
        const f = Math.fround;
        for (let i = 0; i < count * pixels; ++i) {
            const c = Math.floor(i / plane) % images.channels;
            const m = f(mean[mean.length > 1 ? c : 0]), s = f(std[std.length > 1 ? c : 0]);
            x[i] = f(f(f(images.pixels[start * pixels + i] / 255) - m) / s);
        }
        const dims = [count, images.channels, images.rows, images.cols];
        const out = await session.run({ input: new ort.Tensor('float32', x, dims) });
        const logits = out.logits.data, classes = out.logits.dims[1];
        for (let i = 0; i < count; ++i) {
            const row = rows[start + i];
            let best = 0;
            for (let k = 0; k < classes; ++k) {
                const v = logits[i * classes + k];
                if (v > logits[i * classes + best]) best = k;
                const d = Math.abs(v - row[3 + k]);
                maxDiff = Math.max(maxDiff, d);
                sumDiff += d / classes;
            }
            if (best === row[2]) ++agree;
            else if (logits[i * classes + best] - logits[i * classes + row[2]] <= tie) ++ties;
            if (best === row[1]) ++correct;
        }
    }
    const agreement = (agree + ties) / n, meanDiff = sumDiff / n;
    console.log('onnxruntime ' + require('onnxruntime-node/package.json').version + ' (' +
                optimization + ' optimization): ' + n + ' images, predictions equal on ' + agree +
                (tie > 0 ? ' and tied within ' + tie + ' on ' + ties : '') +
                ' (' + (100 * agreement).toFixed(2) + ' %), top-1 ' + (100 * correct / n).toFixed(2) +
                ' %, logit difference mean ' + meanDiff.toExponential(2) + ', largest ' +
                maxDiff.toExponential(2));
    if (agreement < minAgreement) fail('agreement ' + agreement + ' is below ' + minAgreement);
    if (maxDiff > maxLogitDifference)
        fail('a logit differs by ' + maxDiff + ', more than ' + maxLogitDifference);
    if (meanDiff > maxMeanLogitDifference)
        fail('the logits differ by ' + meanDiff + ' on average, more than ' +
             maxMeanLogitDifference);
}

main().catch((e) => fail(String(e && e.stack || e)));
