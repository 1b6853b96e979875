#!/usr/bin/env bash
# Makes the camera simulator's clips with ffmpeg: camera-like H.264/H.265
# elementary streams (Annex B), 25 fps, fixed GOP of 2 s, no B-frames, no
# scene-cut key frames, bitrate held by rate control. Each clip is 10 s long
# and starts on a key frame, so it loops seamlessly.
#
#   moving-720p.h264   main stream, 1280x720, ~4 Mbit/s, moving test pattern
#   moving-360p.h264   sub stream,  640x360,  ~0.5 Mbit/s
#   static-720p.h264   static scene with sensor noise (night-like), ~4 Mbit/s
#   static-360p.h264
#   moving-720p.hevc   H.265 main stream
#   tone-16k.aac       sound: a 440 Hz tone warbling like a voice, AAC-LC in ADTS, 16 kHz mono
#   tone-8k.alaw       the same as G.711 A-law, 8 kHz mono, raw (camsim -audio N=pcma)
#   tone-8k.ulaw       the same as G.711 μ-law (camsim -audio N=pcmu)
#
# Usage: gen.sh OUTDIR
set -euo pipefail
out=${1:?usage: gen.sh OUTDIR}
mkdir -p "$out"
secs=10
x264="-c:v libx264 -preset veryfast -profile:v main -pix_fmt yuv420p -bf 0 -x264-params scenecut=0:keyint=50:min-keyint=50:repeat-headers=1"
x265="-c:v libx265 -preset ultrafast -pix_fmt yuv420p -x265-params scenecut=0:keyint=50:min-keyint=50:bframes=0:repeat-headers=1:log-level=error"
moving() { echo "testsrc2=size=$1:rate=25"; }
static() { echo "smptebars=size=$1:rate=25,noise=alls=14:allf=t"; }
make_clip() { # name filter size rate codecargs ext
  local name=$1 src=$2 rate=$3 codec=$4 ext=$5
  local f="$out/$name.$ext"
  [ -s "$f" ] && return 0
  ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "$src" -t $secs \
    $codec -b:v "$rate" -maxrate "$rate" -bufsize "$rate" -f "$ext" "$f.tmp"
  mv "$f.tmp" "$f"
}
make_clip moving-720p "$(moving 1280x720)" 4M "$x264" h264
make_clip moving-360p "$(moving 640x360)" 512k "$x264" h264
make_clip static-720p "$(static 1280x720)" 4M "$x264" h264
make_clip static-360p "$(static 640x360)" 512k "$x264" h264
make_clip moving-720p "$(moving 1280x720)" 4M "$x265" hevc
tone="aevalsrc=0.4*sin(2*PI*(440+120*sin(2*PI*3*t))*t):s=16000"
make_audio() { # name samplerate format codecargs
  local f="$out/$1"
  [ -s "$f" ] && return 0
  ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "$tone" -t $secs -ac 1 -ar "$2" $4 -f "$3" "$f.tmp"
  mv "$f.tmp" "$f"
}
make_audio tone-16k.aac 16000 adts "-c:a aac -b:a 32k"
make_audio tone-8k.alaw 8000 alaw ""
make_audio tone-8k.ulaw 8000 mulaw ""
echo "clips in $out:"; ls -l "$out"
