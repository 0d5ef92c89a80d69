#!/usr/bin/env bash
# The transfer ablation of BENCHMARKS.md ("What makes SynthPed training transfer"): the demo recipe
# (configs/demo.yaml: TP, ImageNet MobileNetV2, 60 Adam steps at 128x64) plus one change at a time.
# Usage: scripts/transfer_ablation.sh VARIANT...   (variants below; each trains into runs/abl/VARIANT and
# prints SynthPed mars mAP / R1 from its metrics.json). Variants that change the render get their own SynthPed root.
set -eu
PHOTO="data.photo_brightness=0.3 data.photo_white_balance=0.2 data.photo_gamma=0.4 data.photo_contrast=0.3
data.photo_saturation=0.3 data.photo_hue=0.05 data.photo_blur=1.0 data.photo_jpeg_min=40 data.photo_prob=0.8"
CAMSTYLE="data.synth.camera_gamma=0.5 data.synth.camera_lowres=0.5 data.synth.colour_cast=0.3"
SP=runs/abl/sp
for v in "$@"; do
    case "$v" in
        base)      args="data.root=$SP-base" ;;
        photo)     args="data.root=$SP-base $PHOTO" ;;
        freeze2)   args="data.root=$SP-base model.freeze_stages=2" ;;
        freeze3)   args="data.root=$SP-base model.freeze_stages=3" ;;
        freeze2-photo) args="data.root=$SP-base model.freeze_stages=2 $PHOTO" ;;
        camstyle)  args="data.root=$SP-camstyle $CAMSTYLE" ;;
        photobg)   args="data.root=$SP-photobg data.synth.photo_backgrounds=1.0" ;;
        freeze2-photobg) args="data.root=$SP-photobg data.synth.photo_backgrounds=1.0 model.freeze_stages=2" ;;
        longer)    args="data.root=$SP-base train.epochs=12" ;;
        *) echo "unknown variant $v" >&2; exit 2 ;;
    esac
    # shellcheck disable=SC2086
    PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" nice .venv/bin/python -m vidreid train --config configs/demo.yaml --no-progress train.output_dir=runs/abl/$v $args
    .venv/bin/python -c "import json,sys; m=json.load(open(sys.argv[1])); print(sys.argv[2], m)" \
        runs/abl/$v/metrics.json "$v"
done
