#!/bin/bash
# Generates the small H.264 clips the macroblock analyser is compared with
# ffmpeg on (daemon/h264/mb/ffmpeg_test.go). Usage: gen-clips.sh OUTDIR
# Each clip is short (10-24 frames) and libx264-encoded from a moving test
# pattern, with noise where the residual should be large.
set -euo pipefail
out=${1:?usage: gen-clips.sh OUTDIR}
mkdir -p "$out"
src() { # size frames [noise]
	local f="testsrc2=size=$1:rate=25"
	if [ "${3:-}" = noise ]; then
		echo "-f lavfi -i $f -frames:v $2 -vf noise=alls=24:allf=t+u"
	else
		echo "-f lavfi -i $f -frames:v $2"
	fi
}
enc() { # name size frames noise profile x264-params [extra ffmpeg args...]
	local name=$1 size=$2 frames=$3 noise=$4 profile=$5 params=$6
	shift 6
	ffmpeg -v error -y $(src "$size" "$frames" "$noise") -pix_fmt yuv420p -c:v libx264 \
		-profile:v "$profile" -x264-params "$params" "$@" "$out/$name.h264"
}
enc baseline-360p-gop10      640x360   20 no    baseline keyint=10:min-keyint=10:scenecut=0
enc baseline-360p-slices4    640x360   16 noise baseline keyint=8:slices=4 -b:v 600k
enc baseline-480p-lowrate    848x480   16 noise baseline keyint=50 -b:v 150k
enc main-360p-bf0            640x360   20 noise main     keyint=12:scenecut=0 -bf 0
enc main-720p-bf2-slices2    1280x720  12 no    main     keyint=25:slices=2 -bf 2
enc main-360p-bf3-temporal   640x360   16 noise main     keyint=16:direct=temporal -bf 3
enc high-360p-bf0-crf18      640x360   20 noise high     keyint=10 -bf 0 -crf 18
enc high-360p-cavlc          640x360   16 noise high     keyint=8 -bf 2 -coder 0
enc high-720p-bf3-slices3    1280x720  12 noise high     keyint=30:slices=3 -bf 3
enc high-1080p-bf0           1920x1080 10 no    high     keyint=50:scenecut=0 -bf 0
enc high-1080p-hirate        1920x1080 8  noise high     keyint=4 -bf 1 -b:v 12M
enc high-360p-8x8-lowrate    640x360   20 noise high     keyint=20:8x8dct=1 -bf 0 -b:v 100k
# Every partition size (8x4, 4x8, 4x4 sub-macroblocks), more references,
# weighted bi-prediction, adaptive direct mode, B-pyramid.
enc high-360p-allparts       640x360   16 noise high     keyint=16:partitions=all:ref=4:direct=auto:b-pyramid=normal:weightb=1:weightp=2:subme=9 -bf 3
enc baseline-360p-allparts   640x360   16 noise baseline keyint=16:partitions=all:ref=3:subme=9
# Camera-like P-frame streams for BenchmarkAnalyze (fixed GOP, no B-frames,
# bitrate held): 360p at 1 Mbit/s, 1080p at 4 Mbit/s.
enc bench-360p-main          640x360   50 noise main     keyint=50:min-keyint=50:scenecut=0 -bf 0 -b:v 1M -maxrate 1M -bufsize 2M
enc bench-1080p-high         1920x1080 25 noise high     keyint=50:min-keyint=50:scenecut=0 -bf 0 -b:v 4M -maxrate 4M -bufsize 8M
# Streams the analyser must refuse with a clear error.
enc unsupported-422          320x192   4  no    high422  keyint=4 -pix_fmt yuv422p
enc unsupported-interlaced   320x192   4  no    high     keyint=4:interlaced=1
enc unsupported-10bit        320x192   4  no    high10   keyint=4 -pix_fmt yuv420p10le
# A textured picture panning 4 px right and 2 px down per frame: every
# macroblock's motion vector is (16, 8) quarter pixels.
ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720,noise=alls=40:allf=u" -frames:v 1 "$out/pan-source.png"
for p in "baseline-cavlc baseline -bf 0" "main-cabac main -bf 0" "high-bf2 high -bf 2" \
	"main-temporal main -bf 2 -x264-params keyint=50:scenecut=0:direct=temporal"; do
	set -- $p
	name=$1 profile=$2
	shift 2
	ffmpeg -v error -y -loop 1 -i "$out/pan-source.png" -vf "crop=640:360:x=4*n:y=2*n,format=yuv420p" \
		-frames:v 20 -r 25 -c:v libx264 -profile:v "$profile" -x264-params keyint=50:scenecut=0 "$@" "$out/pan-$name.h264"
done
