#!/bin/bash
# `dfq export` as a user runs it: a finished tiny run of the demo teacher exported to ONNX and to
# an encodings file, checked by ONNX's own checker (python3-onnx) and run in ONNX Runtime
# (setup_runtime.sh) on Fashion-MNIST's 10,000 test images against the workbench's own
# predictions (`dfq eval --predictions` on the run's quantized_model.pt).
# Usage: export.sh DFQ SCENARIO WORKDIR RUNTIME_DIR
# Scenarios:
#   w4a4      4-bit weights per channel and activations, first and last layers quantized
#   w3a3      3-bit weights per tensor and activations, first and last layers at 8 bits, AIT
#   cifar-resnet  W4A4 runs of the CIFAR-style ResNet fixtures (option-A shortcuts with slicing
#             and padding, scripted; option-B 1x1 convolutions, traced with a computed view) on
#             the Fashion-MNIST test images padded to 3 x 32 x 32 (written as CIFAR-10 binary)
#   bad-input an unfinished run, a damaged student, an unwritable destination
set -u
DFQ=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SCENARIO=$2
WORK=$3
RUNTIME=$(cd "$4" 2> /dev/null && pwd || echo "$4")
IMAGES=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
FIXTURES=$(cd "$(dirname "$0")/../fixtures/models" && pwd)
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 1

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A finished tiny run of the demo teacher, with these --set arguments; its folder in $run.
tiny_run() {
    "$DFQ" run demo --out runs --set schedule.epochs=2 --set schedule.iterations=4 \
        --set schedule.warmup_epochs=1 --set schedule.calibration_epochs=1 \
        --set generator.batch_size=16 --set generator.channels=16 --set data.limit=300 \
        --set output.layers_every=0 "$@" > run.log 2>&1 || fail "run: $(tail -n 20 run.log)"
    run=$(ls -d runs/*/ | head -n 1)
    run=${run%/}
}

# The file as ONNX's checker and a reader of its metadata see it: FILE, Clips per quantized
# activation (1 below 8 bits), the weight bits per layer (JSON), 1 for per-channel weights.
check_onnx_file() {
    /usr/bin/python3 - "$1" "$2" "$3" "$4" << 'PY' || fail "python3-onnx refused $1"
import json, sys, onnx
model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
props = {p.key: p.value for p in model.metadata_props}
assert json.loads(props["dfq.input_shape"]) == [1, 28, 28], props
assert len(json.loads(props["dfq.class_names"])) == 10
bits = json.loads(props["dfq.weight_bits"])
want = json.loads(sys.argv[3])
assert bits == want, (bits, want)
ops = [n.op_type for n in model.graph.node]
quantized = ops.count("QuantizeLinear")
assert quantized == 7 and ops.count("Clip") == int(sys.argv[2]) * 7, ops
inits = {i.name: i for i in model.graph.initializer}
int8 = [n for n, i in inits.items() if i.data_type == onnx.TensorProto.INT8 and len(i.dims) > 1]
assert len(int8) == len(want), int8
enc = json.load(open(sys.argv[1].replace(".onnx", ".encodings.json")))
assert set(enc["param_encodings"]) == set(int8), (sorted(enc["param_encodings"]), int8)
assert len(enc["activation_encodings"]) == 7
for name, channels in enc["param_encodings"].items():
    assert channels[0]["bitwidth"] in (3, 4, 8), channels[0]
# Per channel: a scale per output channel on axis 0; per tensor: one scale.
per_channel = sys.argv[4] == "1"
for n in model.graph.node:
    if n.op_type == "DequantizeLinear" and n.input[0] in int8:
        scale = inits[n.input[1]]
        axis = [a.i for a in n.attribute if a.name == "axis"]
        if per_channel:
            assert len(scale.dims) == 1 and axis == [0], (n.name, scale.dims, axis)
        else:
            assert len(scale.dims) == 0 and axis == [], (n.name, scale.dims, axis)
print("onnx checker: %d nodes, %d quantized weights, %d quantized activations" %
      (len(ops), len(int8), quantized))
PY
}

# The workbench's predictions on the images (dfq eval of the run's quantized_model.pt) against
# ONNX Runtime's: MODEL.onnx MODEL.pt [DATA IMAGES MIN_AGREEMENT_OF_INTEGER_KERNELS].
compare() {
    local onnx=$1 model=$2 data=${3:-fashion-mnist} images=${4:-$IMAGES} min_all=${5:-0.995}
    "$DFQ" eval "$model" --data "$data" --predictions predictions.csv > eval.log 2>&1 ||
        fail "eval: $(tail eval.log)"
    # The file's meaning (QuantizeLinear/DequantizeLinear in float): the same predictions, up to
    # near ties, and the same logits on average. The two runtimes sum their convolutions in
    # different orders, so now and then an activation near a rounding threshold lands one step
    # apart, which moves that image's logits by up to about one step of the last layers' grids.
    node "$RUNTIME/check_onnx.js" "$onnx" "$images" predictions.csv --optimization basic \
        --min-agreement 0.999 --tie 0.01 --max-mean-logit-difference 0.01 \
        --max-logit-difference 1 || fail "ONNX Runtime disagrees"
    # ONNX Runtime's default fuses the pairs into integer kernels, which round differently.
    node "$RUNTIME/check_onnx.js" "$onnx" "$images" predictions.csv --optimization all \
        --min-agreement "$min_all" || fail "ONNX Runtime's integer kernels disagree"
}

need_runtime() {
    [ -d "$RUNTIME/node_modules/onnxruntime-node" ] ||
        { echo "SKIP: no ONNX Runtime in $RUNTIME (the onnx.runtime test installs it)"; exit 77; }
    /usr/bin/python3 -c "import onnx" 2> /dev/null ||
        { echo "SKIP: python3-onnx is not installed"; exit 77; }
}

case "$SCENARIO" in
w4a4)
    need_runtime
    tiny_run
    "$DFQ" export "$run" > export.log 2>&1 || fail "export: $(cat export.log)"
    "$DFQ" export "$run" --format encodings >> export.log 2>&1 || fail "encodings: $(cat export.log)"
    check_onnx_file "$run/quantized_model.onnx" 1 \
        '{"conv1":4,"fc":4,"layer1.conv1":4,"layer1.conv2":4,"layer2.conv1":4,"layer2.conv2":4,"layer2.downsample.conv":4,"layer3.conv1":4,"layer3.conv2":4,"layer3.downsample.conv":4}' 1
    compare "$run/quantized_model.onnx" "$run/quantized_model.pt"
    # BatchNorm folded: per-channel grids are rescaled with the same codes, so the file means
    # the same model. (ONNX Runtime's optimizations then quantize the folded bias to int32 at
    # the input's step times the weight's, which moves some predictions: reported, not held.)
    "$DFQ" export "$run" --fold-bn --out folded.onnx > fold.log 2>&1 || fail "fold: $(cat fold.log)"
    [ "$(grep -c 'per-channel grid rescaled, the codes kept' fold.log)" -eq 9 ] ||
        fail "fold notes: $(cat fold.log)"
    /usr/bin/python3 -c "
import onnx, sys
m = onnx.load('folded.onnx')
onnx.checker.check_model(m, full_check=True)
ops = [n.op_type for n in m.graph.node]
assert 'BatchNormalization' not in ops and ops.count('Conv') == 9, ops
assert {p.key: p.value for p in m.metadata_props}['dfq.batchnorm'] == 'folded'
" || fail "the folded file"
    node "$RUNTIME/check_onnx.js" folded.onnx "$IMAGES" predictions.csv --optimization disabled \
        --min-agreement 0.999 --tie 0.01 --max-mean-logit-difference 0.01 \
        --max-logit-difference 1 || fail "the folded file differs"
    node "$RUNTIME/check_onnx.js" folded.onnx "$IMAGES" predictions.csv --optimization basic \
        --min-agreement 0 || fail "ONNX Runtime cannot run the folded file"
    ;;
w3a3)
    need_runtime
    tiny_run --set quant.weight_bits=3 --set quant.activation_bits=3 \
        --set quant.per_channel=false --set quant.first_last=8bit --set method.student=ait
    "$DFQ" export "$run" --out w3a3.onnx --opset 17 > export.log 2>&1 || fail "export: $(cat export.log)"
    "$DFQ" export "$run" --format encodings --out w3a3.encodings.json >> export.log 2>&1 ||
        fail "encodings: $(cat export.log)"
    check_onnx_file w3a3.onnx 1 \
        '{"conv1":8,"fc":8,"layer1.conv1":3,"layer1.conv2":3,"layer2.conv1":3,"layer2.conv2":3,"layer2.downsample.conv":3,"layer3.conv1":3,"layer3.conv2":3,"layer3.downsample.conv":3}' 0
    compare w3a3.onnx "$run/quantized_model.pt"
    # Per-tensor grids cannot follow BatchNorm's per-channel factors: recomputed, and said so.
    "$DFQ" export "$run" --fold-bn --out folded.onnx > fold.log 2>&1 || fail "fold: $(cat fold.log)"
    [ "$(grep -c 'per-tensor grid recomputed on the folded weight' fold.log)" -eq 9 ] ||
        fail "fold notes: $(cat fold.log)"
    node "$RUNTIME/check_onnx.js" folded.onnx "$IMAGES" predictions.csv --optimization disabled \
        --min-agreement 0 || fail "ONNX Runtime cannot run the folded file"
    ;;
cifar-resnet)
    need_runtime
    # Real images at the fixtures' input size: the Fashion-MNIST test set, padded by 2 pixels and
    # repeated over 3 channels (no resampling), as CIFAR-10 binary records.
    mkdir -p fmnist32
    /usr/bin/python3 - "$IMAGES" fmnist32/test_batch.bin << 'PY' || fail "could not write the data"
import gzip, sys
images = gzip.open(sys.argv[1]).read()[16:]
labels = gzip.open(sys.argv[1].replace("images-idx3", "labels-idx1")).read()[8:]
out = bytearray()
for i in range(len(labels)):
    img = images[i * 784:(i + 1) * 784]
    plane = bytearray(1024)
    for r in range(28):
        plane[(r + 2) * 32 + 2:(r + 2) * 32 + 30] = img[r * 28:(r + 1) * 28]
    out += bytes([labels[i]]) + plane * 3
open(sys.argv[2], "wb").write(out)
PY
    for fixture in cifar_resnet_a.scripted cifar_resnet20_b.traced; do
        rm -rf runs
        tiny_run --set model.path="$FIXTURES/$fixture.pt" --set model.input_shape=[3,32,32] \
            --set model.mean=[0.2,0.2,0.2] --set model.std=[0.35,0.35,0.35] \
            --set model.num_classes=10 --set data.path="$PWD/fmnist32"
        "$DFQ" export "$run" --out "$fixture.onnx" > export.log 2>&1 || fail "export: $(cat export.log)"
        /usr/bin/python3 -c "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)" \
            "$fixture.onnx" || fail "python3-onnx refused $fixture.onnx"
        echo "$fixture:"
        # The fixtures' weights are random, so their logits are near ties that integer kernels
        # flip: only the file's own meaning is held to the 99.9 %.
        compare "$fixture.onnx" "$run/quantized_model.pt" fmnist32 fmnist32/test_batch.bin 0
    done
    ;;
bad-input)
    tiny_run
    # A run that has not finished: refused, nothing written.
    cp -r "$run" unfinished
    sed -i 's/"status":"finished"/"status":"cancelled"/' unfinished/summary.json
    if "$DFQ" export unfinished > e1.log 2>&1; then fail "an unfinished run was exported"; fi
    grep -q "has not finished" e1.log || fail "unfinished: $(cat e1.log)"
    [ ! -e unfinished/quantized_model.onnx ] || fail "a file was left for an unfinished run"
    # A damaged student: its checksum no longer matches.
    cp -r "$run" damaged
    printf 'x' >> damaged/quantized_student.pt
    if "$DFQ" export damaged > e2.log 2>&1; then fail "a damaged student was exported"; fi
    grep -q "quantized_student.pt" e2.log || fail "damaged: $(cat e2.log)"
    # A destination that cannot be written: an error, and no partial file.
    mkdir -p readonly
    chmod 555 readonly
    if [ "$(id -u)" -ne 0 ]; then
        if "$DFQ" export "$run" --out readonly/m.onnx > e3.log 2>&1; then
            fail "an unwritable destination was accepted"
        fi
        [ -z "$(ls -A readonly)" ] || fail "a partial file was left: $(ls -A readonly)"
    fi
    if "$DFQ" export "$run" --out /proc/m.onnx > e4.log 2>&1; then
        fail "/proc was written to"
    fi
    # Not a run folder at all.
    if "$DFQ" export . > e5.log 2>&1; then fail "a folder without a run was exported"; fi
    grep -q "not a run folder" e5.log || fail "not a run folder: $(cat e5.log)"
    echo "bad input: unfinished, damaged, unwritable and not-a-run all refused, nothing left"
    ;;
*)
    fail "unknown scenario $SCENARIO"
    ;;
esac
