#!/usr/bin/env bash
# Speed benchmark at the paper's sizes (15 references x 1000 keypoints, 512 px query); extra options pass through.
exec s2dhm benchmark speed --references 15 --keypoints 1000 --num-references 1 5 15 --out "${OUT:-speed-benchmark}" "$@"
