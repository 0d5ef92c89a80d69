#!/usr/bin/env bash
# Real-footage column of the transfer ablation (BENCHMARKS.md): evaluate each run's last checkpoint on the vtest
# dataset (OpenCV's vtest.avi, vidreid/data/datasets/vtest.py), cross_pass and main splits, gao rules, with the
# run's own test sampling (rrs, 8 frames). Usage: scripts/transfer_realfoot_eval.sh RUN_DIR...  ("none" = ImageNet)
set -eu
for run in "$@"; do
    if [ "$run" = none ]; then ckpt=none; cfg="--config configs/demo.yaml"; out=runs/abl/imagenet; mkdir -p $out
    else ckpt=$run/checkpoints/last.safetensors; cfg=""; out=$run; fi
    for split in cross_pass main; do
        # shellcheck disable=SC2086
        PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" nice .venv/bin/python -m vidreid eval $cfg --checkpoint $ckpt \
            data.dataset=vtest data.root=runs/vtest "data.options={split: $split}" data.protocol=gao \
            --no-plots --no-progress --no-cache --overwrite --json $out/vtest_$split.json | tail -n 1
    done
done
